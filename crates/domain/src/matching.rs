//! Matching seats of a business center to directory identities. Deterministic: the same seats
//! and identities always give the same result, whatever their order.
//!
//! Rules, in order: (1) users of partner businesses are partner users; (2) a seat whose normalised
//! e-mail equals the normalised primary or other e-mail of exactly one active identity is
//! matched to it; (3) otherwise a seat whose username equals (case-insensitively) the userName
//! of exactly one active identity is matched; (4) the rest are Unmatched. A key shared by two
//! identities is ambiguous and matches nobody, so a person is never given someone else's seat;
//! an admin resolves it with a manual match. Manual matches, unmatches and exemptions are
//! decided by the caller before these rules run (they are sticky).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::ids::IdentityId;

/// How e-mails are compared: trimmed, lower-cased, `+tag` removed from the local part, and
/// alias domains mapped to their main domain (`acme.co.uk` → `acme.com`).
#[derive(Debug, Clone, Default)]
pub struct MatchConfig {
    /// alias domain → main domain, both lower-case.
    pub domain_aliases: HashMap<String, String>,
}

impl MatchConfig {
    pub fn with_aliases<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            domain_aliases: pairs
                .into_iter()
                .map(|(a, m)| (a.trim().to_lowercase(), m.trim().to_lowercase()))
                .collect(),
        }
    }

    /// The matching rules in a workspace's settings: `email_domain_aliases`, an object of
    /// alias domain → main domain (entries that are not strings are ignored; the API checks
    /// them when the settings are saved, see [`check_settings`]).
    pub fn from_workspace(settings: &crate::workspace::WorkspaceSettings) -> Self {
        Self::with_aliases(
            settings
                .email_domain_aliases
                .iter()
                .map(|(a, m)| (a.as_str(), m.as_str())),
        )
    }

    pub fn from_settings(settings: &serde_json::Value) -> Self {
        let pairs: Vec<(&str, &str)> = settings["email_domain_aliases"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect();
        Self::with_aliases(pairs)
    }

    pub fn normalize_email(&self, raw: &str) -> Option<String> {
        // One pass, one allocation: this runs for every identity of a large directory.
        let s = raw.trim();
        let at = s.rfind('@')?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        let local = local.split('+').next().unwrap_or(local);
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        push_lower(&mut out, local);
        out.push('@');
        let start = out.len();
        push_lower(&mut out, domain);
        if !self.domain_aliases.is_empty()
            && let Some(main) = self.domain_aliases.get(&out[start..])
        {
            let main = main.clone();
            out.truncate(start);
            out.push_str(&main);
        }
        Some(out)
    }
}

/// Checks the matching part of workspace settings: `email_domain_aliases`, when present, must
/// map domain names to domain names.
fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_lowercase() as char));
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// One active identity as matching sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub id: IdentityId,
    pub user_name: &'a str,
    pub emails: Vec<&'a str>,
}

/// One seat to match.
#[derive(Debug, Clone, Copy)]
pub struct SeatKey<'a> {
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    /// The seat belongs to a partner's business (an agency user).
    pub partner: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Email,
    UserName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Matched(IdentityId, MatchedBy),
    PartnerUser,
    Unmatched,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    One(IdentityId),
    Ambiguous,
}

/// An index of active identities by normalised e-mail and by userName.
#[derive(Debug, Default)]
pub struct Index {
    by_email: FxHashMap<String, Slot>,
    by_user: FxHashMap<String, Slot>,
}

fn put(map: &mut FxHashMap<String, Slot>, key: String, id: IdentityId) {
    map.entry(key)
        .and_modify(|s| {
            if *s != Slot::One(id) {
                *s = Slot::Ambiguous
            }
        })
        .or_insert(Slot::One(id));
}

impl Index {
    pub fn build<'a>(
        cfg: &MatchConfig,
        identities: impl IntoIterator<Item = Candidate<'a>>,
    ) -> Self {
        let identities = identities.into_iter();
        let n = identities.size_hint().0;
        let mut ix = Index {
            by_email: FxHashMap::with_capacity_and_hasher(n * 2, Default::default()),
            by_user: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        };
        for c in identities {
            for e in &c.emails {
                if let Some(n) = cfg.normalize_email(e) {
                    put(&mut ix.by_email, n, c.id);
                }
            }
            let mut u = String::with_capacity(c.user_name.len());
            push_lower(&mut u, c.user_name.trim());
            if !u.is_empty() {
                put(&mut ix.by_user, u, c.id);
            }
        }
        ix
    }

    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty() && self.by_email.is_empty()
    }

    pub fn match_seat(&self, cfg: &MatchConfig, seat: SeatKey<'_>) -> Outcome {
        if seat.partner {
            return Outcome::PartnerUser;
        }
        if let Some(Slot::One(id)) = seat
            .email
            .and_then(|e| cfg.normalize_email(e))
            .and_then(|n| self.by_email.get(&n))
        {
            return Outcome::Matched(*id, MatchedBy::Email);
        }
        if let Some(Slot::One(id)) = seat
            .username
            .map(|u| u.trim().to_lowercase())
            .and_then(|u| self.by_user.get(&u))
        {
            return Outcome::Matched(*id, MatchedBy::UserName);
        }
        Outcome::Unmatched
    }
}

impl MatchConfig {
    /// Normalises into `out` (cleared first), allocating nothing once `out` has grown.
    fn normalize_into(&self, raw: &str, out: &mut String) -> bool {
        out.clear();
        let s = raw.trim();
        let Some(at) = s.rfind('@') else { return false };
        let (local, domain) = (&s[..at], &s[at + 1..]);
        let local = local.split('+').next().unwrap_or(local);
        if local.is_empty() || domain.is_empty() {
            return false;
        }
        push_lower(out, local);
        out.push('@');
        let start = out.len();
        push_lower(out, domain);
        if !self.domain_aliases.is_empty()
            && let Some(main) = self.domain_aliases.get(&out[start..])
        {
            let main = main.clone();
            out.truncate(start);
            out.push_str(&main);
        }
        true
    }
}

/// Matches many seats at once: indexes the seats (the small side) and streams the directory
/// through that index, so a million identities cost one pass and no allocation each. Same
/// rules and results as [`Index::match_seat`]; `outcomes[i]` answers `seats[i]`.
pub fn match_all<'a>(
    cfg: &MatchConfig,
    seats: &[SeatKey<'_>],
    identities: impl IntoIterator<Item = Candidate<'a>>,
) -> Vec<Outcome> {
    let mut by_email: FxHashMap<String, Option<Slot>> = FxHashMap::default();
    let mut by_user: FxHashMap<String, Option<Slot>> = FxHashMap::default();
    let mut buf = String::new();
    for seat in seats.iter().filter(|s| !s.partner) {
        if let Some(e) = seat.email
            && cfg.normalize_into(e, &mut buf)
        {
            by_email.entry(buf.clone()).or_insert(None);
        }
        if let Some(u) = seat.username {
            buf.clear();
            push_lower(&mut buf, u.trim());
            if !buf.is_empty() {
                by_user.entry(buf.clone()).or_insert(None);
            }
        }
    }
    let note = |slot: &mut Option<Slot>, id: IdentityId| {
        *slot = match *slot {
            None => Some(Slot::One(id)),
            Some(Slot::One(x)) if x == id => Some(Slot::One(x)),
            _ => Some(Slot::Ambiguous),
        }
    };
    for c in identities {
        for e in &c.emails {
            if cfg.normalize_into(e, &mut buf)
                && let Some(slot) = by_email.get_mut(buf.as_str())
            {
                note(slot, c.id);
            }
        }
        buf.clear();
        push_lower(&mut buf, c.user_name.trim());
        if let Some(slot) = by_user.get_mut(buf.as_str()) {
            note(slot, c.id);
        }
    }
    seats
        .iter()
        .map(|seat| {
            if seat.partner {
                return Outcome::PartnerUser;
            }
            if let Some(e) = seat.email
                && cfg.normalize_into(e, &mut buf)
                && let Some(Some(Slot::One(id))) = by_email.get(buf.as_str())
            {
                return Outcome::Matched(*id, MatchedBy::Email);
            }
            if let Some(u) = seat.username {
                buf.clear();
                push_lower(&mut buf, u.trim());
                if let Some(Some(Slot::One(id))) = by_user.get(buf.as_str()) {
                    return Outcome::Matched(*id, MatchedBy::UserName);
                }
            }
            Outcome::Unmatched
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::check_settings;
    use uuid::Uuid;

    #[test]
    fn aliases_come_from_workspace_settings() {
        let s = serde_json::json!({ "email_domain_aliases": { "Acme.co.uk": "acme.com" } });
        assert!(check_settings(&s).is_ok());
        let cfg = MatchConfig::from_settings(&s);
        assert_eq!(
            cfg.normalize_email("Ann+x@ACME.co.uk").as_deref(),
            Some("ann@acme.com")
        );
        assert!(check_settings(&serde_json::json!({})).is_ok());
        for bad in [
            serde_json::json!({ "email_domain_aliases": ["acme.com"] }),
            serde_json::json!({ "email_domain_aliases": { "acme.co.uk": 3 } }),
            serde_json::json!({ "email_domain_aliases": { "not a domain": "acme.com" } }),
        ] {
            assert_eq!(
                check_settings(&bad).unwrap_err().field,
                "settings.email_domain_aliases"
            );
        }
    }

    fn id(n: u128) -> IdentityId {
        IdentityId(Uuid::from_u128(n))
    }

    #[test]
    fn normalisation() {
        let cfg = MatchConfig::with_aliases([("acme.co.uk", "acme.com")]);
        let cases = [
            ("Alice@Acme.com", Some("alice@acme.com")),
            ("  alice@acme.com ", Some("alice@acme.com")),
            ("alice+pinterest@acme.com", Some("alice@acme.com")),
            ("alice@ACME.CO.UK", Some("alice@acme.com")),
            ("alice+x+y@acme.co.uk", Some("alice@acme.com")),
            ("+tag@acme.com", None),
            ("no-at-sign", None),
        ];
        for (raw, want) in cases {
            assert_eq!(cfg.normalize_email(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn table_of_cases() {
        let cfg = MatchConfig::with_aliases([("acme.co.uk", "acme.com")]);
        let people = [
            Candidate {
                id: id(1),
                user_name: "alice",
                emails: vec!["alice@acme.com"],
            },
            Candidate {
                id: id(2),
                user_name: "bob.smith",
                emails: vec!["bob@acme.com", "robert.smith@acme.com"],
            },
            // Two identities share an address: ambiguous, matches nobody by e-mail.
            Candidate {
                id: id(3),
                user_name: "carol",
                emails: vec!["shared@acme.com"],
            },
            Candidate {
                id: id(4),
                user_name: "dave",
                emails: vec!["shared@acme.com", "dave@acme.com"],
            },
        ];
        let ix = Index::build(&cfg, people);
        let seat =
            |email: Option<&'static str>, username: Option<&'static str>, partner: bool| SeatKey {
                email,
                username,
                partner,
            };
        let cases = [
            (
                seat(Some("ALICE@acme.com"), None, false),
                Outcome::Matched(id(1), MatchedBy::Email),
            ),
            (
                seat(Some("alice+ads@acme.co.uk"), None, false),
                Outcome::Matched(id(1), MatchedBy::Email),
            ),
            (
                seat(Some("robert.smith@acme.com"), None, false),
                Outcome::Matched(id(2), MatchedBy::Email),
            ),
            (
                seat(Some("bobby@gmail.com"), Some("Bob.Smith"), false),
                Outcome::Matched(id(2), MatchedBy::UserName),
            ),
            (
                seat(Some("shared@acme.com"), None, false),
                Outcome::Unmatched,
            ),
            (
                seat(Some("shared@acme.com"), Some("carol"), false),
                Outcome::Matched(id(3), MatchedBy::UserName),
            ),
            (
                seat(Some("alice@acme.com"), None, true),
                Outcome::PartnerUser,
            ),
            (
                seat(Some("stranger@gmail.com"), Some("stranger"), false),
                Outcome::Unmatched,
            ),
            (seat(None, None, false), Outcome::Unmatched),
        ];
        for (s, want) in cases {
            assert_eq!(ix.match_seat(&cfg, s), want, "{s:?}");
        }
        // The bulk path gives the same answers.
        let seats: Vec<SeatKey> = cases.iter().map(|(s, _)| *s).collect();
        let people = [
            Candidate {
                id: id(4),
                user_name: "dave",
                emails: vec!["shared@acme.com", "dave@acme.com"],
            },
            Candidate {
                id: id(2),
                user_name: "bob.smith",
                emails: vec!["bob@acme.com", "robert.smith@acme.com"],
            },
            Candidate {
                id: id(1),
                user_name: "alice",
                emails: vec!["alice@acme.com"],
            },
            Candidate {
                id: id(3),
                user_name: "carol",
                emails: vec!["shared@acme.com"],
            },
        ];
        let bulk = match_all(&cfg, &seats, people);
        assert_eq!(bulk, cases.iter().map(|(_, w)| *w).collect::<Vec<_>>());
    }

    #[test]
    fn order_does_not_matter() {
        let cfg = MatchConfig::default();
        let a = Candidate {
            id: id(1),
            user_name: "x",
            emails: vec!["x@a.com"],
        };
        let b = Candidate {
            id: id(2),
            user_name: "y",
            emails: vec!["x@a.com", "y@a.com"],
        };
        let one = Index::build(&cfg, [a.clone(), b.clone()]);
        let two = Index::build(&cfg, [b, a]);
        for e in ["x@a.com", "y@a.com"] {
            let s = SeatKey {
                email: Some(e),
                username: None,
                partner: false,
            };
            assert_eq!(one.match_seat(&cfg, s), two.match_seat(&cfg, s));
        }
    }
}
