//! The compact form a `HeartbeatSet` keeps each connection in, and the two functions that
//! turn it into a [`Conn`] for the rules and back: the rules stay written once.
//!
//! A set's clock counts whole milliseconds, so every time a set's connection holds is a
//! whole millisecond (deadlines that a measured round trip or a reconnect's jitter puts
//! between two are kept rounded up: the set wakes at milliseconds anyway). A time is kept
//! in 40 bits of milliseconds after the set's base (34 years; the base moves on every 17
//! years, see [`Sides::rebase`]): 5 bytes where the machine keeps 8.
//!
//! A [`Slot`] holds what every connection uses: 24 bytes. What only some configs use lives
//! in [`Sides`], columns beside the slots that stay empty (no bytes at all) until a
//! connection needs them: the ping count and last outbound activity of a server that
//! pings, the round-trip estimator once a peer has answered, the budget of a peer that pinged lately (policing), a client's attempts and slowdown,
//! the transport's retransmission timeout. What a config never reads is not kept: when
//! to ping next for a server that never pings (its last outbound activity), the budget
//! while it is full (a peer that has not pinged lately, or no policing): a full budget
//! behaves alike at any value.
//!
//! Traffic on a steady connection (nearly every message) is not unpacked: [`View`] lets
//! the machine's fast path move the slot's times in place.

use super::{budget_full, full_lag, round_up_ms, Conn, Flags, Kept, Mode, Stage};
use crate::config::{Config, PingPolicy};
use crate::learn::Learned;
use crate::stats::NO_RTT;
use crate::time::NS_PER_MS;
use alloc::vec::Vec;

/// A time in whole milliseconds after the set's base, in 40 bits (34 years); [`Ms::END`]
/// is the end of representable time, where saturating deadlines go.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
struct Ms([u8; 5]);

impl Ms {
    const END: Ms = Ms([0xff; 5]);
    /// The most a time other than the end may lie past the base.
    const MAX: u64 = (1 << 40) - 2;

    #[inline]
    fn new(v: u64) -> Ms {
        let [a, b, c, d, e, ..] = v.min(Ms::MAX).to_le_bytes();
        Ms([a, b, c, d, e])
    }

    #[inline]
    fn get(self) -> u64 {
        let [a, b, c, d, e] = self.0;
        u64::from_le_bytes([a, b, c, d, e, 0, 0, 0])
    }
}

/// The clock is rebased when it runs this far past the base (17 years)...
const REBASE_AT: u64 = 1 << 39;
/// ...to keep this much of the past (8.7 years): an older time counts as that old. Every
/// deadline derived from it (at most twice `u32::MAX` milliseconds on) is long past
/// either way, and so late against any tolerance.
const KEPT_PAST: u64 = 1 << 38;

/// What every connection of a set keeps: 24 bytes, a 32-byte slab entry with a `u64`
/// key (never split over two cache lines).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Slot {
    last_in: Ms,
    ping_at: Ms,
    /// The wake-up, rounded up to its millisecond.
    wake: Ms,
    /// The state's time: `since` (connecting, open), `force_at` (closing), `until`
    /// (waiting to reconnect).
    time: Ms,
    flags: Flags,
    tag: Stage,
    phase: u8,
}

impl Slot {
    /// Whether the set removed the connection, whose index entry has not left yet.
    #[inline]
    pub(crate) fn is_removed(&self) -> bool {
        self.flags.is(Mode::Removed)
    }

    /// Marks the connection removed: lookups pass it by until its index entry leaves.
    pub(crate) fn mark_removed(&mut self) {
        self.flags.set(Mode::Removed, true);
    }
}

/// A connection that pings (or was pinged by its own probe): 9 bytes, byte-aligned.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
struct Pinging {
    /// Kept only when the config pings: nothing else reads it.
    last_out: Ms,
    ping_seq: [u8; 4],
}

/// A connection's round trips, once a pong measured one: 8 bytes, no column while no
/// peer has answered (a server whose peers never answer keeps none).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct Rtt {
    srtt_us: [u8; 4],
    rttvar_us: [u8; 4],
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt {
            srtt_us: NO_RTT.to_le_bytes(),
            rttvar_us: [0; 4],
        }
    }
}

/// A client's streak of attempts and the slowdown its peer asked for.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
struct Client {
    attempt: u16,
    slowdown: u8,
}

/// One value per slot, or nothing while every connection has the default.
#[derive(Clone, Debug)]
struct Column<T>(Vec<T>);

impl<T: Copy + Default + PartialEq> Column<T> {
    #[inline]
    fn get(&self, id: u32) -> T {
        self.0.get(id as usize).copied().unwrap_or_default()
    }

    /// Sets slot `id`'s value; the first value other than the default allocates the
    /// column for all `len` slots.
    #[inline]
    fn put(&mut self, id: u32, v: T, len: usize) {
        if self.0.is_empty() {
            if v == T::default() {
                return;
            }
            self.0.resize(len, T::default());
        }
        self.0[id as usize] = v;
    }

    fn push(&mut self) {
        if !self.0.is_empty() {
            self.0.push(T::default());
        }
    }

    fn heap_bytes(&self) -> usize {
        self.0.capacity() * core::mem::size_of::<T>()
    }
}

/// The columns beside a set's slots, what the set's config reads, and the base its
/// times count from.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    /// The millisecond the slots' times count from.
    base: u64,
    /// How many slots there are.
    len: usize,
    /// The config pings: the last outbound activity decides when.
    pings: bool,
    /// The config's [`full_lag`]: which budgets are full.
    lag: u64,
    ping: Column<Pinging>,
    rtt: Column<Rtt>,
    budget: Column<Ms>,
    client: Column<Client>,
    path_rto_us: Column<u32>,
}

impl Sides {
    pub(crate) fn new(cfg: &Config) -> Sides {
        Sides {
            base: 0,
            len: 0,
            pings: cfg.timing.ping_policy != PingPolicy::Never,
            lag: full_lag(cfg),
            ping: Column(Vec::new()),
            rtt: Column(Vec::new()),
            budget: Column(Vec::new()),
            client: Column(Vec::new()),
            path_rto_us: Column(Vec::new()),
        }
    }

    #[inline]
    fn ms(&self, ns: u64) -> Ms {
        if ns == u64::MAX {
            return Ms::END;
        }
        Ms::new(ns.div_ceil(NS_PER_MS).saturating_sub(self.base))
    }

    #[inline]
    fn ns(&self, t: Ms) -> u64 {
        if t == Ms::END {
            return u64::MAX;
        }
        (self.base + t.get()).saturating_mul(NS_PER_MS)
    }

    /// The last outbound activity, from a connection's ping state: unread (and not kept)
    /// unless the config pings, so then its last sign of the peer stands in.
    #[inline(always)]
    fn last_out(&self, ping: Pinging, last_in: u64) -> u64 {
        if self.pings {
            self.ns(ping.last_out)
        } else {
            last_in
        }
    }

    /// Slot `id`'s ping budget: the default stands for a full one.
    #[inline(always)]
    fn budget(&self, id: u32) -> u64 {
        match self.budget.get(id) {
            b if b == Ms::default() => 0,
            b => self.ns(b),
        }
    }

    /// Keeps slot `id`'s ping budget: a full one (every peer that has not pinged lately)
    /// as the default, which takes no bytes while every budget is full.
    #[inline(always)]
    fn put_budget(&mut self, id: u32, budget: u64, last_in: u64) {
        let kept = if budget_full(budget, last_in, self.lag) {
            Ms::default()
        } else {
            self.ms(budget)
        };
        self.budget.put(id, kept, self.len);
    }

    /// When to wake the connection in `slot`, as [`Conn::wake`] says.
    #[inline]
    pub(crate) fn wake(&self, slot: &Slot) -> Option<u64> {
        (!slot.flags.is(Mode::NoWake)).then(|| self.ns(slot.wake))
    }

    /// Whether the set's clock reading `now` has run far enough past the base that
    /// [`rebase`](Self::rebase) moves it: checked on every call, so kept inline.
    #[inline]
    pub(crate) fn must_rebase(&self, now: u64) -> bool {
        (now / NS_PER_MS).saturating_sub(self.base) >= REBASE_AT
    }

    /// The set's clock reads `now`: past [`REBASE_AT`] from the base, every time moves to
    /// a new base [`KEPT_PAST`] before `now` (once in 8.7 years: every slot is visited).
    pub(crate) fn rebase<'a>(&mut self, now: u64, slots: impl Iterator<Item = &'a mut Slot>) {
        if !self.must_rebase(now) {
            return;
        }
        let now_ms = now / NS_PER_MS;
        let base = now_ms - KEPT_PAST;
        let shift = base - self.base;
        self.base = base;
        let back = |t: &mut Ms| {
            if *t != Ms::END {
                *t = Ms::new(t.get().saturating_sub(shift));
            }
        };
        for s in slots {
            for t in [&mut s.last_in, &mut s.ping_at, &mut s.wake, &mut s.time] {
                back(t);
            }
        }
        self.ping.0.iter_mut().for_each(|p| back(&mut p.last_out));
        // A budget at the base or before it is full: the default stands for that.
        self.budget.0.iter_mut().for_each(back);
    }

    /// Room for one more slot.
    pub(crate) fn push(&mut self) {
        self.len += 1;
        self.ping.push();
        self.rtt.push();
        self.budget.push();
        self.client.push();
        self.path_rto_us.push();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.ping.heap_bytes()
            + self.rtt.heap_bytes()
            + self.budget.heap_bytes()
            + self.client.heap_bytes()
            + self.path_rto_us.heap_bytes()
    }

    /// The connection in slot `id`, for the rules.
    #[inline(always)]
    pub(crate) fn load(&self, slot: &Slot, id: u32) -> Conn {
        let ping = self.ping.get(id);
        let rtt = self.rtt.get(id);
        let client = self.client.get(id);
        let last_in = self.ns(slot.last_in);
        let time = self.ns(slot.time);
        Conn {
            last_in,
            last_out: self.last_out(ping, last_in),
            ping_at: self.ns(slot.ping_at),
            wake: self.ns(slot.wake),
            ping_budget: self.budget(id),
            stage: slot.tag,
            stage_at: if slot.tag.is_timed() { time } else { 0 },
            srtt_us: u32::from_le_bytes(rtt.srtt_us),
            rttvar_us: u32::from_le_bytes(rtt.rttvar_us),
            path_rto_us: self.path_rto_us.get(id),
            ping_seq: u32::from_le_bytes(ping.ping_seq),
            attempt: client.attempt,
            flags: slot.flags,
            slowdown: client.slowdown,
            learned: Learned::default(),
            phase: slot.phase,
        }
    }

    /// Keeps `c` in slot `id`: the slot to write, and its columns written.
    #[inline(always)]
    pub(crate) fn store(&mut self, c: &Conn, id: u32) -> Slot {
        let (tag, time) = (c.stage, c.stage_at);
        let ping = Pinging {
            last_out: if self.pings {
                self.ms(c.last_out)
            } else {
                Ms::default()
            },
            ping_seq: c.ping_seq.to_le_bytes(),
        };
        let rtt = Rtt {
            srtt_us: c.srtt_us.to_le_bytes(),
            rttvar_us: c.rttvar_us.to_le_bytes(),
        };
        let len = self.len;
        self.ping.put(id, ping, len);
        self.rtt.put(id, rtt, len);
        self.put_budget(id, c.ping_budget, c.last_in);
        let client = Client {
            attempt: c.attempt,
            slowdown: c.slowdown,
        };
        self.client.put(id, client, len);
        self.path_rto_us.put(id, c.path_rto_us, len);
        Slot {
            last_in: self.ms(c.last_in),
            ping_at: self.ms(c.ping_at),
            wake: self.ms(c.wake),
            time: self.ms(time),
            flags: c.flags,
            tag,
            phase: c.phase,
        }
    }

    /// What [`load`](Self::load) must give back after [`store`](Self::store): `c` with
    /// what this config never reads set as `load` sets it, a full budget as the default,
    /// and the times that may lie
    /// between milliseconds (a wake-up, a reconnect's end) rounded up. Every other time
    /// in a set is a whole millisecond already: a set's tests check that none is lost.
    pub(crate) fn kept(&self, c: &Conn) -> Conn {
        let mut k = c.clone();
        if !self.pings {
            k.last_out = k.last_in;
        }
        if c.budget_full(self.lag) {
            k.ping_budget = 0;
        }
        k.wake = round_up_ms(k.wake);
        if k.stage == Stage::Backoff {
            k.stage_at = round_up_ms(k.stage_at);
        }
        k
    }
}

/// A slot and its columns, as the fast path sees a connection: traffic moves its times
/// in place, without unpacking the rest.
pub(crate) struct View<'a> {
    pub(crate) slot: &'a mut Slot,
    pub(crate) sides: &'a mut Sides,
    pub(crate) id: u32,
}

impl Kept for View<'_> {
    #[inline(always)]
    fn is_open(&self) -> bool {
        self.slot.tag == Stage::Open
    }
    #[inline(always)]
    fn flags(&self) -> Flags {
        self.slot.flags
    }
    #[inline(always)]
    fn wake(&self) -> u64 {
        self.sides.ns(self.slot.wake)
    }
    #[inline(always)]
    fn last_in(&self) -> u64 {
        self.sides.ns(self.slot.last_in)
    }
    #[inline(always)]
    fn last_out(&self) -> u64 {
        let ping = self.sides.ping.get(self.id);
        self.sides.last_out(ping, self.last_in())
    }
    #[inline(always)]
    fn ping_budget(&self) -> u64 {
        self.sides.budget(self.id)
    }
    #[inline(always)]
    fn set_traffic(&mut self, last_in: u64, last_out: u64, ping_budget: u64) {
        let (sides, id) = (&mut *self.sides, self.id);
        self.slot.last_in = sides.ms(last_in);
        if sides.pings {
            let mut ping = sides.ping.get(id);
            ping.last_out = sides.ms(last_out);
            sides.ping.put(id, ping, sides.len);
        }
        sides.put_budget(id, ping_budget, last_in);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_24_bytes_and_an_empty_entry_costs_nothing() {
        assert_eq!(core::mem::size_of::<Slot>(), 24);
        assert_eq!(core::mem::size_of::<Option<(Slot, u64)>>(), 32);
        assert_eq!(core::mem::size_of::<Pinging>(), 9);
        assert_eq!(core::mem::size_of::<Rtt>(), 8);
    }

    #[test]
    fn milliseconds_round_up_and_the_end_stays_the_end() {
        let sides = Sides::new(&Config::server().build().unwrap());
        let round = |ns| sides.ns(sides.ms(ns));
        assert_eq!(round(0), 0);
        assert_eq!(round(5 * NS_PER_MS), 5 * NS_PER_MS);
        assert_eq!(round(5 * NS_PER_MS + 1), 6 * NS_PER_MS);
        assert_eq!(round(u64::MAX), u64::MAX);
        // Near the end of time the clock has moved the base there.
        let mut sides = sides.clone();
        sides.rebase(u64::MAX - 1, core::iter::empty());
        assert_eq!(sides.ns(sides.ms(u64::MAX - 1)), u64::MAX);
        let top = u64::MAX / NS_PER_MS * NS_PER_MS;
        assert_eq!(sides.ns(sides.ms(top)), top);
    }

    #[test]
    fn forty_bits_hold_every_time_short_of_the_end() {
        assert_eq!(Ms::new(0).get(), 0);
        assert_eq!(Ms::new(Ms::MAX).get(), Ms::MAX);
        // Past the most a time may lie: the most, never the end and never wrapped round.
        assert_eq!(Ms::new(Ms::MAX + 1).get(), Ms::MAX);
        assert_eq!(Ms::new(u64::MAX).get(), Ms::MAX);
        assert_ne!(Ms::new(u64::MAX), Ms::END);
        assert_eq!(Ms::END.get(), (1 << 40) - 1);
    }

    #[test]
    fn the_heap_counts_every_column() {
        let mut sides = Sides::new(&Config::server().build().unwrap());
        for _ in 0..10 {
            sides.push();
        }
        let len = sides.len;
        let pinged = Pinging {
            ping_seq: [1, 0, 0, 0],
            ..Pinging::default()
        };
        sides.ping.put(3, pinged, len);
        let measured = Rtt {
            srtt_us: 20_000u32.to_le_bytes(),
            rttvar_us: 10_000u32.to_le_bytes(),
        };
        sides.rtt.put(7, measured, len);
        sides.budget.put(4, Ms::new(9), len);
        sides.path_rto_us.put(5, 250_000, len);
        let reconnected = Client {
            attempt: 1,
            slowdown: 0,
        };
        sides.client.put(6, reconnected, len);
        let (ping, rtt, budget, client, rto) = (
            sides.ping.heap_bytes(),
            sides.rtt.heap_bytes(),
            sides.budget.heap_bytes(),
            sides.client.heap_bytes(),
            sides.path_rto_us.heap_bytes(),
        );
        assert!(ping > 0 && rtt > 0 && budget > 0 && client > 0 && rto > 0);
        assert_eq!(sides.heap_bytes(), ping + rtt + budget + client + rto);
    }

    #[test]
    fn a_second_rebase_moves_from_the_first() {
        let mut sides = Sides::new(&Config::server().build().unwrap());
        let mut slot = Slot {
            last_in: Ms::default(),
            ping_at: Ms::default(),
            wake: Ms::END,
            time: Ms::default(),
            flags: Flags::default(),
            tag: Stage::Open,
            phase: 0,
        };
        let first = (REBASE_AT + 5) * NS_PER_MS;
        sides.rebase(first, core::iter::once(&mut slot));
        let second = first + (REBASE_AT + 11) * NS_PER_MS;
        slot.last_in = sides.ms(second - 2 * NS_PER_MS);
        sides.rebase(second, core::iter::once(&mut slot));
        assert_eq!(sides.base, second / NS_PER_MS - KEPT_PAST);
        assert_eq!(sides.ns(slot.last_in), second - 2 * NS_PER_MS);
        assert_eq!(sides.ns(slot.wake), u64::MAX);
    }

    #[test]
    fn a_rebase_keeps_recent_times_and_the_end() {
        let mut sides = Sides::new(&Config::server().build().unwrap());
        let now = (REBASE_AT + 5) * NS_PER_MS;
        let mut slot = Slot {
            last_in: sides.ms(now - 3 * NS_PER_MS),
            ping_at: sides.ms(0),
            wake: sides.ms(u64::MAX),
            time: sides.ms(now + 7 * NS_PER_MS),
            flags: Flags::default(),
            tag: Stage::Open,
            phase: 0,
        };
        sides.rebase(now, core::iter::once(&mut slot));
        assert_eq!(sides.base, REBASE_AT + 5 - KEPT_PAST);
        assert_eq!(sides.ns(slot.last_in), now - 3 * NS_PER_MS);
        assert_eq!(sides.ns(slot.time), now + 7 * NS_PER_MS);
        assert_eq!(sides.ns(slot.wake), u64::MAX);
        // Older than what is kept: as old as what is kept.
        assert_eq!(sides.ns(slot.ping_at), sides.base * NS_PER_MS);
    }
}
