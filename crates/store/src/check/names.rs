//! Names interned into one buffer: a first check's hundreds of thousands of holder ids, each
//! held once as bytes of a shared string and numbered in the order first seen.
//!
//! A `HashMap<String, u32>` costs a heap block and a 32-byte slot per name (~100 bytes a name
//! at 500,000 members, 50 MB); here a name costs its bytes, a 4-byte end offset and a 4-byte
//! slot.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

#[derive(Default)]
pub(crate) struct Names {
    text: String,
    /// Where each name ends in `text`; it starts where the one before it ends. A u32: half
    /// the memory of a usize (2 MB at 500,000 holders), and `intern` keeps `text` below 4 GB.
    ends: Vec<u32>,
    /// Name numbers, found by their name's hash.
    table: HashTable<u32>,
}

fn name_at<'a>(text: &'a str, ends: &[u32], i: u32) -> &'a str {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    &text[start..ends[i] as usize]
}

impl Names {
    /// The number of `name`, given it if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        let hasher = FxBuildHasher;
        let Names { text, ends, table } = self;
        let hash = hasher.hash_one(name);
        let entry = table.entry(
            hash,
            |&i| name_at(text, ends, i) == name,
            |&i| hasher.hash_one(name_at(text, ends, i)),
        );
        match entry {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let i = u32::try_from(ends.len()).expect("fewer than 2^32 names");
                e.insert(i);
                text.push_str(name);
                ends.push(u32::try_from(text.len()).expect("names under 4 GB"));
                i
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The name numbered `i`.
    pub(crate) fn get(&self, i: u32) -> &str {
        name_at(&self.text, &self.ends, i)
    }

    /// The names in byte order (`SortedNames`), and each name's rank in that order by its
    /// number. The lookup table is dropped first: sorted names are only read.
    pub(crate) fn into_sorted(self) -> (SortedNames, Vec<u32>) {
        let mut names = self;
        names.table = HashTable::new();
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| names.get(a).cmp(names.get(b)));
        let mut rank = vec![0; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        (SortedNames { names, order }, rank)
    }
}

/// Interned names read by rank (see [`Names::into_sorted`]).
pub(crate) struct SortedNames {
    names: Names,
    /// The name numbers in byte order of their names.
    order: Vec<u32>,
}

impl SortedNames {
    /// The name of rank `r`.
    pub(crate) fn get(&self, r: u32) -> &str {
        self.names.get(self.order[r as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_held_once_and_ranked_in_byte_order() {
        let mut n = Names::default();
        let ids: Vec<u32> = ["b", "a", "", "b", "ab", "a"]
            .iter()
            .map(|s| n.intern(s))
            .collect();
        assert_eq!(ids, [0, 1, 2, 0, 3, 1]);
        assert_eq!((n.len(), n.get(3), n.get(2)), (4, "ab", ""));
        let (sorted, rank) = n.into_sorted();
        assert_eq!(rank, [3, 1, 0, 2]);
        let by_rank: Vec<&str> = (0..4).map(|r| sorted.get(r)).collect();
        assert_eq!(by_rank, ["", "a", "ab", "b"]);
    }

    #[test]
    fn many_names_survive_the_table_growing() {
        let mut n = Names::default();
        for i in 0..10_000 {
            assert_eq!(n.intern(&format!("user-{i}")), i);
        }
        for i in (0..10_000).rev() {
            assert_eq!(n.intern(&format!("user-{i}")), i);
        }
        assert_eq!(n.get(1234), "user-1234");
    }
}
