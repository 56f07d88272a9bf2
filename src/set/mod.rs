//! [`HeartbeatSet`]: many connections, one shared [`Config`], one deadline queue
//! (feature `alloc`).

mod index;
#[cfg(test)]
mod tests;
mod wheel;

use crate::config::Config;
use crate::conn::packed::{Sides, Slot, View};
use crate::conn::{fast_path, traffic, Conn, PONG, SLOW};
use crate::event::{Action, Actions, Event, PingId};
use crate::state::State;
use crate::stats::{Counters, Stats};
use crate::time::{Instant, NS_PER_MS};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use core::hash::Hash;
use core::time::Duration;
use index::{Index, Keys};
use wheel::{Link, Wheel};

/// A key the set could not take: [`HeartbeatSet::insert`] with a key already in the set,
/// or [`HeartbeatSet::handle`] with one that is not.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SetError {
    /// A connection with this key is already in the set.
    KeyExists,
    /// No connection with this key is in the set.
    UnknownKey,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetError::KeyExists => {
                "a connection with this key is already in the set; remove it first"
            }
            SetError::UnknownKey => "no connection with this key is in the set; insert it first",
        })
    }
}

impl core::error::Error for SetError {}

type Entry<K> = Option<(Slot, K)>;

struct Slab<'a, K>(&'a [Entry<K>]);

impl<K> Keys<K> for Slab<'_, K> {
    fn key(&self, id: u32) -> &K {
        match &self.0[id as usize] {
            Some((_, k)) => k,
            None => unreachable!("the index holds only live ids"),
        }
    }
}

/// Heartbeats for many connections on one event loop: one shared [`Config`], a compact
/// state per connection, and one hierarchical timing wheel, so a check with nothing due
/// costs the same for ten connections or ten million.
///
/// A connection keeps only what its config uses: at a million connections keyed by
/// `u64`, about 55 bytes of heap each (index, timer and growth included) for a server
/// that never pings, and about 64 for one that pings; its peers' round trips add 8 bytes
/// per connection once one answers, and a peer's ping budget 5 once some peer pings
/// often enough to spend it.
///
/// The rules are exactly [`HeartbeatMachine`](crate::HeartbeatMachine)'s (the same code
/// runs both), at the set's grain: the set has one clock, and it counts whole
/// milliseconds. A `now` counts from the start of its millisecond (one earlier than any
/// the set has seen counts as the latest), so every time a connection keeps is a whole
/// millisecond, a round trip is measured to the millisecond, and a
/// [`PathHeard`](Event::PathHeard)'s or [`PathMoved`](Event::PathMoved)'s `ago` counts in
/// whole milliseconds, rounded up. A
/// machine given the same calls at whole milliseconds agrees with the set call by call.
/// A deadline (which a measured round trip may put between two milliseconds) is kept
/// rounded up: a connection is handed out by the first [`poll`](Self::poll) in its
/// millisecond or later, never before its deadline. Times more than 8 years old count
/// as 8 years old (every deadline from them is long past). And a set does not learn:
/// smart keepalive ([`keepalive_ceiling`](crate::ConfigBuilder::keepalive_ceiling)) is a
/// client's, its memory is the machine's, and in a set every connection keeps
/// `ping_interval`.
///
/// The run loop: feed each connection's events with [`handle`](Self::handle), and at
/// [`next_deadline`](Self::next_deadline) drain [`poll`](Self::poll).
///
/// What to report, so that bytes count as life and a large message over a slow link is
/// no false timeout (the [rules](crate::rules#what-to-report)):
///
/// - per read that returns bytes (a partial message included): [`Event::DataReceived`];
///   a complete ping or pong: `PingReceived` / `PongReceived` as well;
/// - per data message you hand to the socket: `DataSent`;
/// - per write that had to wait (`EAGAIN`, or not writable) and then went through:
///   `DataDelivered` (the path took bytes: a ping waiting behind them is held, the
///   peer is not proven alive); keep the socket's unsent backlog small
///   (`TCP_NOTSENT_LOWAT`, Linux and Android) so that this follows the path;
/// - when a ping's last byte is written: `PingWritten(id)`: the pong timeout runs from
///   there.
///
/// Reporting per message only (no byte events) gives the per-message rule: a message
/// counts as life when it is complete, and the pong timeout runs from `SendPing`.
///
/// ```
/// use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant, PingPolicy};
///
/// // A server whose clients ping every 30 s; close after 70 s without one.
/// let config = Config::server().ping_policy(PingPolicy::Never).idle_timeout(Duration::from_secs(70)).build()?;
/// let mut set = HeartbeatSet::new(config);
/// for fd in 0..1_000u64 {
///     set.insert(fd, Instant::ZERO)?;
/// }
/// for fd in 0..999 {
///     let _ = set.handle(Instant::from_secs(30), &fd, Event::PingReceived)?; // SendPong
/// }
/// // Connection 999 went quiet. Nothing is due before its idle deadline:
/// // (The timer wheel may wake the loop a little early, never late.)
/// assert!(set.next_deadline() <= Some(Instant::from_secs(70)));
/// assert_eq!(set.poll(Instant::from_secs(69)), None);
/// assert_eq!(set.poll(Instant::from_secs(70)), Some((999, Action::Close(keepalive::CloseReason::IdleTimeout))));
/// assert_eq!(set.poll(Instant::from_secs(70)), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeartbeatSet<K> {
    config: Config,
    slab: Vec<Entry<K>>,
    /// What only some connections keep, beside the slab.
    sides: Sides,
    links: Vec<Link>,
    free: Vec<u32>,
    index: Index,
    wheel: Wheel,
    /// The latest `now` seen, in nanoseconds.
    now: u64,
    /// Ids handed out by the wheel, not yet looked at.
    due: Vec<u32>,
    /// Actions produced by `poll` but not yet returned.
    ready: VecDeque<(u32, Action)>,
    counters: Counters,
    pings_sent: u32,
    /// No close for silence before this time (ns, a whole millisecond): the loop's own
    /// process did not run, and its connections read first.
    not_before: u64,
    /// The connection whose action `poll` returned last: the one a caller most often
    /// removes next (after a forced close), found then without the index.
    polled: u32,
    /// Connections removed whose index entries have not gone yet, each with its key's
    /// hash: they leave the index a batch at a time, so that the batch's cache misses
    /// overlap instead of following one another. Their slab entries stay until then
    /// (a shift of the index may read their keys); nothing else reaches them.
    gone: Vec<(u32, u64)>,
}

impl<K> HeartbeatSet<K> {
    /// How many connections are in the set.
    pub fn len(&self) -> usize {
        self.slab.len() - self.free.len() - self.gone.len()
    }
}

impl<K: fmt::Debug> fmt::Debug for HeartbeatSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatSet")
            .field("config", &self.config)
            .field("len", &self.len())
            .field("now", &Instant::from_nanos(self.now))
            .finish_non_exhaustive()
    }
}

/// An event at the set's grain: the transport's records (`ago` before now) count in
/// whole milliseconds, rounded up, so that they date the peer's last segment, or the
/// path's last move, at the start of its millisecond, as the set's clock dates everything.
#[inline]
fn grain(event: Event) -> Event {
    let ms = |ago: Duration| {
        let ms = ago.as_nanos().div_ceil(u128::from(NS_PER_MS));
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    };
    match event {
        Event::PathHeard { ago } => Event::PathHeard { ago: ms(ago) },
        Event::PathMoved { ago } => Event::PathMoved { ago: ms(ago) },
        e => e,
    }
}

/// The most room for due connections kept between checks.
const DUE_KEPT: usize = 4_096;

/// Removed connections whose index entries leave together.
const GONE_BATCH: usize = 16;

/// No connection.
const NO_ID: u32 = u32::MAX;

/// Whether a connection is where its wake-up files it, when [`HeartbeatSet::run`] starts.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Filed {
    /// Taken out of the wheel to be run (by `poll`): file it again.
    No,
    /// Filed at its wake-up, or waiting in `due` for `poll` to look at: file it again
    /// only if the wake-up moves. Traffic on the fast path leaves it where it is, without
    /// touching its link (a cache miss saved per message).
    Unless,
}

fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_MS)
}

/// The set's rule: a deadline is due once its millisecond (rounded up) has come.
pub(crate) fn due(deadline_ns: u64, now_ns: u64) -> bool {
    ceil_ms(deadline_ns) <= now_ns / NS_PER_MS
}

impl<K: Hash + Eq + Clone> HeartbeatSet<K> {
    /// An empty set; every connection will use `config`.
    pub fn new(config: Config) -> HeartbeatSet<K> {
        HeartbeatSet {
            config,
            slab: Vec::new(),
            sides: Sides::new(&config),
            links: Vec::new(),
            free: Vec::new(),
            index: Index::new(config.timing.seed),
            wheel: Wheel::new(0),
            now: 0,
            due: Vec::new(),
            ready: VecDeque::new(),
            counters: Counters::new(),
            pings_sent: 0,
            not_before: 0,
            polled: NO_ID,
            gone: Vec::new(),
        }
    }

    /// An empty set with room for `n` connections before it allocates again.
    pub fn with_capacity(config: Config, n: usize) -> HeartbeatSet<K> {
        let mut set = HeartbeatSet::new(config);
        set.slab.reserve_exact(n);
        set.links.reserve_exact(n);
        set
    }

    /// Adds a connection, open from `now` (as if a machine got [`Event::Connected`]).
    pub fn insert(&mut self, key: K, now: Instant) -> Result<(), SetError> {
        self.settle();
        if self.index.find(&Slab(&self.slab), &key).is_some() {
            return Err(SetError::KeyExists);
        }
        let now = self.clock(now);
        let mut conn = Conn::new(&self.config, Instant::from_nanos(now));
        // Opening has no actions, except at Instant::MAX where the first ping is due at
        // once: those wait in `ready` for poll, never dropped.
        let opened = conn.handle(
            &self.config,
            now,
            Event::Connected,
            &mut self.counters,
            self.not_before,
        );
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.links.push(Link::new());
                self.sides.push();
                self.slab.push(None);
                (self.slab.len() - 1) as u32
            }
        };
        let slot = self.sides.store(&conn, id);
        self.slab[id as usize] = Some((slot, key));
        self.index.insert(&Slab(&self.slab), id);
        self.schedule(id);
        self.ready.extend(opened.map(|a| (id, a)));
        Ok(())
    }

    /// Removes a connection (when its socket is gone). Returns whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        // The connection `poll` handed out last (after a forced close, the usual one): its
        // index entry leaves later, with others.
        let polled = self.polled;
        if let Some(Some((slot, k))) = self.slab.get_mut(polled as usize) {
            // (`forget` unsets `polled`: a connection is removed this way once.)
            if k == key {
                slot.mark_removed();
                let hash = self.index.hash_of(key);
                self.forget(polled);
                self.gone.push((polled, hash));
                if self.gone.len() >= GONE_BATCH {
                    self.settle();
                }
                return true;
            }
        }
        self.settle();
        let Some((pos, id)) = self.index.find(&Slab(&self.slab), key) else {
            return false;
        };
        self.index.remove_at(&Slab(&self.slab), pos);
        self.forget(id);
        self.slab[id as usize] = None;
        self.free.push(id);
        true
    }

    /// Takes connection `id` out of the wheel and the actions waiting: nothing hands it
    /// out any more.
    fn forget(&mut self, id: u32) {
        self.wheel.remove(&mut self.links, id);
        if self.polled == id {
            self.polled = NO_ID;
        }
        if !self.ready.is_empty() {
            self.ready.retain(|(i, _)| *i != id);
        }
    }

    /// The index entry of `key`'s connection, unless it was removed (its slot says so:
    /// the line the search read the key from).
    #[inline]
    fn lookup(&self, key: &K) -> Option<(usize, u32)> {
        let found = self.index.find(&Slab(&self.slab), key)?;
        match &self.slab[found.1 as usize] {
            Some((slot, _)) if !slot.is_removed() => Some(found),
            _ => None,
        }
    }

    /// The removed connections leave the index: the table's lines they sit in are read
    /// together first (loads that do not wait for one another), then each entry goes.
    fn settle(&mut self) {
        if self.gone.is_empty() {
            return;
        }
        let lines = self
            .gone
            .iter()
            .fold(0, |acc, &(_, hash)| acc ^ self.index.warm(hash));
        core::hint::black_box(lines);
        for (id, hash) in self.gone.drain(..) {
            self.index.remove_id(&Slab(&self.slab), hash, id);
            self.slab[id as usize] = None;
            self.free.push(id);
        }
    }

    /// Applies `event` to one connection at `now` and returns what to do, exactly as
    /// [`HeartbeatMachine::handle`](crate::HeartbeatMachine::handle).
    pub fn handle(&mut self, now: Instant, key: &K, event: Event) -> Result<Actions, SetError> {
        let (_, id) = self.lookup(key).ok_or(SetError::UnknownKey)?;
        let now = self.clock(now);
        Ok(self.run(id, now, event, Filed::Unless))
    }

    /// The next action of a connection whose deadline has passed, if any. Call it until
    /// it returns `None` at each [`next_deadline`](Self::next_deadline) (or more often:
    /// a check with nothing due is cheap).
    #[must_use = "the action must be carried out: a dropped SendPing or Close breaks the heartbeat"]
    pub fn poll(&mut self, now: Instant) -> Option<(K, Action)> {
        let now = self.clock(now);
        loop {
            if let Some((id, action)) = self.ready.pop_front() {
                if let Some((_, key)) = &self.slab[id as usize] {
                    self.polled = id;
                    return Some((key.clone(), action));
                }
                continue;
            }
            if self.due.is_empty() {
                // A cascade from a coarse slot may have handed over most connections at
                // once: that room is not kept (4 bytes a connection, reused once a
                // minute or so).
                if self.due.capacity() > DUE_KEPT {
                    self.due.shrink_to(DUE_KEPT);
                }
                self.wheel
                    .advance(&mut self.links, now / NS_PER_MS, &mut self.due);
                if self.due.is_empty() {
                    return None;
                }
            }
            while let Some(id) = self.due.pop() {
                let Some((slot, _)) = &self.slab[id as usize] else {
                    continue; // removed meanwhile
                };
                match self.sides.wake(slot) {
                    // Due by the rule the wheel files by: its millisecond has come.
                    Some(d) if due(d, now) => {
                        // `ready` is empty here: the first action goes out at once, the
                        // rest (seldom any) wait there in order. (The slot is there: `run`
                        // acts only on a slot it holds.)
                        let mut actions = self.run(id, now, Event::Tick, Filed::No);
                        if let Some(first) = actions.next() {
                            if !actions.is_empty() {
                                self.ready.extend(actions.map(|a| (id, a)));
                            }
                            if let Some((_, key)) = &self.slab[id as usize] {
                                self.polled = id;
                                return Some((key.clone(), first));
                            }
                        }
                    }
                    // Not due yet (a cascade, or an earlier deadline moved): file again.
                    _ => self.schedule(id),
                }
            }
        }
    }

    /// The time of the next [`poll`](Self::poll) with something to do, never before the
    /// latest `now`. It may be a little early (a timer wheel re-files far deadlines on
    /// the way), never late.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() || !self.due.is_empty() {
            return Some(Instant::from_nanos(self.now));
        }
        self.wheel
            .next_expiration()
            .map(|ms| Instant::from_nanos(ms.saturating_mul(NS_PER_MS).max(self.now)))
    }

    /// No close for silence before `until` (rounded up to its millisecond): the loop's
    /// own process did not run (a late wake), and its connections read and report what
    /// reached their sockets first. Pings and everything else go on; a connection whose
    /// close came due meanwhile is looked at again then. (The loop's rule for reading
    /// before judging decides when.)
    #[cfg(feature = "driver")]
    pub(crate) fn defer_judgement(&mut self, until: Instant) {
        self.not_before = self
            .not_before
            .max(crate::conn::round_up_ms(until.as_nanos()));
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.lookup(key).is_some()
    }

    /// One connection's state.
    pub fn state(&self, key: &K) -> Option<State> {
        self.conn(key).map(|c| c.state(self.now))
    }

    /// One connection's ping awaiting its pong.
    pub fn ping_in_flight(&self, key: &K) -> Option<PingId> {
        self.conn(key).and_then(|c| c.ping_in_flight())
    }

    /// Totals over every connection the set has held: pings, pongs, timeouts, and the
    /// last round trip measured on any of them. (Per-connection figures, the smoothed
    /// round trip and the timeouts in force, are a machine's: see
    /// [`HeartbeatMachine::stats`](crate::HeartbeatMachine::stats).)
    pub fn stats(&self) -> Stats {
        self.counters.totals(self.pings_sent)
    }

    /// How long the peer of `key` has been silent, by the set's clock.
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn silence(&self, key: &K) -> Option<core::time::Duration> {
        let heard = self.conn(key)?.last_heard();
        Some(core::time::Duration::from_nanos(
            self.now.saturating_sub(heard),
        ))
    }

    /// One connection's figures: the pings it was sent, its round trips and the
    /// timeouts in force (the pong timeout's floor follows its round trips, so each
    /// connection's dead-peer bound is its own). The counts the set keeps only in total
    /// (pongs, timeouts, the last round trip: [`stats`](Self::stats)) read zero here.
    /// `None` for an unknown key.
    pub fn stats_of(&self, key: &K) -> Option<Stats> {
        let c = self.conn(key)?;
        let own = Stats {
            pings_sent: c.pings_sent(),
            ..Stats::default()
        };
        Some(c.in_force(&self.config, own))
    }

    /// The shared configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Heap bytes held: slab, timer links, index and free list (for measurements).
    pub fn heap_bytes(&self) -> usize {
        self.slab.capacity() * core::mem::size_of::<Entry<K>>()
            + self.links.capacity() * core::mem::size_of::<Link>()
            + self.free.capacity() * core::mem::size_of::<u32>()
            + self.index.heap_bytes()
            + self.due.capacity() * core::mem::size_of::<u32>()
            + self.ready.capacity() * core::mem::size_of::<(u32, Action)>()
            + self.gone.capacity() * core::mem::size_of::<(u32, u64)>()
            + self.sides.heap_bytes()
    }

    fn conn(&self, key: &K) -> Option<Conn> {
        let (_, id) = self.lookup(key)?;
        let (slot, _) = self.slab[id as usize].as_ref()?;
        Some(self.sides.load(slot, id))
    }

    /// The set's clock: the latest `now` seen, counted from the start of its millisecond.
    fn clock(&mut self, now: Instant) -> u64 {
        let ms = now.as_nanos() / NS_PER_MS * NS_PER_MS;
        self.now = self.now.max(ms);
        if !self.sides.must_rebase(self.now) {
            return self.now;
        }
        let slots = self
            .slab
            .iter_mut()
            .filter_map(|e| e.as_mut().map(|(s, _)| s));
        self.sides.rebase(self.now, slots);
        self.now
    }

    /// Runs one connection's rules, counts, and files its new deadline.
    fn run(&mut self, id: u32, now: u64, event: Event, filed: Filed) -> Actions {
        let Some((slot, _)) = self.slab[id as usize].as_mut() else {
            return Actions::new();
        };
        let event = grain(event);
        // Traffic on a steady connection moves its times in place: the wake-up stays, so
        // it stays filed. (What the wheel hands out is due: never the fast path's.)
        if filed == Filed::Unless {
            #[cfg(debug_assertions)]
            let unpacked = self.sides.load(slot, id);
            let mut view = View {
                slot,
                sides: &mut self.sides,
                id,
            };
            let fast = fast_path(&view, &self.config, now, event);
            if fast & SLOW == 0 {
                traffic(&mut view, fast, now);
                let actions = Actions::pong_if(fast & PONG != 0);
                #[cfg(debug_assertions)]
                self.check_traffic(id, unpacked, now, event, &actions);
                return actions;
            }
        }
        let Some((slot, _)) = self.slab[id as usize].as_mut() else {
            return Actions::new();
        };
        let mut conn = self.sides.load(slot, id);
        let wake = conn.wake();
        let actions = conn.handle(
            &self.config,
            now,
            event,
            &mut self.counters,
            self.not_before,
        );
        *slot = self.sides.store(&conn, id);
        debug_assert_eq!(self.sides.load(slot, id), self.sides.kept(&conn));
        let pings = actions
            .as_slice()
            .iter()
            .filter(|a| matches!(a, Action::SendPing(_)))
            .count();
        self.pings_sent = self.pings_sent.wrapping_add(pings as u32);
        if filed == Filed::No || conn.wake() != wake {
            self.file(id, conn.wake());
        }
        actions
    }

    /// Traffic moved a slot in place as the rules move the connection it holds.
    #[cfg(debug_assertions)]
    fn check_traffic(&self, id: u32, mut conn: Conn, now: u64, event: Event, actions: &Actions) {
        let want = conn.handle(
            &self.config,
            now,
            event,
            &mut Counters::new(),
            self.not_before,
        );
        assert_eq!(actions.as_slice(), want.as_slice());
        if let Some((slot, _)) = &self.slab[id as usize] {
            assert_eq!(self.sides.load(slot, id), self.sides.kept(&conn));
        }
    }

    /// Files a connection in the wheel at its deadline (or takes it out if it has none).
    fn schedule(&mut self, id: u32) {
        let wake = self.slab[id as usize]
            .as_ref()
            .and_then(|(s, _)| self.sides.wake(s));
        self.file(id, wake);
    }

    /// Files a connection in the wheel at `wake` (ns), its wake-up, as a machine hands it
    /// out: traffic on the fast path leaves it unchanged, so a busy connection is not
    /// moved in the wheel.
    fn file(&mut self, id: u32, wake: Option<u64>) {
        match wake {
            Some(d) => self.wheel.file(&mut self.links, id, ceil_ms(d)),
            None => self.wheel.remove(&mut self.links, id),
        }
    }
}
