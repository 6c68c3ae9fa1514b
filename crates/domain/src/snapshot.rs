//! What a check for updates compares: the platform's picture of a business as rows of four
//! tables (seats, assets, grants, partners), each row a key and some fields, with a
//! fingerprint per row and a digest per bucket of rows.
//!
//! A row's bucket comes from the hash of its key; a bucket's digest is the wrapping sum of the
//! fingerprints of the live rows in it. Sums do not depend on order, so a check can compute
//! the digests of what it fetched while the pages stream past, in whatever order they come,
//! and compare them with the stored digests of what Castellan holds: equal digests mean equal
//! rows (but for a 2⁻⁶⁴ chance), so only the buckets whose digests differ need a row-by-row
//! diff. A no-change check therefore reads and writes no rows at all.

use std::collections::HashMap;

use crate::platform::{
    AssetRecord, Batch, GrantRecord, Holder, PartnerRecord, PartnerRelation, SeatKind, SeatRecord,
};

/// Buckets per table (2^16, the most a bucket's u16 in a check's spool holds). A changed row
/// makes its whole bucket diffed: with 4,096 buckets the 20,000 rows a business's partners
/// added touched all but 1% of them, and the check read and compared a million grants (3.5 s
/// of its end); with 65,536 it diffs about one in seven. A table's digests stay under 2 MB.
pub const BUCKETS: usize = 1 << BUCKET_BITS;
const BUCKET_BITS: u32 = 16;
/// What stored digests start with: digests of another bucket count (stored before it
/// changed) do not decode, so the next check diffs that table in full, once.
const DIGESTS_FORMAT: &str = "b16;";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Seats,
    Assets,
    Grants,
    Partners,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Seats, Table::Assets, Table::Grants, Table::Partners];

    pub fn as_str(self) -> &'static str {
        match self {
            Table::Seats => "seats",
            Table::Assets => "assets",
            Table::Grants => "grants",
            Table::Partners => "partners",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Option<Table> {
        Self::ALL.get(i).copied()
    }

    /// Names of the key columns, then of the field columns (as the store names them).
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Table::Seats => &["user_id"],
            Table::Assets => &["asset_id"],
            Table::Grants => &["holder", "asset_id"],
            Table::Partners => &["partner_id"],
        }
    }

    pub fn field_columns(self) -> &'static [&'static str] {
        match self {
            Table::Seats => &["username", "email", "display_name", "roles", "kind"],
            Table::Assets => &["kind", "name", "owner_id"],
            Table::Grants => &["permissions"],
            Table::Partners => &["name", "relation"],
        }
    }
}

/// One row as the platform describes it (Castellan's own columns, such as a seat's match
/// state, are not part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub table: Table,
    pub key: Vec<String>,
    pub fields: Vec<Option<String>>,
}

/// Seat fields, by position in [`Row::fields`].
pub mod seat {
    pub const USERNAME: usize = 0;
    pub const EMAIL: usize = 1;
    pub const DISPLAY_NAME: usize = 2;
    pub const ROLES: usize = 3;
    pub const KIND: usize = 4;
}

/// The values as a sorted JSON array without duplicates, so that their order on the platform
/// does not count as a change. Lists already sorted (nearly all: most hold one value) are
/// written as they are, without a sorted copy: a million grants each made one.
fn sorted_json(v: &[String]) -> String {
    if v.windows(2).all(|w| w[0] < w[1]) {
        return json_array(v);
    }
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    json_array(&v)
}

/// `v` as a JSON array, in a string of its own size: `serde_json::to_string` starts at 128
/// bytes, and each of a first check's rows waiting to be written kept ~110 of them unused
/// (20 MB of a 500,000-member check's peak went to them).
fn json_array(v: &[String]) -> String {
    // Quotes and a comma each; escapes, rare in ids and role names, grow it once.
    let size = 2 + v.iter().map(|s| s.len() + 3).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    serde_json::to_writer(&mut out, v).expect("strings serialise");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// How a grant's holder is keyed: `member:{user id}` or `partner:{business id}`.
pub fn holder_key(h: &Holder) -> String {
    match h {
        Holder::Member(u) => format!("member:{u}"),
        Holder::Partner(p) => format!("partner:{p}"),
    }
}

pub fn seat_kind_str(k: &SeatKind) -> &'static str {
    k.as_str()
}

pub fn relation_str(r: PartnerRelation) -> &'static str {
    match r {
        PartnerRelation::UsesOurAssets => "uses_our_assets",
        PartnerRelation::SharesWithUs => "shares_with_us",
        PartnerRelation::Both => "both",
    }
}

impl Row {
    pub fn seat(s: &SeatRecord) -> Row {
        Row::owned_seat(s.clone())
    }

    pub fn asset(a: &AssetRecord) -> Row {
        Row::owned_asset(a.clone())
    }

    pub fn grant(g: &GrantRecord) -> Row {
        Row::owned_grant(g.clone())
    }

    pub fn partner(p: &PartnerRecord) -> Row {
        Row::owned_partner(p.clone())
    }

    /// The rows of one fetched batch, which they take their strings from (a first check of
    /// 100,000 members makes a million rows: copying each string was a tenth of its work
    /// besides writing).
    pub fn from_batch(b: Batch) -> Vec<Row> {
        match b {
            Batch::Seats(v) => v.into_iter().map(Row::owned_seat).collect(),
            Batch::Assets(v) => v.into_iter().map(Row::owned_asset).collect(),
            Batch::Grants(v) => v.into_iter().map(Row::owned_grant).collect(),
            Batch::Partners(v) => v.into_iter().map(Row::owned_partner).collect(),
            // Kept lists carry no rows: the store reads them from what it holds.
            Batch::Kept(_) => Vec::new(),
        }
    }

    fn owned_seat(s: SeatRecord) -> Row {
        Row {
            table: Table::Seats,
            fields: vec![
                s.username,
                s.email,
                s.display_name,
                Some(sorted_json(&s.roles)),
                Some(seat_kind_str(&s.kind).into()),
            ],
            key: vec![s.user_id],
        }
    }

    fn owned_asset(a: AssetRecord) -> Row {
        Row {
            table: Table::Assets,
            key: vec![a.id],
            fields: vec![Some(a.kind), a.name, a.owner_id],
        }
    }

    fn owned_grant(g: GrantRecord) -> Row {
        Row {
            table: Table::Grants,
            key: vec![holder_key(&g.holder), g.asset_id],
            fields: vec![Some(sorted_json(&g.permissions))],
        }
    }

    fn owned_partner(p: PartnerRecord) -> Row {
        Row {
            table: Table::Partners,
            key: vec![p.id],
            fields: vec![p.name, Some(relation_str(p.relation).into())],
        }
    }

    /// Hash of the table and key: decides the bucket.
    pub fn key_hash(&self) -> u64 {
        let mut h = Hasher::new(self.table);
        for k in &self.key {
            h.some(k);
        }
        h.finish()
    }

    pub fn bucket(&self) -> usize {
        bucket_of(self.key_hash())
    }

    /// Hash of the table, key and fields: two rows with the same fingerprint are the same.
    pub fn fingerprint(&self) -> u64 {
        self.hashes().1
    }

    /// The key hash and the fingerprint, from one serialisation of the row.
    fn hashes(&self) -> (u64, u64) {
        let mut h = Hasher::new(self.table);
        for k in &self.key {
            h.some(k);
        }
        let key = h.finish();
        for f in &self.fields {
            match f {
                Some(s) => h.some(s),
                None => h.none(),
            }
        }
        (key, h.finish())
    }
}

pub fn bucket_of(key_hash: u64) -> usize {
    (key_hash >> (64 - BUCKET_BITS)) as usize
}

/// Length-prefixed feed into xxh3, so that ("ab", "c") and ("a", "bc") differ, and so does
/// `None` from `Some("")`.
/// The bytes a row hashes to (table, then each value as a presence byte, its length and its
/// bytes), hashed at once: a streaming XXH3 state is half a kilobyte to set up and each small
/// update has its cost, a fifth of a first check's work besides writing. XXH3 of the bytes
/// at once equals the streaming digest of them, so stored digests stay valid.
struct Hasher(Vec<u8>);

impl Hasher {
    fn new(t: Table) -> Self {
        let mut b = Vec::with_capacity(160);
        b.push(t as u8);
        Self(b)
    }
    fn some(&mut self, s: &str) {
        self.0.push(1);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn none(&mut self) {
        self.0.push(0);
    }
    fn finish(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.0)
    }
}

/// The digests of one table: per bucket, the wrapping sum of its live rows' fingerprints,
/// and how many rows that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sums: Vec<u64>,
    pub counts: Vec<u32>,
}

impl Default for Digests {
    fn default() -> Self {
        Self {
            sums: vec![0; BUCKETS],
            counts: vec![0; BUCKETS],
        }
    }
}

impl Digests {
    pub fn add(&mut self, row: &Row) {
        let (key, fingerprint) = row.hashes();
        let b = bucket_of(key);
        self.sums[b] = self.sums[b].wrapping_add(fingerprint);
        self.counts[b] = self.counts[b].saturating_add(1);
    }

    pub fn remove(&mut self, row: &Row) {
        let (key, fingerprint) = row.hashes();
        let b = bucket_of(key);
        self.sums[b] = self.sums[b].wrapping_sub(fingerprint);
        self.counts[b] = self.counts[b].saturating_sub(1);
    }

    /// Adds the rows `other` describes (rows digested apart, such as kept lists read beside
    /// a fetch).
    pub fn absorb(&mut self, other: &Digests) {
        for b in 0..BUCKETS {
            self.sums[b] = self.sums[b].wrapping_add(other.sums[b]);
            self.counts[b] = self.counts[b].saturating_add(other.counts[b]);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Buckets whose digests differ from `other`'s.
    pub fn differing(&self, other: &Digests) -> Vec<usize> {
        (0..BUCKETS)
            .filter(|&b| self.sums[b] != other.sums[b] || self.counts[b] != other.counts[b])
            .collect()
    }

    /// A compact text form for storage: `DIGESTS_FORMAT`, then the non-empty buckets as
    /// `bucket:count:sum` (hex sum), separated by `;`.
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from(DIGESTS_FORMAT);
        for b in 0..BUCKETS {
            if self.counts[b] != 0 || self.sums[b] != 0 {
                if out.len() > DIGESTS_FORMAT.len() {
                    out.push(';');
                }
                write!(out, "{b}:{}:{:x}", self.counts[b], self.sums[b]).expect("a String");
            }
        }
        out
    }

    pub fn decode(s: &str) -> Option<Digests> {
        let s = s.strip_prefix(DIGESTS_FORMAT)?;
        let mut d = Digests::default();
        for part in s.split(';').filter(|p| !p.is_empty()) {
            let mut it = part.split(':');
            let b: usize = it.next()?.parse().ok()?;
            let c: u32 = it.next()?.parse().ok()?;
            let sum = u64::from_str_radix(it.next()?, 16).ok()?;
            if b >= BUCKETS || it.next().is_some() {
                return None;
            }
            d.counts[b] = c;
            d.sums[b] = sum;
        }
        Some(d)
    }
}

/// A row Castellan holds, with whether it vanished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub row: Row,
    pub vanished: bool,
}

/// What applying fetched rows to held rows changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowDiff {
    pub new: Vec<Row>,
    /// (fetched row, what was held): fields changed, or the row came back after vanishing.
    pub changed: Vec<(Row, Held)>,
    /// Live rows that were not fetched.
    pub vanished: Vec<Row>,
}

impl RowDiff {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.changed.is_empty() && self.vanished.is_empty()
    }
}

/// Diffs the rows fetched for some buckets of one table against the rows held in the same
/// buckets. A key fetched twice counts once (the first one wins). Output is sorted by key, so
/// it does not depend on the order rows came in.
pub fn diff(held: Vec<Held>, fetched: Vec<Row>) -> RowDiff {
    let mut by_key: HashMap<Vec<String>, Held> =
        held.into_iter().map(|h| (h.row.key.clone(), h)).collect();
    let mut out = RowDiff::default();
    let mut seen = std::collections::HashSet::new();
    for row in fetched {
        if !seen.insert(row.key.clone()) {
            continue;
        }
        match by_key.remove(&row.key) {
            None => out.new.push(row),
            Some(h) if h.vanished || h.row.fields != row.fields => out.changed.push((row, h)),
            Some(_) => {}
        }
    }
    out.vanished = by_key
        .into_values()
        .filter(|h| !h.vanished)
        .map(|h| h.row)
        .collect();
    out.new.sort_by(|a, b| a.key.cmp(&b.key));
    out.changed.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    out.vanished.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(holder: &str, asset: &str, perms: &[&str]) -> Row {
        Row::grant(&GrantRecord {
            holder: Holder::Member(holder.into()),
            asset_id: asset.into(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn rows_of_a_batch_equal_rows_of_its_records_and_list_values_sorted_once() {
        let seat = SeatRecord {
            user_id: "7".into(),
            username: Some("ann".into()),
            email: None,
            display_name: Some("Ann".into()),
            roles: vec!["EMPLOYEE".into(), "BIZ_ADMIN".into(), "EMPLOYEE".into()],
            kind: SeatKind::Member,
        };
        let grants = vec![
            GrantRecord {
                holder: Holder::Member("7".into()),
                asset_id: "a".into(),
                permissions: vec!["ADMIN".into()],
            },
            GrantRecord {
                holder: Holder::Partner("9".into()),
                asset_id: "b".into(),
                permissions: vec!["B".into(), "A".into(), "B".into()],
            },
        ];
        let rows = Row::from_batch(Batch::Seats(vec![seat.clone()]));
        assert_eq!(rows, vec![Row::seat(&seat)]);
        assert_eq!(
            rows[0].fields[3].as_deref(),
            Some(r#"["BIZ_ADMIN","EMPLOYEE"]"#)
        );
        let rows = Row::from_batch(Batch::Grants(grants.clone()));
        assert_eq!(rows, grants.iter().map(Row::grant).collect::<Vec<_>>());
        assert_eq!(rows[0].fields[0].as_deref(), Some(r#"["ADMIN"]"#));
        assert_eq!(rows[1].fields[0].as_deref(), Some(r#"["A","B"]"#));
        assert_eq!(sorted_json(&[]), "[]");
    }

    #[test]
    fn json_arrays_are_exact_and_held_in_their_own_size() {
        let plain = json_array(&["CAMPAIGN_MANAGER".into(), "ANALYST".into()]);
        assert_eq!(plain, r#"["CAMPAIGN_MANAGER","ANALYST"]"#);
        assert_eq!(plain.capacity(), plain.len() + 1);
        let odd = vec!["a\"b".to_string(), "\u{1}".to_string()];
        assert_eq!(json_array(&odd), serde_json::to_string(&odd).unwrap());
    }

    #[test]
    fn hashes_equal_the_streaming_digest_stored_digests_were_made_with() {
        let r = grant("1", "asset", &["ADMIN"]);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        let value = |h: &mut xxhash_rust::xxh3::Xxh3, s: &str| {
            h.update(&[1]);
            h.update(&(s.len() as u32).to_le_bytes());
            h.update(s.as_bytes());
        };
        h.update(&[Table::Grants as u8]);
        for k in &r.key {
            value(&mut h, k);
        }
        assert_eq!(r.key_hash(), h.digest());
        value(&mut h, r.fields[0].as_deref().unwrap());
        assert_eq!(r.fingerprint(), h.digest());
    }

    #[test]
    fn fingerprints_separate_fields_and_nulls() {
        let a = Row {
            table: Table::Assets,
            key: vec!["1".into()],
            fields: vec![Some("ab".into()), Some("c".into()), None],
        };
        let mut b = a.clone();
        b.fields = vec![Some("a".into()), Some("bc".into()), None];
        assert_ne!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.fields[2] = Some(String::new());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(a.key_hash(), c.key_hash(), "fields do not move a row");
        // Permissions are compared as a set.
        assert_eq!(
            grant("1", "2", &["B", "A", "A"]).fingerprint(),
            grant("1", "2", &["A", "B"]).fingerprint()
        );
    }

    #[test]
    fn digests_ignore_order_and_round_trip() {
        let rows: Vec<Row> = (0..500)
            .map(|i| grant(&i.to_string(), "9", &["ADMIN"]))
            .collect();
        let mut a = Digests::default();
        let mut b = Digests::default();
        rows.iter().for_each(|r| a.add(r));
        rows.iter().rev().for_each(|r| b.add(r));
        assert_eq!(a, b);
        assert_eq!(a.total(), 500);
        assert_eq!(Digests::decode(&a.encode()), Some(a.clone()));
        assert_eq!(
            Digests::decode(&Digests::default().encode()),
            Some(Digests::default())
        );
        assert_eq!(Digests::decode("b16;70000:1:ff"), None);
        // Digests of 4,096 buckets (stored before the count changed) do not decode.
        assert_eq!(Digests::decode("5:1:ff"), None);
        assert_eq!(Digests::decode(""), None);
        // One changed row changes exactly its bucket.
        let mut c = Digests::default();
        let mut changed = rows.clone();
        changed[7] = grant("7", "9", &["ANALYST"]);
        changed.iter().for_each(|r| c.add(r));
        assert_eq!(a.differing(&c), vec![rows[7].bucket()]);
        c.remove(&changed[7]);
        c.add(&rows[7]);
        assert_eq!(a, c);
    }

    #[test]
    fn diff_finds_new_changed_reappeared_and_vanished() {
        let held = vec![
            Held {
                row: grant("1", "a", &["ADMIN"]),
                vanished: false,
            },
            Held {
                row: grant("2", "a", &["ADMIN"]),
                vanished: false,
            },
            Held {
                row: grant("3", "a", &["ADMIN"]),
                vanished: true,
            },
            Held {
                row: grant("4", "a", &["ADMIN"]),
                vanished: false,
            },
        ];
        let fetched = vec![
            grant("5", "a", &["ADMIN"]),
            grant("2", "a", &["ANALYST"]),
            grant("3", "a", &["ADMIN"]),
            grant("1", "a", &["ADMIN"]),
            grant("5", "a", &["OTHER"]),
        ];
        let d = diff(held, fetched);
        assert_eq!(d.new, vec![grant("5", "a", &["ADMIN"])]);
        assert_eq!(
            d.changed
                .iter()
                .map(|(r, h)| (r.key[0].clone(), h.vanished))
                .collect::<Vec<_>>(),
            vec![
                ("member:2".to_string(), false),
                ("member:3".to_string(), true)
            ]
        );
        assert_eq!(d.vanished, vec![grant("4", "a", &["ADMIN"])]);
        assert!(diff(Vec::new(), Vec::new()).is_empty());
    }
}
