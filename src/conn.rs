//! One connection's state and every timing rule, written once.
//!
//! [`Conn`] holds only what varies per connection (48 bytes); the rules read the shared
//! [`Config`], and the caller keeps the clock (the latest `now`) and the statistics
//! (through [`Observer`]). `HeartbeatMachine` pairs one `Config` with one `Conn`;
//! `HeartbeatSet` shares one `Config` and one clock among many `Conn`s. Both call the
//! same functions.
//!
//! # The rules
//!
//! While open and not paused there are at most three deadlines, all derived from four
//! times (`last_in`, `last_out`, `ping_at`, the phase time), so none can go stale:
//!
//! | deadline | when | then |
//! |---|---|---|
//! | ping | `WhenIdle`: `min(last_in, last_out) + ping_interval`; `Fixed`: `ping_at + ping_interval` | `SendPing` (at most one per call) |
//! | pong | a ping in flight: `max(ping_at, last_in) + pong_timeout` | `Close(PongTimeout)` |
//! | idle | `idle_timeout` set: `last_in + idle_timeout` (never before a probe's `pong_timeout`) | `Close(IdleTimeout)` |
//!
//! A ping stays in flight until its pong, so at most one is ever outstanding. It is
//! replaced early only when the peer is visibly alive (it sent something after the ping,
//! within the last `ping_interval`) and the ping is `pong_timeout` old: then it is lost,
//! not fatal, and the next ping may go. That keeps an outbound keepalive going to a peer
//! that streams data but never answers pings, without stretching the dead-peer bound.
//!
//! The deadline is computed once per full pass and kept (`wake`). Traffic on an open
//! connection with no ping in flight, no probe and no pause only ever moves deadlines
//! later, so before `wake` it takes a fast path that records the time and returns:
//! `wake` is then an early bound, and the tick there recomputes it. The oracle checks
//! that it is never later than the deadline the rules give.
//!
//! A close deadline overdue by more than `min(pong_timeout, 1 s)` means the caller was not
//! running (laptop sleep, a throttled tab, a stopped process): the peer's answer may be
//! sitting unread. Instead of closing, the machine sends one probe ping and allows a fresh
//! `pong_timeout`; a second overdue deadline in the same silence closes.

use crate::backoff;
use crate::config::{Config, PingPolicy, Role};
use crate::event::{Action, Actions, CloseReason, Event, PingId};
use crate::machine::State;
use crate::time::{Instant, NS_PER_MS};
use core::time::Duration;

/// The largest lateness tolerated before a deadline counts as a clock jump.
const JUMP_CAP_NS: u64 = 1_000_000_000;

const IN_FLIGHT: u8 = 1;
const PROBING: u8 = 2;
const PAUSED: u8 = 4;
const SHUTDOWN: u8 = 8;
/// No deadline: nothing happens without an event.
const NO_WAKE: u8 = 16;

/// Where a connection is in its life.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Waiting to connect (`phase_at` in the future: backoff) or connecting (`phase_at`
    /// is when the attempt started).
    Connecting,
    /// Open since `phase_at`.
    Open,
    /// Close sent; forced at `phase_at`.
    Closing,
    /// Server: the connection is over.
    Closed,
    /// Shut down.
    Stopped,
    /// Client: `max_attempts` exhausted.
    GaveUp,
}

/// What the rules report for statistics; the caller decides what to keep.
pub(crate) trait Observer {
    /// A pong acknowledged the ping in flight after `rtt_ns`.
    fn pong(&mut self, rtt_ns: u64);
    /// A connection closed for a pong or idle timeout.
    fn timeout(&mut self);
    /// A reconnect was asked for.
    fn reconnect(&mut self);
}

/// The per-connection state. All times are nanoseconds of the caller's epoch.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    last_in: u64,
    last_out: u64,
    /// When the last ping (or probe) was sent.
    ping_at: u64,
    /// Depends on the phase, see [`Phase`].
    phase_at: u64,
    /// The deadline as of the last full pass; after traffic on the fast path, an early
    /// bound of it (traffic only ever moves deadlines later there).
    wake: u64,
    ping_seq: u32,
    /// Reconnect attempts since the last stable connection (saturating).
    attempt: u16,
    phase: Phase,
    flags: u8,
}

impl Conn {
    /// A connection about to be attempted (or already being accepted) at `now`.
    pub(crate) fn new(cfg: &Config, now: Instant) -> Conn {
        let t = now.as_nanos();
        let mut conn = Conn {
            last_in: t,
            last_out: t,
            ping_at: t,
            phase_at: t,
            wake: 0,
            ping_seq: 0,
            attempt: 0,
            phase: Phase::Connecting,
            flags: 0,
        };
        conn.refresh_wake(cfg);
        conn
    }

    // ----- getters -----

    /// The public state at `now`.
    pub(crate) fn state(&self, now: u64) -> State {
        match self.phase {
            Phase::Connecting if self.phase_at > now => State::Backoff,
            Phase::Connecting => State::Connecting,
            Phase::Open => State::Open,
            Phase::Closing => State::Closing,
            Phase::Closed => State::Closed,
            Phase::Stopped => State::Stopped,
            Phase::GaveUp => State::GaveUp,
        }
    }
    pub(crate) fn is_paused(&self) -> bool {
        self.has(PAUSED)
    }
    pub(crate) fn ping_in_flight(&self) -> Option<PingId> {
        (self.phase == Phase::Open && self.has(IN_FLIGHT))
            .then(|| PingId::new(u64::from(self.ping_seq)))
    }
    pub(crate) fn pings_sent(&self) -> u32 {
        self.ping_seq
    }
    pub(crate) fn attempt(&self) -> u32 {
        u32::from(self.attempt)
    }

    #[inline]
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
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
        obs: &mut impl Observer,
    ) -> Actions {
        // The fast path: traffic (or an early tick) on an open connection with no ping
        // in flight, no probe and no pause, before the deadline. These events only ever
        // move deadlines later, so `wake` stays an early bound and nothing can be due:
        // the full pass is skipped.
        if self.phase == Phase::Open
            && self.flags & (IN_FLIGHT | PROBING | PAUSED | NO_WAKE) == 0
            && now < self.wake
        {
            match event {
                // With no ping in flight, a pong is liveness only, like data.
                Event::DataReceived | Event::PongReceived(_) => {
                    self.last_in = now;
                    return Actions::new();
                }
                Event::DataSent => {
                    self.last_out = now;
                    return Actions::new();
                }
                Event::PingReceived => {
                    self.last_in = now;
                    let mut out = Actions::new();
                    out.push(Action::SendPong);
                    return out;
                }
                Event::Tick => return Actions::new(),
                _ => {}
            }
        }
        self.slow(cfg, now, event, obs)
    }

    /// Every rule: the event, then every timer that is due, then the next deadline.
    #[inline(never)]
    fn slow(&mut self, cfg: &Config, now: u64, event: Event, obs: &mut impl Observer) -> Actions {
        let mut out = Actions::new();
        self.apply(cfg, now, event, &mut out, obs);
        // Deadlines armed by the event lie at least 1 ms ahead, except at Instant::MAX,
        // where every deadline saturates to now: there, one transition per call, so a
        // probe or a reconnect is never undone by its own deadline in the same call.
        if now < u64::MAX || out.is_empty() {
            self.run_timers(cfg, now, &mut out, obs);
        }
        self.refresh_wake(cfg);
        out
    }

    /// Sets `wake` to the deadline the rules compute now.
    fn refresh_wake(&mut self, cfg: &Config) {
        match self.deadline(cfg) {
            Some(t) => {
                self.wake = t;
                self.flags &= !NO_WAKE;
            }
            None => self.flags |= NO_WAKE,
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
        (self.flags & NO_WAKE == 0).then_some(self.wake)
    }

    /// The deadline as the rules compute it, which may lie before the latest `now` (a
    /// caller that is late). Right after any `handle` it lies after that call's `now`,
    /// except at `Instant::MAX`.
    #[inline]
    pub(crate) fn deadline(&self, cfg: &Config) -> Option<u64> {
        match self.phase {
            Phase::Connecting if !self.has(PAUSED) => {
                Some(add_ms(self.phase_at, cfg.connect_timeout_ms))
            }
            Phase::Open if !self.has(PAUSED) => {
                let close = self.close_deadline(cfg).map(|(at, _)| at);
                match (close, self.ping_due(cfg)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Closing => Some(self.phase_at),
            _ => None,
        }
    }

    // ----- events -----

    fn apply(
        &mut self,
        cfg: &Config,
        now: u64,
        event: Event,
        out: &mut Actions,
        obs: &mut impl Observer,
    ) {
        let open = self.phase == Phase::Open;
        match event {
            Event::Tick => {}
            Event::Connected => match self.phase {
                Phase::Connecting | Phase::Open => self.open(now),
                Phase::Closing if !self.has(SHUTDOWN) => self.open(now),
                _ => {}
            },
            Event::ConnectFailed if self.phase == Phase::Connecting => {
                self.lost(cfg, now, out, obs)
            }
            Event::Disconnected => match self.phase {
                Phase::Open => {
                    self.leave_open(cfg, now);
                    self.lost(cfg, now, out, obs);
                }
                Phase::Closing => self.lost(cfg, now, out, obs),
                // A failed attempt; during the backoff wait, a late report of the old one.
                Phase::Connecting if self.phase_at <= now => self.lost(cfg, now, out, obs),
                _ => {}
            },
            Event::PingReceived if open => {
                self.last_in = now;
                self.flags &= !PROBING;
                out.push(Action::SendPong);
            }
            Event::PongReceived(id) if open => {
                self.last_in = now;
                self.flags &= !PROBING;
                let current = PingId::new(u64::from(self.ping_seq));
                if self.has(IN_FLIGHT) && id.map_or(true, |id| id == current) {
                    self.flags &= !IN_FLIGHT;
                    obs.pong(now - self.ping_at);
                }
            }
            Event::DataReceived if open => {
                self.last_in = now;
                self.flags &= !PROBING;
            }
            Event::DataSent if open => self.last_out = now,
            Event::Pause if self.is_live() => self.flags |= PAUSED,
            Event::Resume if self.has(PAUSED) => {
                self.flags &= !PAUSED;
                match self.phase {
                    Phase::Open => {
                        self.flags &= !PROBING;
                        self.probe(cfg, now, out);
                    }
                    Phase::Connecting => self.connect_now(cfg, now, out),
                    _ => {}
                }
            }
            Event::NetworkChanged if !self.has(PAUSED) => match self.phase {
                Phase::Open if !self.has(PROBING) => self.probe(cfg, now, out),
                // Only the backoff wait is cut short; an attempt in progress has its own
                // timeout, and a flapping network must not become a connect storm.
                Phase::Connecting if self.phase_at > now => self.connect_now(cfg, now, out),
                _ => {}
            },
            Event::Shutdown => match self.phase {
                Phase::Open => {
                    self.flags |= SHUTDOWN;
                    self.close(cfg, now, CloseReason::Shutdown, out);
                }
                Phase::Connecting => {
                    out.push(Action::AbortConnect);
                    self.phase = Phase::Stopped;
                }
                Phase::Closing => self.flags |= SHUTDOWN,
                _ => {}
            },
            _ => {}
        }
    }

    fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Open | Phase::Closing)
    }

    /// A fresh connection: nothing of the previous one survives.
    fn open(&mut self, now: u64) {
        self.phase = Phase::Open;
        self.phase_at = now;
        self.last_in = now;
        self.last_out = now;
        self.ping_at = now;
        self.flags &= !(IN_FLIGHT | PROBING);
    }

    /// Resume or a network change while not connected: connect now. A pending attempt is
    /// brought forward, one in progress (begun before a pause) is restarted; neither
    /// counts as a new attempt.
    fn connect_now(&mut self, cfg: &Config, now: u64, out: &mut Actions) {
        if cfg.role == Role::Server {
            // A server never connects out: its handshake just gets a fresh timeout.
            self.phase_at = now;
            return;
        }
        if self.phase_at <= now {
            out.push(Action::AbortConnect);
        }
        out.push(Action::Reconnect {
            after: Duration::ZERO,
        });
        self.phase_at = now;
    }

    // ----- timers -----

    fn run_timers(&mut self, cfg: &Config, now: u64, out: &mut Actions, obs: &mut impl Observer) {
        if self.has(PAUSED) && self.phase != Phase::Closing {
            return;
        }
        match self.phase {
            Phase::Connecting => {
                if now >= add_ms(self.phase_at, cfg.connect_timeout_ms) {
                    out.push(Action::AbortConnect);
                    self.lost(cfg, now, out, obs);
                }
            }
            Phase::Open => {
                if let Some((at, reason)) = self.close_deadline(cfg) {
                    if at <= now {
                        let late = now - at;
                        let tolerance =
                            (u64::from(cfg.pong_timeout_ms) * NS_PER_MS).min(JUMP_CAP_NS);
                        if late > tolerance && !self.has(PROBING) {
                            self.probe(cfg, now, out);
                        } else {
                            obs.timeout();
                            self.close(cfg, now, reason, out);
                            return;
                        }
                    }
                }
                if self.ping_due(cfg).is_some_and(|at| at <= now) {
                    self.send_ping(now, out);
                }
            }
            Phase::Closing => {
                if now >= self.phase_at {
                    out.push(Action::ForceClose);
                    self.lost(cfg, now, out, obs);
                }
            }
            Phase::Closed | Phase::Stopped | Phase::GaveUp => {}
        }
    }

    /// The earliest close deadline while open, and its reason (pong first on a tie).
    #[inline]
    fn close_deadline(&self, cfg: &Config) -> Option<(u64, CloseReason)> {
        let pong = self.has(IN_FLIGHT).then(|| {
            (
                add_ms(self.ping_at.max(self.last_in), cfg.pong_timeout_ms),
                CloseReason::PongTimeout,
            )
        });
        let idle = (cfg.idle_timeout_ms != 0).then(|| {
            let mut at = add_ms(self.last_in, cfg.idle_timeout_ms);
            if self.has(PROBING) {
                at = at.max(add_ms(self.ping_at, cfg.pong_timeout_ms));
            }
            (at, CloseReason::IdleTimeout)
        });
        match (pong, idle) {
            (Some(p), Some(i)) => Some(if i.0 < p.0 { i } else { p }),
            (p, i) => p.or(i),
        }
    }

    /// When the next ping is due while open, if one may be sent at all.
    #[inline]
    fn ping_due(&self, cfg: &Config) -> Option<u64> {
        let due = match cfg.policy {
            PingPolicy::WhenIdle => add_ms(self.last_in.min(self.last_out), cfg.ping_interval_ms),
            PingPolicy::Fixed => add_ms(self.ping_at, cfg.ping_interval_ms),
            PingPolicy::Never => return None,
        };
        if !self.has(IN_FLIGHT) {
            return Some(due);
        }
        // A ping in flight may be replaced only once it is pong_timeout old and the peer
        // has spoken since it went out, within the last ping_interval.
        if self.last_in > self.ping_at {
            let at = due.max(add_ms(self.ping_at, cfg.pong_timeout_ms));
            if at < add_ms(self.last_in, cfg.ping_interval_ms) {
                return Some(at);
            }
        }
        None
    }

    fn send_ping(&mut self, now: u64, out: &mut Actions) {
        self.ping_seq = self.ping_seq.wrapping_add(1);
        self.ping_at = now;
        self.last_out = now;
        self.flags |= IN_FLIGHT;
        out.push(Action::SendPing(PingId::new(u64::from(self.ping_seq))));
    }

    /// One probe per silence: a ping now (unless one just went) and a fresh pong_timeout.
    fn probe(&mut self, cfg: &Config, now: u64, out: &mut Actions) {
        self.flags |= PROBING;
        if cfg.policy == PingPolicy::Never {
            self.ping_at = now; // no ping: only the grace
        } else if !(self.has(IN_FLIGHT) && self.ping_at == now) {
            self.send_ping(now, out);
        }
    }

    // ----- leaving a connection -----

    fn close(&mut self, cfg: &Config, now: u64, reason: CloseReason, out: &mut Actions) {
        self.leave_open(cfg, now);
        self.phase = Phase::Closing;
        self.phase_at = add_ms(now, cfg.close_timeout_ms);
        self.flags &= !(IN_FLIGHT | PROBING);
        out.push(Action::Close(reason));
    }

    /// A connection that stayed up `stable_after` ends the streak of attempts.
    fn leave_open(&mut self, cfg: &Config, now: u64) {
        if now >= add_ms(self.phase_at, cfg.stable_after_ms) {
            self.attempt = 0;
        }
    }

    /// The connection (or attempt) is gone: reconnect, give up, or finish.
    fn lost(&mut self, cfg: &Config, now: u64, out: &mut Actions, obs: &mut impl Observer) {
        self.flags &= !(IN_FLIGHT | PROBING);
        if self.has(SHUTDOWN) {
            self.phase = Phase::Stopped;
        } else if cfg.role == Role::Server {
            self.phase = Phase::Closed;
        } else if u32::from(self.attempt) >= cfg.max_attempts {
            self.phase = Phase::GaveUp;
            out.push(Action::GiveUp);
        } else {
            self.attempt = self.attempt.saturating_add(1);
            obs.reconnect();
            // Time and ping count vary per connection and per draw; a replay repeats them.
            let entropy = now ^ u64::from(self.ping_seq).rotate_left(32);
            let after = backoff::delay_nanos(cfg, u32::from(self.attempt), entropy);
            self.phase = Phase::Connecting;
            self.phase_at = now.saturating_add(after);
            out.push(Action::Reconnect {
                after: Duration::from_nanos(after),
            });
        }
    }
}

fn add_ms(t: u64, ms: u32) -> u64 {
    t.saturating_add(u64::from(ms) * NS_PER_MS)
}
