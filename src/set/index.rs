//! Key → slab id: open addressing with linear probing over `u32` entries, the keys living
//! in the slab. About 4–8 bytes per connection, where a `HashMap<K, u32>` needs 20–36.
//! An entry is a slab id in its low bits and a tag of the key's hash above them.
//!
//! Keys are hashed with a seeded multiply-rotate hash (no_std, no dependencies). It is
//! not built to resist keys chosen by an attacker: keys are the server's own connection
//! ids, not the peer's.

use alloc::vec;
use alloc::vec::Vec;
use core::hash::{Hash, Hasher};

const EMPTY: u32 = u32::MAX;

/// Reads the key stored under a slab id.
pub(crate) trait Keys<K> {
    fn key(&self, id: u32) -> &K;
}

struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        crate::backoff::mix(self.0)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Index {
    table: Vec<u32>,
    len: usize,
    seed: u64,
}

impl Index {
    pub(crate) fn new(seed: u64) -> Index {
        Index {
            table: Vec::new(),
            len: 0,
            seed,
        }
    }

    fn hash<K: Hash>(&self, key: &K) -> u64 {
        let mut h = MixHasher(self.seed);
        key.hash(&mut h);
        h.finish()
    }

    fn mask(&self) -> usize {
        self.table.len().wrapping_sub(1)
    }

    /// The bits of an entry above its id (ids lie below the table's length): a tag of
    /// hash bits the home position does not use. A probe compares keys only where the
    /// tag matches, so it seldom reads the slab for another key (a cache miss at scale).
    fn tag(&self, hash: u64) -> u32 {
        ((hash >> 32) as u32)
            .checked_shl(self.table.len().trailing_zeros())
            .unwrap_or(0)
    }

    /// The table position and slab id of `key`.
    pub(crate) fn find<K: Hash + Eq>(&self, keys: &impl Keys<K>, key: &K) -> Option<(usize, u32)> {
        if self.table.is_empty() {
            return None;
        }
        let hash = self.hash(key);
        let (mask, tag) = (self.mask(), self.tag(hash));
        let mut pos = hash as usize & mask;
        loop {
            let entry = self.table[pos];
            if entry == EMPTY {
                return None;
            }
            let id = entry & mask as u32;
            if entry & !(mask as u32) == tag && keys.key(id) == key {
                return Some((pos, id));
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Files `id` under its key, which must not be in the index yet.
    pub(crate) fn insert<K: Hash + Eq>(&mut self, keys: &impl Keys<K>, id: u32) {
        // Keep the load at or under 7/8, so probes stay short, and every id under 7/8 of
        // the length, so that an entry is never EMPTY. (A set's ids stay under its most
        // connections at once, which the load already bounds.)
        while (self.len + 1) * 8 > self.table.len() * 7 || id as usize * 8 >= self.table.len() * 7 {
            let size = (self.table.len() * 2).max(16);
            let old_mask = self.mask() as u32;
            let old = core::mem::replace(&mut self.table, vec![EMPTY; size]);
            for entry in old.into_iter().filter(|&e| e != EMPTY) {
                self.place(keys, entry & old_mask);
            }
        }
        self.place(keys, id);
        self.len += 1;
    }

    fn place<K: Hash + Eq>(&mut self, keys: &impl Keys<K>, id: u32) {
        let hash = self.hash(keys.key(id));
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        while self.table[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.table[pos] = id | self.tag(hash);
    }

    /// Removes the entry at table position `pos` (from [`find`](Self::find)), shifting
    /// later entries of the probe run back so that no tombstones accumulate.
    pub(crate) fn remove_at<K: Hash + Eq>(&mut self, keys: &impl Keys<K>, mut pos: usize) {
        let mask = self.mask();
        self.table[pos] = EMPTY;
        self.len -= 1;
        let mut next = (pos + 1) & mask;
        while self.table[next] != EMPTY {
            let home = self.hash(keys.key(self.table[next] & mask as u32)) as usize & mask;
            // Move back if `pos` lies cyclically within [home, next).
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(pos) & mask) {
                self.table[pos] = self.table[next];
                self.table[next] = EMPTY;
                pos = next;
            }
            next = (next + 1) & mask;
        }
    }

    /// Bytes held, for the memory measurements.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.capacity() * core::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slab(Vec<u64>);
    impl Keys<u64> for Slab {
        fn key(&self, id: u32) -> &u64 {
            &self.0[id as usize]
        }
    }

    /// Keys of every integer width hash apart (each write mixes its value in), so a
    /// set keyed by `usize` or `u32` spreads over the table as one keyed by `u64`.
    #[test]
    fn keys_of_each_width_hash_apart() {
        let index = Index::new(7);
        let distinct = |hashes: Vec<u64>| {
            let mut sorted = hashes.clone();
            sorted.sort_unstable();
            sorted.dedup();
            sorted.len() == hashes.len()
        };
        assert!(distinct((0..1_000usize).map(|k| index.hash(&k)).collect()));
        assert!(distinct((0..1_000u32).map(|k| index.hash(&k)).collect()));
        assert!(distinct((0..1_000u64).map(|k| index.hash(&k)).collect()));
        let names = ["a", "b", "ab", "ba", "a longer key than eight bytes"];
        assert!(distinct(names.iter().map(|k| index.hash(k)).collect()));
    }

    #[test]
    fn finds_what_is_inserted_and_forgets_what_is_removed() {
        let slab = Slab((0..5_000u64).map(|i| i.wrapping_mul(0x9e37_79b9)).collect());
        let mut ix = Index::new(1);
        for id in 0..5_000 {
            ix.insert(&slab, id);
        }
        for id in (0..5_000).step_by(3) {
            let (pos, found) = ix.find(&slab, &slab.0[id as usize]).unwrap();
            assert_eq!(found, id);
            ix.remove_at(&slab, pos);
        }
        for id in 0..5_000u32 {
            let found = ix.find(&slab, &slab.0[id as usize]).map(|(_, i)| i);
            assert_eq!(found, (id % 3 != 0).then_some(id), "id {id}");
        }
        assert_eq!(ix.len, 5_000 - 1_667);
    }

    /// The table doubles when an entry would take it past 7/8 full, and not before:
    /// 14 keys in 16 entries, the 15th in 32.
    #[test]
    fn the_table_grows_past_seven_eighths_and_not_before() {
        let slab = Slab((0..64u64).collect());
        let mut ix = Index::new(3);
        for id in 0..14 {
            ix.insert(&slab, id);
        }
        assert_eq!(ix.heap_bytes(), 16 * 4);
        ix.insert(&slab, 14);
        assert_eq!(ix.heap_bytes(), 32 * 4);
        for id in 15..28 {
            ix.insert(&slab, id);
        }
        assert_eq!(ix.heap_bytes(), 32 * 4, "28 of 32");
        ix.insert(&slab, 28);
        assert_eq!(ix.heap_bytes(), 64 * 4);
    }
}
