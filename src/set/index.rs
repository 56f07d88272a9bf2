//! Key → slab id: open addressing with linear probing over `u32` entries, the keys living
//! in the slab. About 4–8 bytes per connection, where a `HashMap<K, u32>` needs 20–36.
//! An entry is a slab id in its low bits, above it how far the entry lies from its home
//! position, and above that a tag of the key's hash.
//!
//! Keys are hashed with a seeded multiply-rotate hash (no_std, no dependencies). It is
//! not built to resist keys chosen by an attacker: keys are the server's own connection
//! ids, not the peer's.

use alloc::vec;
use alloc::vec::Vec;
use core::hash::{Hash, Hasher};

const EMPTY: u32 = u32::MAX;
/// Bits of an entry that record its distance from its home position (0 to 14; 15 for
/// 15 or more), where the table leaves room above the ids.
const DISTANCE_BITS: u32 = 4;

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

    #[inline]
    fn hash<K: Hash>(&self, key: &K) -> u64 {
        let mut h = MixHasher(self.seed);
        key.hash(&mut h);
        h.finish()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.table.len().wrapping_sub(1)
    }

    /// Bits of an entry that hold its id: the table's length is a power of two, and ids
    /// lie below it.
    #[inline]
    fn id_bits(&self) -> u32 {
        self.table.len().trailing_zeros()
    }

    /// Bits above the id that hold the entry's distance from its home position.
    #[inline]
    fn distance_bits(&self) -> u32 {
        DISTANCE_BITS.min(32u32.saturating_sub(self.id_bits()))
    }

    /// The largest distance an entry records; one this far or farther reads its key.
    #[inline]
    fn far(&self) -> u32 {
        (1u32 << self.distance_bits()) - 1
    }

    /// The bits of an entry above its id and distance: a tag of hash bits the home
    /// position does not use. A probe compares keys only where the tag matches, so it
    /// seldom reads the slab for another key (a cache miss at scale).
    #[inline]
    fn tag(&self, hash: u64) -> u32 {
        ((hash >> 32) as u32)
            .checked_shl(self.id_bits() + self.distance_bits())
            .unwrap_or(0)
    }

    /// The entry for `id` with `hash`, `distance` positions past its home.
    #[inline]
    fn entry(&self, id: u32, hash: u64, distance: usize) -> u32 {
        let far = self.far();
        let distance = u32::try_from(distance).map_or(far, |d| d.min(far));
        id | distance.checked_shl(self.id_bits()).unwrap_or(0) | self.tag(hash)
    }

    /// How far the entry at `pos` lies past its home position: as recorded, or from its
    /// key's hash when it lies too far to record (the only case that reads the slab).
    fn distance<K: Hash>(&self, keys: &impl Keys<K>, pos: usize) -> usize {
        let entry = self.table[pos];
        let far = self.far();
        let recorded = entry.checked_shr(self.id_bits()).unwrap_or(0) & far;
        if recorded < far {
            return recorded as usize;
        }
        let mask = self.mask();
        let home = self.hash(keys.key(entry & mask as u32)) as usize & mask;
        pos.wrapping_sub(home) & mask
    }

    /// The table position and slab id of `key`.
    pub(crate) fn find<K: Hash + Eq>(&self, keys: &impl Keys<K>, key: &K) -> Option<(usize, u32)> {
        if self.table.is_empty() {
            return None;
        }
        let hash = self.hash(key);
        let (mask, tag) = (self.mask(), self.tag(hash));
        let above = u32::MAX
            .checked_shl(self.id_bits() + self.distance_bits())
            .unwrap_or(0);
        let mut pos = hash as usize & mask;
        loop {
            let entry = self.table[pos];
            if entry == EMPTY {
                return None;
            }
            let id = entry & mask as u32;
            if entry & above == tag && keys.key(id) == key {
                return Some((pos, id));
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The hash `key` is filed under.
    #[inline]
    pub(crate) fn hash_of<K: Hash>(&self, key: &K) -> u64 {
        self.hash(key)
    }

    /// The entry at the home position of `hash` (a value that means nothing): reading it
    /// brings its line into the cache for a removal that follows.
    #[inline]
    pub(crate) fn warm(&self, hash: u64) -> u32 {
        self.table
            .get(hash as usize & self.mask())
            .copied()
            .unwrap_or(EMPTY)
    }

    /// Removes the entry of slab id `id`, filed under `hash`: found by its id, reading
    /// no key.
    pub(crate) fn remove_id<K: Hash + Eq>(&mut self, keys: &impl Keys<K>, hash: u64, id: u32) {
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        for _ in 0..self.table.len() {
            match self.table[pos] {
                EMPTY => break,
                entry if entry & mask as u32 == id => return self.remove_at(keys, pos),
                _ => pos = (pos + 1) & mask,
            }
        }
        debug_assert!(false, "id {id} is not filed under its hash");
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
        let home = hash as usize & mask;
        let mut pos = home;
        while self.table[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.table[pos] = self.entry(id, hash, pos.wrapping_sub(home) & mask);
    }

    /// Removes the entry at table position `pos` (from [`find`](Self::find)), shifting
    /// later entries of the probe run back so that no tombstones accumulate. Each entry
    /// records how far it lies from home, so the shift reads no keys (each would be a
    /// cache miss at scale) unless an entry lies farther than that records.
    pub(crate) fn remove_at<K: Hash + Eq>(&mut self, keys: &impl Keys<K>, mut pos: usize) {
        let mask = self.mask();
        let id_bits = self.id_bits();
        let above = u32::MAX
            .checked_shl(id_bits + self.distance_bits())
            .unwrap_or(0);
        self.table[pos] = EMPTY;
        self.len -= 1;
        let mut next = (pos + 1) & mask;
        while self.table[next] != EMPTY {
            let distance = self.distance(keys, next);
            let shift = next.wrapping_sub(pos) & mask;
            // Move back if `pos` lies cyclically within [home, next).
            if distance >= shift {
                let entry = self.table[next];
                let far = self.far() as usize;
                let closer = ((distance - shift).min(far) as u32)
                    .checked_shl(id_bits)
                    .unwrap_or(0);
                self.table[pos] = entry & (mask as u32 | above) | closer;
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

    /// Every entry's position agrees with what it records: its distance from home
    /// (where that fits), its tag; checked through churn that shifts entries back.
    fn check<K: Hash + Eq>(ix: &Index, keys: &impl Keys<K>) {
        let mask = ix.mask();
        for (pos, &entry) in ix.table.iter().enumerate() {
            if entry == EMPTY {
                continue;
            }
            let hash = ix.hash(keys.key(entry & mask as u32));
            let actual = pos.wrapping_sub(hash as usize & mask) & mask;
            assert_eq!(ix.distance(keys, pos), actual, "entry at {pos}");
            let id = entry & mask as u32;
            assert_eq!(entry, ix.entry(id, hash, actual), "entry at {pos}");
        }
    }

    #[test]
    fn entries_record_their_distance_through_churn() {
        let slab = Slab(
            (0..3_000u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a))
                .collect(),
        );
        let mut ix = Index::new(5);
        let mut state = 1u64;
        let mut live = std::vec::Vec::new();
        for id in 0..3_000u32 {
            ix.insert(&slab, id);
            live.push(id);
            state = crate::backoff::mix(state);
            if state % 3 == 0 {
                let gone = live.swap_remove(state as usize / 3 % live.len());
                let (pos, found) = ix.find(&slab, &slab.0[gone as usize]).unwrap();
                assert_eq!(found, gone);
                ix.remove_at(&slab, pos);
            }
        }
        check(&ix, &slab);
        for id in 0..3_000u32 {
            let found = ix.find(&slab, &slab.0[id as usize]).map(|(_, i)| i);
            assert_eq!(found, live.contains(&id).then_some(id), "id {id}");
        }
    }

    /// Counts the keys it is asked for: a read of the slab, a cache miss at scale.
    struct Counting(Slab, core::cell::Cell<usize>);
    impl Keys<u64> for Counting {
        fn key(&self, id: u32) -> &u64 {
            self.1.set(self.1.get() + 1);
            self.0.key(id)
        }
    }

    /// What the entries are for: a removal reads no key (each entry knows how far it may
    /// move back), and a search reads the keys of other entries only where their tags
    /// match (about one in 2^tag bits).
    #[test]
    fn removals_read_no_keys_and_searches_few_others() {
        let keys = Counting(
            Slab(
                (0..2_000u64)
                    .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a))
                    .collect(),
            ),
            core::cell::Cell::new(0),
        );
        let mut ix = Index::new(11);
        for id in 0..2_000 {
            ix.insert(&keys, id);
        }
        let far = ix.far();
        let mask = ix.mask();
        assert!(
            ix.table
                .iter()
                .all(|&e| e == EMPTY || (e >> ix.id_bits()) & far < far),
            "no run this long"
        );
        // Searches for keys that are not there: every probed entry is another key's.
        keys.1.set(0);
        let mut probed = 0;
        for absent in 1_000_000..1_002_000u64 {
            assert_eq!(ix.find(&keys, &absent), None);
            let mut pos = ix.hash(&absent) as usize & mask;
            while ix.table[pos] != EMPTY {
                probed += 1;
                pos = (pos + 1) & mask;
            }
        }
        assert!(probed > 1_000, "{probed} entries probed");
        assert!(
            keys.1.get() * 16 < probed,
            "{} keys read for {probed} entries probed",
            keys.1.get()
        );
        for id in (0..2_000u32).step_by(2) {
            let (pos, _) = ix.find(&keys, &keys.0 .0[id as usize]).unwrap();
            keys.1.set(0);
            ix.remove_at(&keys, pos);
            assert_eq!(keys.1.get(), 0, "removing id {id} read keys");
        }
        check(&ix, &keys);
    }

    /// Keys that all hash alike: one probe run, most entries too far from home to
    /// record it, so removals read keys, and still shift every entry right.
    #[test]
    fn entries_too_far_to_record_are_shifted_by_their_keys() {
        #[derive(PartialEq, Eq)]
        struct Same(u32);
        impl Hash for Same {
            fn hash<H: Hasher>(&self, h: &mut H) {
                h.write_u64(7);
            }
        }
        struct Colliding(Vec<Same>);
        impl Keys<Same> for Colliding {
            fn key(&self, id: u32) -> &Same {
                &self.0[id as usize]
            }
        }
        let slab = Colliding((0..40).map(Same).collect());
        let mut ix = Index::new(9);
        for id in 0..40 {
            ix.insert(&slab, id);
        }
        check(&ix, &slab);
        assert!(ix
            .table
            .iter()
            .any(|&e| e != EMPTY && (e >> ix.id_bits()) & ix.far() == ix.far()));
        for id in (0..40).step_by(2) {
            let (pos, found) = ix.find(&slab, &Same(id)).unwrap();
            assert_eq!(found, id);
            ix.remove_at(&slab, pos);
            check(&ix, &slab);
        }
        for id in 0..40 {
            assert_eq!(
                ix.find(&slab, &Same(id)).map(|(_, i)| i),
                (id % 2 == 1).then_some(id)
            );
        }
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
