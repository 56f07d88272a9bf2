//! One connection's state and every timing rule, written once.
//!
//! [`Conn`] holds only what varies per connection; the rules read the shared [`Config`],
//! and the caller keeps the clock (the latest `now`) and the [`Counters`].
//! `HeartbeatMachine` pairs one `Config` with one `Conn`; `HeartbeatSet` shares one
//! `Config`, one clock and one `Counters` among many `Conn`s. Both call the same
//! functions. The rules themselves are stated for readers in [`crate::rules`]; this file
//! is their only implementation.

use crate::backoff;
use crate::config::{Config, PingPolicy, Role};
use crate::event::{
    Action, Actions, Event, PingId, TOLD_GAP_HELD, TOLD_GAP_LOST, TOLD_PONG, TOLD_SLOWER,
    TOLD_STRIKE,
};
use crate::learn::Learned;
use crate::policy::Decision;
use crate::reason::CloseReason;
use crate::state::State;
use crate::stats::{Counters, NO_RTT};
use crate::time::{nanos, Instant, NS_PER_MS};
use core::time::Duration;

mod flags;
#[cfg(feature = "alloc")]
pub(crate) mod packed;
#[cfg(all(test, feature = "sim"))]
mod tests;

use flags::{Flags, Gap, Mode, Ping};

/// The largest lateness tolerated before a deadline counts as a clock jump.
const JUMP_CAP_NS: u64 = 1_000_000_000;
/// The floor under the pong timeout, in retransmission timeouts of the measured round
/// trip (RFC 9000, 10.1: an idle timeout of at least three PTOs)...
const RTO_FLOOR: u64 = 3;
/// ...never more than this, so that detection stays bounded on any path.
pub(crate) const FLOOR_CAP: Duration = Duration::from_secs(60);
/// RFC 6298's clock granularity G in `RTO = SRTT + max(G, 4 × RTTVAR)`: our grain.
const GRANULARITY_US: u32 = 1_000;
/// A peer that says "too many pings" doubles our ping interval, at most this many times.
const MAX_SLOWDOWN: u8 = 6;
/// How much quiet time the peer's ping budget keeps as credit: a minute, and never
/// more than [`PING_BURST`] pings; a new connection starts with all of it (a token
/// bucket that starts full). Pings that waited in our receive buffer while we were busy
/// arrive together, and a peer's first pings come at once (a conformance suite sends
/// ten back to back): neither is a flood. A peer quiet for longer gets no more.
const PING_CREDIT: u64 = 60 * 1_000 * NS_PER_MS;
/// The most pings the credit holds: a flood is closed within about this many pings,
/// before the pongs it never reads fill the socket's buffers and the backpressure stops
/// our reads (about a thousand 125-byte pongs on loopback).
const PING_BURST: u64 = 100;

/// The most a connection's first ping comes sooner than the interval, in 256ths of it:
/// seven eighths (see `spread_pings`). A first ping needs an eighth of the interval of
/// quiet (2.5 s at the default 20 s): a peer's pause of a second or so (a conformance
/// suite's, an app's) never draws one.
const MAX_PHASE: u8 = 224 - 1;

/// Where the connection is in its life: the public [`State`] with the time that gives
/// each state its meaning (one lifecycle word per layer: the core says state).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Timed {
    /// Waiting to reconnect; `Connect` at `until`.
    Backoff { until: u64 },
    /// An attempt under way since `since` (a new machine starts here).
    Connecting { since: u64 },
    /// Open since `since`.
    Open { since: u64 },
    /// Our close for `ours` was sent; forced at `force_at`.
    Closing { force_at: u64, ours: Ours },
    /// Server: the connection is over.
    Closed,
    /// Shut down.
    Stopped,
    /// Client: gave up.
    GaveUp,
}

/// What ping policing makes of the peer's ping.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Policed {
    /// Within its budget.
    Within,
    /// Beyond it, and tolerated: a strike.
    Strike,
    /// One strike too many: the connection closes.
    TooMany,
}

/// [`Timed`]'s kind, with our close's reason folded in: one byte. A connection keeps
/// this and the time apart (9 bytes where the enum takes 16), and a set's slot keeps the
/// same byte (its niche makes an empty slab entry cost nothing).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Stage {
    Backoff,
    Connecting,
    Open,
    ClosingPong,
    ClosingIdle,
    ClosingPings,
    ClosingShutdown,
    Closed,
    Stopped,
    GaveUp,
}

impl Timed {
    /// The kind and the time (0 for the kinds without one).
    #[inline(always)]
    fn pack(self) -> (Stage, u64) {
        match self {
            Timed::Backoff { until } => (Stage::Backoff, until),
            Timed::Connecting { since } => (Stage::Connecting, since),
            Timed::Open { since } => (Stage::Open, since),
            Timed::Closing { force_at, ours } => (
                match ours {
                    Ours::Pong => Stage::ClosingPong,
                    Ours::Idle => Stage::ClosingIdle,
                    Ours::Pings => Stage::ClosingPings,
                    Ours::Shutdown => Stage::ClosingShutdown,
                },
                force_at,
            ),
            Timed::Closed => (Stage::Closed, 0),
            Timed::Stopped => (Stage::Stopped, 0),
            Timed::GaveUp => (Stage::GaveUp, 0),
        }
    }

    #[inline(always)]
    fn unpack(stage: Stage, at: u64) -> Timed {
        let closing = |ours| Timed::Closing { force_at: at, ours };
        match stage {
            Stage::Backoff => Timed::Backoff { until: at },
            Stage::Connecting => Timed::Connecting { since: at },
            Stage::Open => Timed::Open { since: at },
            Stage::ClosingPong => closing(Ours::Pong),
            Stage::ClosingIdle => closing(Ours::Idle),
            Stage::ClosingPings => closing(Ours::Pings),
            Stage::ClosingShutdown => closing(Ours::Shutdown),
            Stage::Closed => Timed::Closed,
            Stage::Stopped => Timed::Stopped,
            Stage::GaveUp => Timed::GaveUp,
        }
    }
}

impl Stage {
    /// Whether the stage has a time of its own.
    #[cfg(feature = "alloc")]
    pub(crate) fn is_timed(self) -> bool {
        !matches!(self, Stage::Closed | Stage::Stopped | Stage::GaveUp)
    }
}

/// Why we closed: the four reasons of ours, in one byte.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Ours {
    Pong,
    Idle,
    Pings,
    Shutdown,
}

impl Ours {
    fn of(reason: CloseReason) -> Ours {
        match reason {
            CloseReason::PongTimeout => Ours::Pong,
            CloseReason::IdleTimeout => Ours::Idle,
            CloseReason::TooManyPings => Ours::Pings,
            _ => Ours::Shutdown,
        }
    }
    fn reason(self) -> CloseReason {
        match self {
            Ours::Pong => CloseReason::PongTimeout,
            Ours::Idle => CloseReason::IdleTimeout,
            Ours::Pings => CloseReason::TooManyPings,
            Ours::Shutdown => CloseReason::Shutdown,
        }
    }
}

/// The per-connection state. All times are nanoseconds of the caller's epoch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Conn {
    /// The last sign of the peer: bytes or a message from it.
    last_in: u64,
    /// The last outbound activity (data, a ping, bytes of ours taken).
    last_out: u64,
    /// When the last ping (or probe) left, or was asked for if not reported written yet;
    /// moved later while the path shows it still waiting behind our data (a hold).
    ping_at: u64,
    /// The deadline as of the last full pass; after traffic on the fast path, an early
    /// bound of it (traffic only ever moves deadlines later there).
    wake: u64,
    /// Ping policing's budget (GCRA's theoretical arrival time, kept [`PING_CREDIT`]
    /// ahead so that it never goes below zero): the time the peer's pings have used up,
    /// at one `min_ping_interval` each. It starts at the open, that is with the whole
    /// credit, and never falls more than the credit behind.
    ping_budget: u64,
    /// Where the connection is in its life ([`Timed`], kept as its kind and its time:
    /// see [`timed`](Self::timed)).
    stage: Stage,
    stage_at: u64,
    /// RFC 6298's estimator over the pongs' round trips, in µs ([`NO_RTT`]: none yet).
    srtt_us: u32,
    rttvar_us: u32,
    /// The transport's retransmission timeout, from its own estimate, in µs (0: none).
    path_rto_us: u32,
    ping_seq: u32,
    /// Reconnect attempts since the last stable connection (saturating).
    attempt: u16,
    flags: Flags,
    /// How many times the peer told us "too many pings": our interval is doubled so often.
    slowdown: u8,
    /// What the connections learned about the path's idle limit, carried from one to
    /// the next: a machine's (a set learns nothing, and keeps none). Its interval, in
    /// whole ms as the path's memory keeps it, is the one in force when the config
    /// learns (`keepalive_ceiling`).
    pub(crate) learned: Learned,
    /// How much sooner than the interval the first ping of this connection is due, in
    /// 256ths of the interval (0: none); drawn at the open, spent by the first ping. The
    /// last byte of what was padding.
    phase: u8,
}

impl Conn {
    /// A connection about to be attempted (or already being accepted) at `now`.
    pub(crate) fn new(cfg: &Config, now: Instant) -> Conn {
        let t = now.as_nanos();
        let mut conn = Conn {
            last_in: t,
            last_out: t,
            ping_at: t,
            wake: 0,
            ping_budget: t,
            stage: Stage::Connecting,
            stage_at: t,
            srtt_us: NO_RTT,
            rttvar_us: 0,
            path_rto_us: 0,
            ping_seq: 0,
            attempt: 0,
            flags: Flags::default(),
            slowdown: 0,
            learned: Learned::default(),
            phase: 0,
        };
        conn.refresh_wake(cfg, 0);
        conn
    }

    // ----- getters -----

    /// The public state at `now`.
    pub(crate) fn state(&self, now: u64) -> State {
        match self.timed() {
            Timed::Backoff { until } if until > now => State::Backoff,
            // The wait is over: a caller on its own timer may be connecting already.
            Timed::Backoff { .. } | Timed::Connecting { .. } => State::Connecting,
            Timed::Open { .. } => State::Open,
            Timed::Closing { .. } => State::Closing,
            Timed::Closed => State::Closed,
            Timed::Stopped => State::Stopped,
            Timed::GaveUp => State::GaveUp,
        }
    }
    pub(crate) fn is_paused(&self) -> bool {
        self.flags.is(Mode::Paused)
    }
    fn is_open(&self) -> bool {
        self.stage == Stage::Open
    }
    /// Where the connection is in its life.
    #[inline(always)]
    fn timed(&self) -> Timed {
        Timed::unpack(self.stage, self.stage_at)
    }

    #[inline(always)]
    fn set_timed(&mut self, timed: Timed) {
        (self.stage, self.stage_at) = timed.pack();
    }

    /// See [`steady`].
    #[inline(always)]
    fn steady(&self, now: u64) -> bool {
        steady(self, now)
    }
    pub(crate) fn ping_in_flight(&self) -> Option<PingId> {
        (self.is_open() && self.flags.in_flight()).then(|| self.current_ping())
    }
    pub(crate) fn pings_sent(&self) -> u32 {
        self.ping_seq
    }
    pub(crate) fn attempt(&self) -> u32 {
        u32::from(self.attempt)
    }
    pub(crate) fn last_heard(&self) -> u64 {
        self.last_in
    }
    /// The caller reads nothing for now (`true`), or reads again: see [`Mode::Unread`].
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn set_unread(&mut self, unread: bool) {
        self.flags.set(Mode::Unread, unread);
    }

    /// The round-trip estimator, in µs, for the path's memory: `(srtt, rttvar)` if a
    /// round trip was measured, and the transport's retransmission timeout (0: none).
    pub(crate) fn estimator(&self) -> (Option<(u32, u32)>, u32) {
        let srtt = (self.srtt_us != NO_RTT).then_some((self.srtt_us, self.rttvar_us));
        (srtt, self.path_rto_us)
    }

    /// Starts from a remembered estimator (a new connection on a path measured before).
    pub(crate) fn seed_estimator(&mut self, cfg: &Config, (srtt, rto): (Option<(u32, u32)>, u32)) {
        if let Some((srtt, rttvar)) = srtt {
            self.srtt_us = srtt.min(NO_RTT - 1);
            self.rttvar_us = rttvar;
        }
        self.path_rto_us = rto;
        self.refresh_wake(cfg, 0);
    }

    /// The smoothed round trip and its variance, from the pongs of this connection.
    pub(crate) fn srtt(&self) -> Option<(Duration, Duration)> {
        let us = |v: u32| Duration::from_micros(u64::from(v));
        (self.srtt_us != NO_RTT).then(|| (us(self.srtt_us), us(self.rttvar_us)))
    }

    fn current_ping(&self) -> PingId {
        PingId::new(u64::from(self.ping_seq))
    }

    // ----- the timeouts in force -----

    /// The ping interval in force: the configured one (stretched to the keepalive
    /// interval learned), doubled for each "too many pings" the peer said, never past
    /// what the path's idle limit leaves room for.
    pub(crate) fn ping_interval(&self, cfg: &Config) -> u64 {
        let t = &cfg.timing;
        let learned = match t.keepalive_ceiling {
            0 => 0,
            _ => self.learned.interval_ms(cfg),
        };
        let base = ms(t.ping_interval.max(learned));
        if self.slowdown == 0 {
            return base;
        }
        let mut slowed = base.saturating_mul(1 << self.slowdown).min(ms(86_400_000));
        if t.path_idle_limit != 0 {
            slowed = slowed.min(ms(t.path_idle_limit).saturating_sub(ms(t.pong_timeout)));
        }
        slowed.max(base)
    }

    /// `totals` with this connection's figures: the attempt, its round trips and the
    /// timeouts in force.
    pub(crate) fn in_force(&self, cfg: &Config, totals: crate::Stats) -> crate::Stats {
        let ns = Duration::from_nanos;
        let srtt = self.srtt();
        crate::Stats {
            attempt: self.attempt(),
            smoothed_rtt: srtt.map(|s| s.0),
            rtt_var: srtt.map(|s| s.1),
            ping_interval: ns(self.ping_interval(cfg)),
            pong_timeout: ns(self.pong_timeout(cfg)),
            dead_peer_bound: ns(self.dead_peer_bound(cfg)),
            ..totals
        }
    }

    /// The pong timeout in force: the configured one, or, when the path is slower,
    /// three retransmission timeouts of the measured round trip (at most [`FLOOR_CAP`]).
    pub(crate) fn pong_timeout(&self, cfg: &Config) -> u64 {
        let own = if self.srtt_us == NO_RTT {
            0
        } else {
            rto_us(self.srtt_us, self.rttvar_us)
        };
        let rto_ns = u64::from(own.max(self.path_rto_us)) * 1_000;
        let floor = (rto_ns * RTO_FLOOR).min(FLOOR_CAP.as_nanos() as u64);
        ms(cfg.timing.pong_timeout).max(floor)
    }

    /// How late a close deadline may be judged before it counts as a clock jump (a
    /// probe instead of a close): the pong timeout in force, at most a second.
    pub(crate) fn jump_tolerance(&self, cfg: &Config) -> u64 {
        self.pong_timeout(cfg).min(JUMP_CAP_NS)
    }

    /// The idle timeout in force (0: off): never shorter than a ping cycle in force when
    /// we ping, so it never pre-empts a pong the path makes slow.
    fn idle_timeout(&self, cfg: &Config) -> u64 {
        let t = &cfg.timing;
        if t.idle_timeout == 0 {
            return 0;
        }
        let idle = ms(t.idle_timeout);
        match t.ping_policy {
            PingPolicy::Never => idle,
            _ => idle.max(self.ping_cycle(cfg)),
        }
    }

    /// The dead-peer bound in force: from the last sign of the peer, a ping interval and
    /// a pong timeout in force, or the idle timeout when we never ping. (While we ping,
    /// the idle timeout in force is never shorter than that cycle: it cannot tighten it.)
    pub(crate) fn dead_peer_bound(&self, cfg: &Config) -> u64 {
        match cfg.timing.ping_policy {
            PingPolicy::Never => self.idle_timeout(cfg),
            _ => self.ping_cycle(cfg),
        }
    }

    /// A ping interval and a pong timeout, both in force: the longest a live peer may
    /// stay silent while we ping.
    fn ping_cycle(&self, cfg: &Config) -> u64 {
        self.ping_interval(cfg)
            .saturating_add(self.pong_timeout(cfg))
    }

    // ----- the entry point -----

    /// Applies `event` at `now`, then runs every timer that is due. The caller keeps
    /// time monotonic: `now` is the latest time it has seen.
    #[inline]
    pub(crate) fn handle(
        &mut self,
        cfg: &Config,
        now: u64,
        event: Event,
        counters: &mut Counters,
        not_before: u64,
    ) -> Actions {
        let fast = fast_path(self, cfg, now, event);
        if fast & SLOW == 0 {
            traffic(self, fast, now);
            return Actions::pong_if(fast & PONG != 0);
        }
        self.slow(cfg, now, event, counters, not_before)
    }

    /// Every rule: the event, then every timer that is due, then the next deadline.
    #[inline(never)]
    fn slow(
        &mut self,
        cfg: &Config,
        now: u64,
        event: Event,
        counters: &mut Counters,
        not_before: u64,
    ) -> Actions {
        // A policed ping where the fast path applies otherwise: it uses its budget, and
        // only one too many needs the rest of the pass (which counts it again, and closes).
        if event == Event::PingReceived && self.steady(now) {
            let budget = self.ping_budget;
            if self.police(cfg, now) == Policed::Within {
                traffic(self, HEARD | PONG, now);
                return Actions::pong_if(true);
            }
            self.ping_budget = budget;
        }
        let mut out = Actions::new();
        self.apply(cfg, now, event, &mut out, counters, not_before);
        // Deadlines armed by the event lie at least 1 ms ahead, except at Instant::MAX,
        // where every deadline saturates to now: there, one transition per call, so a
        // probe or a reconnect is never undone by its own deadline in the same call.
        if now < u64::MAX || out.is_empty() {
            self.run_timers(cfg, now, &mut out, counters, not_before);
        }
        self.refresh_wake(cfg, not_before);
        out
    }

    /// Sets `wake` to the deadline the rules compute now, no close for silence before
    /// `not_before` (see [`close_deadline`](Self::close_deadline)).
    pub(crate) fn refresh_wake(&mut self, cfg: &Config, not_before: u64) {
        match self.deadline(cfg, not_before) {
            Some(t) => {
                self.wake = t;
                self.flags.set(Mode::NoWake, false);
            }
            None => self.flags.set(Mode::NoWake, true),
        }
    }

    /// When to call `handle` next: the earliest time at which it may have something to
    /// do, never before `now` (the latest time seen); `None` when nothing will happen
    /// without an event. After fast-path traffic this is an early bound (the deadline as
    /// it was), and a tick there recomputes it: waking early is harmless.
    #[inline]
    pub(crate) fn next_deadline(&self, now: u64) -> Option<u64> {
        self.wake().map(|t| t.max(now))
    }

    /// When to wake: the deadline, or an early bound of it after fast-path traffic.
    #[inline]
    pub(crate) fn wake(&self) -> Option<u64> {
        (!self.flags.is(Mode::NoWake)).then_some(self.wake)
    }

    /// The deadline as the rules compute it, which may lie before the latest `now` (a
    /// caller that is late). Right after any `handle` it lies after that call's `now`,
    /// except at `Instant::MAX`.
    #[inline]
    pub(crate) fn deadline(&self, cfg: &Config, not_before: u64) -> Option<u64> {
        if self.flags.is(Mode::Paused) && !matches!(self.timed(), Timed::Closing { .. }) {
            return None;
        }
        match self.timed() {
            Timed::Backoff { until } => Some(until),
            Timed::Connecting { since } => Some(add_ms(since, cfg.timing.connect_timeout)),
            Timed::Open { .. } => {
                let close = self
                    .close_deadline(cfg)
                    .map(|(at, _)| deferred(at, not_before));
                match (close, self.ping_due(cfg)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Timed::Closing { force_at, .. } => Some(force_at),
            Timed::Closed | Timed::Stopped | Timed::GaveUp => None,
        }
    }

    // ----- events -----

    fn apply(
        &mut self,
        cfg: &Config,
        now: u64,
        event: Event,
        out: &mut Actions,
        counters: &mut Counters,
        not_before: u64,
    ) {
        let open = self.is_open();
        let class = fast_class(event);
        if open && class & SLOW == 0 {
            // The times traffic moves, by the fast path's own rule; a sign of the peer
            // also answers a probe.
            traffic(self, class, now);
            if class & HEARD != 0 {
                self.flags.set(Mode::Probing, false);
            }
        }
        match event {
            Event::Tick => {}
            Event::Connected => match self.timed() {
                Timed::Backoff { .. } | Timed::Connecting { .. } | Timed::Open { .. } => {
                    self.open(cfg, now)
                }
                Timed::Closing { .. } if !self.flags.is(Mode::Shutdown) => self.open(cfg, now),
                _ => {}
            },
            // During the wait too: a caller on its own timer may have fired early.
            Event::ConnectFailed
                if matches!(
                    self.timed(),
                    Timed::Backoff { .. } | Timed::Connecting { .. }
                ) =>
            {
                self.lost(cfg, now, CloseReason::Transport, out, counters)
            }
            Event::Disconnected => self.ended(cfg, now, CloseReason::Transport, out, counters),
            Event::Closed(reason) => self.ended(cfg, now, reason, out, counters),
            Event::PingReceived if open => match self.police(cfg, now) {
                Policed::TooMany => self.close(cfg, now, CloseReason::TooManyPings, out),
                policed => {
                    if policed == Policed::Strike {
                        out.tell(TOLD_STRIKE);
                    }
                    out.push(Action::SendPong);
                }
            },
            // Our ping's answer (a pong that answers none is a sign of life only).
            Event::PongReceived(id)
                if open
                    && self.flags.in_flight()
                    && id.map_or(true, |id| id == self.current_ping()) =>
            {
                let rtt_us = u32::try_from((now - self.ping_at) / 1_000)
                    .unwrap_or(NO_RTT - 1)
                    .min(NO_RTT - 1);
                // Read while the caller catches up after a stall of its own: the round
                // trip includes the stall, and is no sample either.
                if !self.flags.is(Mode::Queued) && now >= not_before {
                    self.sample(rtt_us);
                }
                self.flags.set_ping(Ping::Idle);
                self.flags.set(Mode::Queued, false);
                counters.pong(rtt_us);
                out.tell(TOLD_PONG);
            }
            Event::DataReceived if open => self.round_trip_unsampled(),
            // The path took our bytes: no sign of the peer, but a ping still in our own
            // buffers behind them has not had its chance yet.
            Event::DataDelivered if open && self.flags.ping() == Ping::Unwritten => self.hold(now),
            Event::PathMoved { ago } if open => self.hold(now.saturating_sub(nanos(ago))),
            Event::PathHeard { ago } if open => {
                // The transport's record of the peer's last segment: life as of then,
                // not now (it may predate a path that died since).
                let at = now.saturating_sub(nanos(ago));
                if at > self.ping_at {
                    // The pong may have waited behind it (Karn's rule). A caller that reads
                    // nothing can learn no more than this: the peer was alive after our
                    // ping left. Its pong waits unread: answered (no round trip: these
                    // bytes may not be the pong).
                    self.round_trip_unsampled();
                    if self.flags.is(Mode::Unread) && !self.ping_waits_behind_data() {
                        self.flags.set_ping(Ping::Idle);
                    }
                }
                if at > self.last_in && at > self.ping_at {
                    self.heard(at);
                } else {
                    self.last_in = self.last_in.max(at);
                }
            }
            Event::PingWritten(id) if open && id == self.current_ping() => {
                self.flags.set(Mode::WritesReported, true);
                if self.flags.ping() == Ping::Unwritten {
                    // The pong clock (and the round trip) start now that the ping left.
                    self.flags.set_ping(Ping::Written);
                    self.flags.set(Mode::Queued, false);
                    self.ping_at = self.ping_at.max(now);
                }
            }
            Event::PathRtt { srtt, rttvar } if open => {
                let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
                self.path_rto_us = rto_us(us(srtt), us(rttvar));
            }
            Event::Pause if self.is_live() => self.flags.set(Mode::Paused, true),
            Event::Resume if self.flags.is(Mode::Paused) => {
                self.flags.set(Mode::Paused, false);
                match self.timed() {
                    Timed::Open { .. } => {
                        self.flags.set(Mode::Probing, false);
                        self.probe(cfg, now, out);
                    }
                    Timed::Backoff { .. } | Timed::Connecting { .. } => {
                        self.connect_now(cfg, now, out)
                    }
                    _ => {}
                }
            }
            Event::NetworkChanged if !self.flags.is(Mode::Paused) => match self.timed() {
                Timed::Open { .. } if !self.flags.is(Mode::Probing) => self.probe(cfg, now, out),
                // Only the wait is cut short; an attempt in progress has its own timeout,
                // and a flapping network must not become a connect storm.
                Timed::Backoff { until } if until > now => self.connect_now(cfg, now, out),
                _ => {}
            },
            Event::Shutdown => match self.timed() {
                Timed::Open { .. } => {
                    self.flags.set(Mode::Shutdown, true);
                    self.close(cfg, now, CloseReason::Shutdown, out);
                }
                Timed::Backoff { .. } | Timed::Connecting { .. } => {
                    out.push(Action::AbortConnect);
                    self.set_timed(Timed::Stopped);
                }
                Timed::Closing { .. } => self.flags.set(Mode::Shutdown, true),
                _ => {}
            },
            _ => {}
        }
        // The peer answered after a silent gap: the path held that long.
        if self.flags.gap() != Gap::None && self.last_in > self.ping_at {
            if self.flags.gap() == Gap::Full {
                out.tell(TOLD_GAP_HELD);
            }
            self.flags.set_gap(Gap::None);
        }
    }

    /// Whether an attempt may be under way: connecting, or past the end of the wait (a
    /// caller on its own timer may have started one).
    fn attempting(&self, now: u64) -> bool {
        match self.timed() {
            Timed::Connecting { .. } => true,
            Timed::Backoff { until } => until <= now,
            _ => false,
        }
    }

    /// The transport is gone, for `reason`.
    fn ended(
        &mut self,
        cfg: &Config,
        now: u64,
        reason: CloseReason,
        out: &mut Actions,
        c: &mut Counters,
    ) {
        match self.timed() {
            Timed::Open { since } => {
                // Lost right after a silent gap, nothing heard since: evidence of how long
                // the path stays open (a close the peer chose is not).
                if self.flags.gap() != Gap::None && reason == CloseReason::Transport {
                    out.tell(TOLD_GAP_LOST);
                }
                // The peer polices pings: the next connection pings half as often.
                if reason == CloseReason::TooManyPings
                    && cfg.timing.role == Role::Client
                    && self.slowdown < MAX_SLOWDOWN
                {
                    self.slowdown += 1;
                    out.tell(TOLD_SLOWER);
                }
                self.leave_open(cfg, now, since);
                self.lost(cfg, now, reason, out, c);
            }
            // Our own close completed: its reason stands.
            Timed::Closing { ours, .. } => self.lost(cfg, now, ours.reason(), out, c),
            // A failed attempt (after the wait, a caller on its own timer may have
            // started one; during it, this is a late report of the old connection).
            _ if self.attempting(now) => self.lost(cfg, now, reason, out, c),
            _ => {}
        }
    }

    /// The ping in flight was still on its way behind our own data at `at`: its pong
    /// clock, and its round trip, start no earlier (the round trip then measures the
    /// path from where the ping had got to, queues included, which is what the pong
    /// timeout's floor must cover). Only the path moved: nothing of the peer is heard.
    fn hold(&mut self, at: u64) {
        if self.flags.in_flight() && at > self.ping_at {
            self.ping_at = at;
        }
    }

    /// The round trip of the ping in flight will be no sample: its pong may have waited
    /// behind the peer's data (Karn's rule), or the caller's own process did not run for
    /// a while and the round trip includes that.
    pub(crate) fn round_trip_unsampled(&mut self) {
        if self.flags.in_flight() {
            self.flags.set(Mode::Queued, true);
        }
    }

    /// The ping in flight is still waiting behind our own data: the caller reports when
    /// pings leave, and has not reported this one.
    fn ping_waits_behind_data(&self) -> bool {
        self.flags.ping() == Ping::Unwritten && self.flags.is(Mode::WritesReported)
    }

    /// A sign of the peer at `now`: it is alive, and any probe is answered.
    fn heard(&mut self, now: u64) {
        self.last_in = now;
        self.flags.set(Mode::Probing, false);
    }

    /// Ping policing: what the peer's ping at `now` is. Each ping uses one
    /// `min_ping_interval` of the peer's budget, which grows with time (credit for a
    /// minute of quiet and at most [`PING_BURST`] pings, all of it at the open); a ping
    /// beyond it is a strike, and more than `max_ping_strikes` of them close. Our data
    /// forgives them.
    fn police(&mut self, cfg: &Config, now: u64) -> Policed {
        let min = cfg.timing.min_ping_interval;
        if min == 0 {
            return Policed::Within;
        }
        let full = now.saturating_add(full_lag(cfg));
        self.ping_budget = add_ms(self.ping_budget.max(full), min);
        // How far past the budget the peer is, in pings: the first one past it is the
        // one a ping interval lets through; after it each counts as a strike.
        let limit = now.saturating_add(PING_CREDIT).saturating_add(ms(min));
        let strikes = u64::from(cfg.timing.max_ping_strikes);
        if self.ping_budget <= limit {
            Policed::Within
        } else if self.ping_budget <= limit.saturating_add(ms(min).saturating_mul(strikes)) {
            Policed::Strike
        } else {
            Policed::TooMany
        }
    }

    /// See [`budget_full`].
    #[cfg(feature = "alloc")]
    pub(crate) fn budget_full(&self, lag: u64) -> bool {
        budget_full(self.ping_budget, self.last_in, lag)
    }

    /// A round trip of `rtt_us` into RFC 6298's estimator.
    fn sample(&mut self, rtt_us: u32) {
        if self.srtt_us == NO_RTT {
            self.srtt_us = rtt_us;
            self.rttvar_us = rtt_us / 2;
        } else {
            let (srtt, var, r) = (
                u64::from(self.srtt_us),
                u64::from(self.rttvar_us),
                u64::from(rtt_us),
            );
            // rttvar = 3/4 rttvar + 1/4 |srtt - r|; srtt = 7/8 srtt + 1/8 r: both stay
            // within u32, as their inputs do.
            self.rttvar_us = ((3 * var + srtt.abs_diff(r)) / 4) as u32;
            self.srtt_us = ((7 * srtt + r) / 8) as u32;
        }
    }

    fn is_live(&self) -> bool {
        matches!(
            self.timed(),
            Timed::Backoff { .. }
                | Timed::Connecting { .. }
                | Timed::Open { .. }
                | Timed::Closing { .. }
        )
    }

    /// What a random draw at `now` starts from: time and ping count vary per connection
    /// and per draw, and a replay repeats them.
    fn entropy(&self, now: u64) -> u64 {
        now ^ u64::from(self.ping_seq).rotate_left(32)
    }

    /// A fresh connection: nothing of the previous one survives (but the slowdown a peer
    /// asked for, which is the point of asking, and the round trips measured on the
    /// path, which only lengthen the pong timeout).
    fn open(&mut self, cfg: &Config, now: u64) {
        self.set_timed(Timed::Open { since: now });
        self.phase = if cfg.timing.spread_pings {
            // Uniform over 0..=MAX_PHASE: the first ping comes after an eighth to all of
            // the interval (never right after the open, which just proved the peer alive).
            let r = backoff::mix(cfg.timing.seed ^ backoff::mix(self.entropy(now)));
            ((r >> 32) % u64::from(MAX_PHASE + 1)) as u8
        } else {
            0
        };
        self.last_in = now;
        self.last_out = now;
        self.ping_at = now;
        self.ping_budget = now;
        // The round trips measured stay: the path is the same, and the pong timeout's
        // floor must not reset at each reconnect (it only ever lengthens a deadline).
        self.flags.forget_ping();
    }

    /// Resume or a network change while not connected: connect now. A pending attempt is
    /// brought forward, one in progress (begun before a pause) is restarted; neither
    /// counts as a new attempt.
    fn connect_now(&mut self, cfg: &Config, now: u64, out: &mut Actions) {
        if cfg.timing.role == Role::Server {
            // A server never connects out: its handshake just gets a fresh timeout.
            if let Timed::Connecting { .. } = self.timed() {
                self.set_timed(Timed::Connecting { since: now });
            }
            return;
        }
        if self.attempting(now) {
            out.push(Action::AbortConnect);
        }
        out.push(Action::Reconnect {
            after: Duration::ZERO,
        });
        out.push(Action::Connect);
        self.set_timed(Timed::Connecting { since: now });
    }

    // ----- timers -----

    fn run_timers(
        &mut self,
        cfg: &Config,
        now: u64,
        out: &mut Actions,
        counters: &mut Counters,
        not_before: u64,
    ) {
        if self.flags.is(Mode::Paused) && !matches!(self.timed(), Timed::Closing { .. }) {
            return;
        }
        match self.timed() {
            Timed::Backoff { until } if now >= until => {
                // The wait is over: the attempt starts now, and its timeout with it.
                out.push(Action::Connect);
                self.set_timed(Timed::Connecting { since: now });
            }
            Timed::Connecting { since } if now >= add_ms(since, cfg.timing.connect_timeout) => {
                out.push(Action::AbortConnect);
                self.lost(cfg, now, CloseReason::ConnectTimeout, out, counters);
            }
            Timed::Open { .. } => {
                if let Some((raw, reason)) = self.close_deadline(cfg) {
                    let at = deferred(raw, not_before);
                    if at <= now {
                        // Late against the deadline handed out, not one the event just
                        // moved earlier (a faster path shortens the pong timeout): only
                        // a caller that slept past its wake-up saw a clock jump. Counted
                        // from the deadline's millisecond, rounded up: the grain a set
                        // keeps wake-ups at, so that both judge lateness alike. A wait
                        // for reads (`not_before`) is the caller's own lateness: it
                        // counts from the rules' deadline, so a long stall still probes.
                        let handed_out = match at > raw {
                            true => raw,
                            false => self.wake().map_or(at, |w| w.max(at)),
                        };
                        let late = now.saturating_sub(round_up_ms(handed_out));
                        let tolerance = self.jump_tolerance(cfg);
                        if late > tolerance && !self.flags.is(Mode::Probing) {
                            self.probe(cfg, now, out);
                        } else {
                            counters.timeout();
                            self.close(cfg, now, reason, out);
                            return;
                        }
                    }
                }
                if self.ping_due(cfg).is_some_and(|at| at <= now) {
                    self.send_ping(cfg, now, out);
                }
            }
            Timed::Closing { force_at, ours } if now >= force_at => {
                out.push(Action::ForceClose);
                self.lost(cfg, now, ours.reason(), out, counters);
            }
            _ => {}
        }
    }

    /// The earliest close deadline while open, and its reason (pong first on a tie).
    #[inline]
    fn close_deadline(&self, cfg: &Config) -> Option<(u64, CloseReason)> {
        let pong_timeout = self.pong_timeout(cfg);
        let pong = self.flags.in_flight().then(|| {
            (
                self.ping_at.max(self.last_in).saturating_add(pong_timeout),
                CloseReason::PongTimeout,
            )
        });
        let idle = match self.idle_timeout(cfg) {
            0 => None,
            idle => {
                let mut at = self.last_in.saturating_add(idle);
                if self.flags.is(Mode::Probing) {
                    at = at.max(self.ping_at.saturating_add(pong_timeout));
                }
                Some((at, CloseReason::IdleTimeout))
            }
        };
        match (pong, idle) {
            (Some(p), Some(i)) => Some(if i.0 < p.0 { i } else { p }),
            (p, i) => p.or(i),
        }
    }

    /// When the next ping is due while open, if one may be sent at all.
    #[inline]
    fn ping_due(&self, cfg: &Config) -> Option<u64> {
        let full = self.ping_interval(cfg);
        // The first ping of a connection goes at its phase (see `spread_pings`).
        let interval = full - full / 256 * u64::from(self.phase);
        let due = match cfg.timing.ping_policy {
            PingPolicy::WhenIdle => self.last_in.min(self.last_out).saturating_add(interval),
            PingPolicy::Fixed => self.ping_at.saturating_add(interval),
            PingPolicy::Never => return None,
        };
        if !self.flags.in_flight() {
            return Some(due);
        }
        // A ping still waiting behind our own data has not had its chance: never replace it.
        if self.ping_waits_behind_data() {
            return None;
        }
        // A ping in flight may be replaced only once it is pong_timeout old and the peer
        // has spoken since it went out, within the last ping_interval.
        if self.last_in > self.ping_at {
            let at = due.max(self.ping_at.saturating_add(self.pong_timeout(cfg)));
            if at < self.last_in.saturating_add(full) {
                return Some(at);
            }
        }
        None
    }

    fn send_ping(&mut self, cfg: &Config, now: u64, out: &mut Actions) {
        // A keepalive after a silent gap of the interval in force: nothing of ours for
        // the interval (not much longer: a caller that slept probes a gap that says
        // nothing of the path), and nothing of the peer's for most of it (the last
        // ping's answer may have come a little after that ping).
        let interval = self.ping_interval(cfg);
        let pong = self.pong_timeout(cfg);
        let (out_quiet, in_quiet) = (
            now.saturating_sub(self.last_out),
            now.saturating_sub(self.last_in),
        );
        let gap = out_quiet >= interval
            && out_quiet <= interval.saturating_add(pong.min(JUMP_CAP_NS))
            && in_quiet.saturating_add(pong.min(interval / 2)) >= interval;
        // A first ping at its phase, after silence both ways since the open.
        let short = !gap
            && out_quiet < interval
            && self.phase != 0
            && matches!(self.timed(), Timed::Open { since } if self.last_in == since && self.last_out == since);
        self.ping_seq = self.ping_seq.wrapping_add(1);
        self.phase = 0;
        self.ping_at = now;
        self.last_out = now;
        self.flags.set_ping(Ping::Unwritten);
        self.flags.set(Mode::Queued, false);
        self.flags.set_gap(match (gap, short) {
            (true, _) => Gap::Full,
            (false, true) => Gap::Short,
            (false, false) => Gap::None,
        });
        out.push(Action::SendPing(self.current_ping()));
    }

    /// One probe per silence: a ping now (unless one just went) and a fresh pong timeout.
    fn probe(&mut self, cfg: &Config, now: u64, out: &mut Actions) {
        self.flags.set(Mode::Probing, true);
        if cfg.timing.ping_policy == PingPolicy::Never {
            self.ping_at = now; // no ping: only the grace
        } else if !(self.flags.in_flight() && self.ping_at == now) {
            self.send_ping(cfg, now, out);
        }
    }

    // ----- leaving a connection -----

    fn close(&mut self, cfg: &Config, now: u64, reason: CloseReason, out: &mut Actions) {
        if let Timed::Open { since } = self.timed() {
            self.leave_open(cfg, now, since);
        }
        if self.flags.gap() != Gap::None && reason == CloseReason::PongTimeout {
            out.tell(TOLD_GAP_LOST); // the ping after the gap went unanswered
        }
        self.set_timed(Timed::Closing {
            force_at: add_ms(now, cfg.timing.close_timeout),
            ours: Ours::of(reason),
        });
        self.flags.forget_ping();
        out.push(Action::Close(reason));
    }

    /// A connection that stayed up `stable_after` ends the streak of attempts.
    fn leave_open(&mut self, cfg: &Config, now: u64, since: u64) {
        if now >= add_ms(since, cfg.reconnect.stable_after) {
            self.attempt = 0;
        }
    }

    /// The connection (or attempt) is gone, for `reason`: wait to reconnect, give up, or
    /// finish. The config decides from the reason; every decision but giving up counts as
    /// an attempt.
    fn lost(
        &mut self,
        cfg: &Config,
        now: u64,
        reason: CloseReason,
        out: &mut Actions,
        counters: &mut Counters,
    ) {
        self.flags.forget_ping();
        if self.flags.is(Mode::Shutdown) {
            self.set_timed(Timed::Stopped);
            return;
        }
        if cfg.timing.role == Role::Server {
            self.set_timed(Timed::Closed);
            return;
        }
        let decision = cfg.decide(reason);
        let fatal = decision == Decision::GiveUp;
        if fatal || u32::from(self.attempt) >= cfg.reconnect.max_attempts {
            self.set_timed(Timed::GaveUp);
            out.push(Action::GiveUp { reason, fatal });
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        counters.reconnect();
        let after = backoff::wait_nanos(cfg, decision, u32::from(self.attempt), self.entropy(now));
        self.set_timed(Timed::Backoff {
            until: now.saturating_add(after),
        });
        out.push(Action::Reconnect {
            after: Duration::from_nanos(after),
        });
    }
}

/// What the fast path reads and writes, wherever a connection is kept: a machine's
/// [`Conn`] itself, or a set's packed slot (see [`packed`]). The fast path is written
/// once, in [`traffic`]; everything else runs on a `Conn`.
pub(crate) trait Kept {
    fn is_open(&self) -> bool;
    fn flags(&self) -> Flags;
    fn wake(&self) -> u64;
    fn last_in(&self) -> u64;
    fn last_out(&self) -> u64;
    fn ping_budget(&self) -> u64;
    fn set_traffic(&mut self, last_in: u64, last_out: u64, ping_budget: u64);
}

impl Kept for Conn {
    #[inline(always)]
    fn is_open(&self) -> bool {
        Conn::is_open(self)
    }
    #[inline(always)]
    fn flags(&self) -> Flags {
        self.flags
    }
    #[inline(always)]
    fn wake(&self) -> u64 {
        self.wake
    }
    #[inline(always)]
    fn last_in(&self) -> u64 {
        self.last_in
    }
    #[inline(always)]
    fn last_out(&self) -> u64 {
        self.last_out
    }
    #[inline(always)]
    fn ping_budget(&self) -> u64 {
        self.ping_budget
    }
    #[inline(always)]
    fn set_traffic(&mut self, last_in: u64, last_out: u64, ping_budget: u64) {
        self.last_in = last_in;
        self.last_out = last_out;
        self.ping_budget = ping_budget;
    }
}

/// Open, with no ping in flight, no probe, no pause, and nothing due before `wake`:
/// traffic then only moves deadlines later, so the fast path may skip the full pass.
#[inline(always)]
fn steady<C: Kept>(c: &C, now: u64) -> bool {
    c.is_open() && c.flags().steady() && now < c.wake()
}

/// The fast path: traffic (or an early tick) on an open connection with no ping in
/// flight, no probe and no pause, before the deadline. These events only ever move
/// deadlines later, so `wake` stays an early bound and nothing can be due: the full pass
/// is skipped. Returns the event's class for [`traffic`], with `SLOW` when the full pass
/// is needed. The event's kind becomes a few bits (a table look-up), and the times move
/// without a branch on it: a busy connection's events come in no pattern a branch
/// predictor could learn. A policed ping goes to the full pass, which takes a short cut
/// of its own.
///
/// (A class, not an `Option` of the pong: the machine's caller then builds its actions
/// in place; through an `Option` they took a copy, and a third of the time per event.)
#[inline(always)]
pub(crate) fn fast_path<C: Kept>(c: &C, cfg: &Config, now: u64, event: Event) -> u8 {
    let fast = fast_class(event);
    let policed = (cfg.timing.min_ping_interval != 0) as u8 * PONG;
    if fast & (SLOW | policed) == 0 && steady(c, now) {
        fast
    } else {
        SLOW
    }
}

/// Traffic of class `fast` (from [`fast_path`]) at `now`: the times it moves.
#[inline(always)]
pub(crate) fn traffic<C: Kept>(c: &mut C, fast: u8, now: u64) {
    // Each time moves by arithmetic on a mask, not a branch.
    let (last_in, last_out, budget) = (c.last_in(), c.last_out(), c.ping_budget());
    let last_in = pick(fast & HEARD, now, last_in);
    let last_out = pick(fast & BUSY, now, last_out);
    // Our data forgives the peer's strikes (gRFC A8): its budget restarts now.
    let budget = pick(
        fast & SENT,
        budget.min(now.saturating_add(PING_CREDIT)),
        budget,
    );
    c.set_traffic(last_in, last_out, budget);
}

/// RFC 6298's retransmission timeout, `SRTT + max(G, 4 × RTTVAR)`, in µs. No lower
/// bound of a second (RFC 6298's 2.4, and Linux's 200 ms): on a fast quiet path the
/// configured pong timeout must hold.
fn rto_us(srtt_us: u32, rttvar_us: u32) -> u32 {
    srtt_us.saturating_add(rttvar_us.saturating_mul(4).max(GRANULARITY_US))
}

/// The fast path's view of an event: it is a sign of the peer (`HEARD`), outbound
/// activity (`BUSY`), data we sent (`SENT`), asks for a pong (`PONG`), or needs the full
/// pass (`SLOW`).
const HEARD: u8 = 1;
const BUSY: u8 = 2;
pub(crate) const PONG: u8 = 4;
pub(crate) const SLOW: u8 = 8;
const SENT: u8 = 16;

/// `a` if `bit` is set, else `b`, by a mask: no branch for a predictor to miss.
#[inline(always)]
fn pick(bit: u8, a: u64, b: u64) -> u64 {
    let m = u64::from(bit != 0).wrapping_neg();
    b ^ ((a ^ b) & m)
}

/// Kept out of line on purpose: compiled alone, the match is one table look-up; inlined
/// into `handle`, the optimiser threads the branches that follow through it and makes
/// an indirect jump per kind of event, which a busy connection's events (in no pattern)
/// mispredict: 14.8 ns an event against 9.1 on `benches/machine.rs`'s unpredictable
/// trace, for 0.4 ns more on the periodic one.
#[inline(never)]
fn fast_class(event: Event) -> u8 {
    match event {
        // With no ping in flight, a pong is a sign of life only, like data.
        Event::DataReceived | Event::PongReceived(_) => HEARD,
        Event::DataSent => BUSY | SENT,
        // The path took our bytes: with no ping in flight, only outbound activity.
        Event::DataDelivered => BUSY,
        Event::PingReceived => HEARD | PONG,
        Event::Tick => 0,
        _ => SLOW,
    }
}

fn ms(v: u32) -> u64 {
    u64::from(v) * NS_PER_MS
}

/// Where a ping at `now` starts the peer's budget from, less `now`: the budget is kept
/// [`PING_CREDIT`] ahead, so `now` would be a peer with a minute of credit; it has at most
/// [`PING_BURST`] pings of it.
pub(crate) fn full_lag(cfg: &Config) -> u64 {
    PING_CREDIT - PING_CREDIT.min(ms(cfg.timing.min_ping_interval).saturating_mul(PING_BURST))
}

/// Whether a peer's ping `budget` is full: at or below where a ping from the last sign
/// of the peer (`last_in`) on starts it, so that any such value behaves alike (a ping
/// raises it to its own start first, and our data only lowers what lies above that).
/// `lag`: [`full_lag`] of the config. (Only a set needs to know: it keeps a full budget
/// as no bytes at all.)
#[cfg(feature = "alloc")]
#[inline(always)]
pub(crate) fn budget_full(budget: u64, last_in: u64, lag: u64) -> bool {
    budget <= last_in.saturating_add(lag)
}

/// A close deadline `at`, deferred to `not_before` while a driver whose own process did
/// not run reads what reached the socket meanwhile (0: no wait), but never more than two
/// seconds past it (a stall of up to a second before the wake, and as long again for the
/// reads), however often the caller is late: under a lasting overload the dead are still
/// closed.
fn deferred(at: u64, not_before: u64) -> u64 {
    at.max(not_before.min(at.saturating_add(2 * JUMP_CAP_NS)))
}

/// `t` rounded up to its millisecond (saturating in the last one).
pub(crate) fn round_up_ms(t: u64) -> u64 {
    t.div_ceil(NS_PER_MS).saturating_mul(NS_PER_MS)
}

fn add_ms(t: u64, v: u32) -> u64 {
    t.saturating_add(ms(v))
}
