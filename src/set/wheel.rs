//! A hierarchical timing wheel over slab ids, in the style of tokio's and the Linux
//! kernel's: 6 levels of 64 slots, 1 ms per level-0 slot, covering about 2 years.
//!
//! Each id sits in at most one slot list, linked through [`Link`]s (12 bytes per id), so
//! inserting, removing and moving an id are O(1). Occupancy bitmaps make the next
//! expiration O(1) to find, so a check with nothing due costs the same at any size.
//!
//! A link keeps the low 16 bits of the time it was filed for: a slot of levels 1 and 2
//! spans less than 2^16 ms, so when it is reached the wheel knows each id's time and
//! files it one level down itself, reading nothing but links. Only what is due, and ids
//! of the levels above (deadlines more than about four minutes out), go to the caller.

use alloc::vec::Vec;

const LEVELS: usize = 6;
const SLOTS: u64 = 64;
const BITS: u32 = 6;
/// The farthest point the wheel files directly, relative to `elapsed`: half the top
/// level's span, so that an id is never filed in the current slot of its level (it
/// would come straight back). A later time is filed here and re-filed when reached.
const MAX_SPAN: u64 = 1 << (BITS * LEVELS as u32 - 1);
pub(crate) const NIL: u32 = u32::MAX;
const UNLINKED: u16 = u16::MAX;

/// Levels whose slots span fewer milliseconds than a link's `when` tells apart: the
/// wheel re-files their ids by itself when their slot is reached.
const EXACT_LEVELS: usize = 2;

/// An id's place in the wheel: 12 bytes (its ids in `u16` halves, so that it packs
/// without padding).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Link {
    prev: [u16; 2],
    next: [u16; 2],
    /// `level * 64 + slot`, or `UNLINKED`.
    bucket: u16,
    /// The time (ms) the id was filed for, modulo 2^16.
    when: u16,
}

fn halves(id: u32) -> [u16; 2] {
    [id as u16, (id >> 16) as u16]
}

fn whole([lo, hi]: [u16; 2]) -> u32 {
    u32::from(lo) | u32::from(hi) << 16
}

impl Link {
    pub(crate) const fn new() -> Link {
        Link {
            prev: [u16::MAX; 2],
            next: [u16::MAX; 2],
            bucket: UNLINKED,
            when: 0,
        }
    }
    fn prev(&self) -> u32 {
        whole(self.prev)
    }
    fn next(&self) -> u32 {
        whole(self.next)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Wheel {
    /// Milliseconds processed so far: everything due at or before it has been taken.
    elapsed: u64,
    heads: [[u32; SLOTS as usize]; LEVELS],
    occupied: [u64; LEVELS],
}

fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | (SLOTS - 1);
    let significant = 63 - masked.leading_zeros();
    ((significant / BITS) as usize).min(LEVELS - 1)
}

impl Wheel {
    pub(crate) fn new(elapsed: u64) -> Wheel {
        Wheel {
            elapsed,
            heads: [[NIL; SLOTS as usize]; LEVELS],
            occupied: [0; LEVELS],
        }
    }

    /// `when` (ms) as the wheel files it now: no earlier than `elapsed`, no farther than
    /// it reaches.
    fn clamp(&self, when: u64) -> u64 {
        when.clamp(self.elapsed, self.elapsed.saturating_add(MAX_SPAN))
    }

    /// The bucket (`level * 64 + slot`) that `when` (ms, clamped) files into now.
    fn bucket_for(&self, when: u64) -> u16 {
        let level = level_for(self.elapsed, when);
        let slot = (when >> (level as u32 * BITS)) % SLOTS;
        (level as u64 * SLOTS + slot) as u16
    }

    /// Files `id` to expire at `when` (ms), moving it if it is filed elsewhere. An id that
    /// stays in its bucket only has its time updated (the link is read anyway): most
    /// deadline changes stay within a slot.
    pub(crate) fn file(&mut self, links: &mut [Link], id: u32, when: u64) {
        let when = self.clamp(when);
        let bucket = self.bucket_for(when);
        let link = &mut links[id as usize];
        if link.bucket == bucket {
            link.when = when as u16;
            return;
        }
        self.remove(links, id);
        self.link(links, id, bucket, when);
    }

    /// Files `id` to expire at `when` (ms); a time already past expires at the next poll.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, links: &mut [Link], id: u32, when: u64) {
        let when = self.clamp(when);
        let bucket = self.bucket_for(when);
        self.link(links, id, bucket, when);
    }

    fn link(&mut self, links: &mut [Link], id: u32, bucket: u16, when: u64) {
        let (level, slot) = (
            usize::from(bucket) / SLOTS as usize,
            u64::from(bucket) % SLOTS,
        );
        let head = &mut self.heads[level][slot as usize];
        if *head != NIL {
            links[*head as usize].prev = halves(id);
        }
        links[id as usize] = Link {
            prev: halves(NIL),
            next: halves(*head),
            bucket,
            when: when as u16,
        };
        *head = id;
        self.occupied[level] |= 1 << slot;
    }

    /// Takes `id` out of the wheel (a no-op if it is not in).
    pub(crate) fn remove(&mut self, links: &mut [Link], id: u32) {
        let link = links[id as usize];
        let (prev, next, bucket) = (link.prev(), link.next(), link.bucket);
        if bucket == UNLINKED {
            return;
        }
        let (level, slot) = (
            usize::from(bucket) / SLOTS as usize,
            usize::from(bucket) % SLOTS as usize,
        );
        if prev == NIL {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1 << slot);
            }
        } else {
            links[prev as usize].next = halves(next);
        }
        if next != NIL {
            links[next as usize].prev = halves(prev);
        }
        links[id as usize] = Link::new();
    }

    /// The start (ms) of the earliest occupied slot, and where it is. The lowest occupied
    /// level always expires first: its slots lie in the current block of the next level.
    fn next_slot(&self) -> Option<(u64, usize, usize)> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let shift = level as u32 * BITS;
            let pos = (self.elapsed >> shift) % SLOTS;
            let slot = (pos + u64::from(bits.rotate_right(pos as u32).trailing_zeros())) % SLOTS;
            let range = 1u64 << (shift + BITS);
            let mut start = (self.elapsed & !(range - 1)).saturating_add(slot << shift);
            if slot < pos {
                start = start.saturating_add(range);
            }
            return Some((start.max(self.elapsed), level, slot as usize));
        }
        None
    }

    /// When the wheel next has something to hand out (a lower bound: a higher-level slot
    /// is re-filed when reached, which costs a call but never lateness).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(at, _, _)| at)
    }

    /// Advances to `now` (ms), moving the ids of every slot reached into `due`, except
    /// those of levels 1 and 2 not due yet, which it files one level down by their time.
    /// Ids from a higher level may not be due yet (the wheel keeps only their time's low
    /// bits): the caller asks each connection and files it again. Each id climbs down at
    /// most 6 times.
    pub(crate) fn advance(&mut self, links: &mut [Link], now: u64, due: &mut Vec<u32>) {
        while let Some((at, level, slot)) = self.next_slot() {
            if at > now {
                break;
            }
            self.elapsed = at;
            let mut id = core::mem::replace(&mut self.heads[level][slot], NIL);
            self.occupied[level] &= !(1 << slot);
            // A slot of this level spans `span` ms from its start, `at`.
            let span = 1u64 << (level as u32 * BITS);
            let exact = (1..=EXACT_LEVELS).contains(&level);
            while id != NIL {
                let link = links[id as usize];
                let next = link.next();
                links[id as usize] = Link::new();
                let ahead = u64::from(link.when.wrapping_sub(at as u16));
                if exact && ahead < span && at + ahead > now {
                    let when = at + ahead;
                    let bucket = self.bucket_for(when);
                    self.link(links, id, bucket, when);
                } else {
                    due.push(id);
                }
                id = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_12_bytes() {
        assert_eq!(core::mem::size_of::<Link>(), 12);
    }
    use alloc::vec;

    /// A deadline is filed at the level its distance needs: 64 ms slots for the next
    /// 64 ms, 4,096 ms slots for the next 4 s, and so on up.
    #[test]
    fn a_deadline_is_filed_at_the_level_its_distance_needs() {
        for (when, level) in [
            (10, 0),
            (63, 0),
            (64, 1),
            (4_095, 1),
            (4_096, 2),
            (20_000, 2),
            (262_144, 3),
            (1 << 30, 5),
        ] {
            assert_eq!(level_for(0, when), level, "{when} ms");
        }
        assert_eq!(level_for(1 << 40, (1 << 40) + 5), 0);
    }

    /// The top level's slots turn round: a deadline two of its slots ahead, past the end
    /// of its turn, lands in an early slot of the next turn and waits for it.
    #[test]
    fn a_top_level_slot_in_the_next_turn_waits_for_it() {
        let slot = 1u64 << (BITS * (LEVELS as u32 - 1));
        let start = 63 * slot;
        let mut links = vec![Link::new(); 2];
        let mut w = Wheel::new(start);
        w.insert(&mut links, 1, start + 2 * slot);
        let mut due = Vec::new();
        w.advance(&mut links, start + 1_000, &mut due);
        assert!(due.is_empty(), "{due:?}");
        assert!(w.next_expiration().is_some_and(|t| t > start + 1_000));
    }

    #[test]
    fn ids_come_out_no_earlier_than_filed_and_in_order_of_slots() {
        let mut links = vec![Link::new(); 1000];
        let mut w = Wheel::new(0);
        let times: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 200_000 + 1).collect();
        for (id, &t) in times.iter().enumerate() {
            w.insert(&mut links, id as u32, t);
        }
        let mut seen = vec![false; 1000];
        let mut due = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration() {
            assert!(next >= now);
            now = next;
            due.clear();
            w.advance(&mut links, now, &mut due);
            for &id in &due {
                let t = times[id as usize];
                if t > now {
                    w.insert(&mut links, id, t); // a cascade: file again
                } else {
                    assert!(!seen[id as usize]);
                    assert!(
                        t <= now && now - t < 1 + 1,
                        "id {id} due {t} handed out at {now}"
                    );
                    seen[id as usize] = true;
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    /// Advances a millisecond at a time to `until`, returning each id with the time it
    /// was handed out.
    fn drain(w: &mut Wheel, links: &mut [Link], until: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut due = Vec::new();
        for now in w.elapsed..=until {
            w.advance(links, now, &mut due);
            out.extend(due.drain(..).map(|id| (id, now)));
        }
        out
    }

    /// Deadlines up to about four minutes out come down the levels inside the wheel:
    /// each id reaches the caller once, at its own millisecond.
    #[test]
    fn deadlines_below_level_three_reach_the_caller_only_when_due() {
        let times: Vec<u64> = (0..500u64).map(|i| 70 + (i * 7_919) % 200_000).collect();
        let mut links = vec![Link::new(); times.len()];
        let mut w = Wheel::new(5);
        for (id, &t) in times.iter().enumerate() {
            w.insert(&mut links, id as u32, t);
        }
        let mut out = drain(&mut w, &mut links, 205_000);
        out.sort_unstable();
        let want: Vec<(u32, u64)> = times
            .iter()
            .enumerate()
            .map(|(id, &t)| (id as u32, t))
            .collect();
        assert_eq!(out, want);
    }

    /// A deadline moved within its slot keeps the slot, and the wheel goes by the new
    /// time: earlier, it is handed out then, not at the old one.
    #[test]
    fn a_deadline_moved_within_its_slot_is_handed_out_at_its_new_time() {
        let mut links = vec![Link::new(); 2];
        let mut w = Wheel::new(0);
        w.file(&mut links, 0, 6_000);
        let bucket = links[0].bucket;
        w.file(&mut links, 0, 4_500); // the same 4,096 ms slot of level 2
        assert_eq!(links[0].bucket, bucket);
        w.file(&mut links, 1, 300);
        w.file(&mut links, 1, 7_000); // later, and moved
        assert_eq!(drain(&mut w, &mut links, 8_000), [(0, 4_500), (1, 7_000)]);
    }

    /// Past level 2 the wheel keeps too few bits of the time: the caller hears of the
    /// id when its slot is reached and files it again.
    #[test]
    fn a_far_deadline_goes_to_the_caller_when_its_slot_is_reached() {
        let far = 300_000; // level 3: 262,144 ms slots
        let mut links = vec![Link::new(); 1];
        let mut w = Wheel::new(0);
        w.insert(&mut links, 0, far);
        let out = drain(&mut w, &mut links, far);
        assert_eq!(out, [(0, 262_144)], "at its slot's start");
        w.insert(&mut links, 0, far);
        assert_eq!(drain(&mut w, &mut links, far), [(0, far)]);
    }

    #[test]
    fn remove_unlinks_anywhere_in_a_list() {
        let mut links = vec![Link::new(); 3];
        let mut w = Wheel::new(0);
        for id in 0..3 {
            w.insert(&mut links, id, 10);
        }
        w.remove(&mut links, 1);
        w.remove(&mut links, 1); // twice is harmless
        let mut due = Vec::new();
        w.advance(&mut links, 10, &mut due);
        due.sort();
        assert_eq!(due, [0, 2]);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn far_future_and_past_times_are_clamped() {
        let mut links = vec![Link::new(); 2];
        let mut w = Wheel::new(1_000);
        w.insert(&mut links, 0, u64::MAX);
        w.insert(&mut links, 1, 5); // already past: due at once
        assert_eq!(w.next_expiration(), Some(1_000));
        let mut due = Vec::new();
        w.advance(&mut links, 1_000, &mut due);
        assert_eq!(due, [1]);
        assert!(w.next_expiration().is_some_and(|t| t > 1_000));
    }
}
