//! One connection's state and every timing rule, written once.
//!
//! [`Conn`] holds only what varies per connection (48 bytes); the rules read the shared
//! [`Config`], and the caller keeps the clock (the latest `now`) and the [`Counters`].
//! `HeartbeatMachine` pairs one `Config` with one `Conn`; `HeartbeatSet` shares one
//! `Config`, one clock and one `Counters` among many `Conn`s. Both call the same
//! functions. The rules themselves are stated for readers in [`crate::rules`]; this file
//! is their only implementation.

use crate::backoff;
use crate::config::{Config, PingPolicy, Role};
use crate::event::{Action, Actions, CloseReason, Event, PingId};
use crate::policy::{Decision, Loss};
use crate::state::State;
use crate::stats::Counters;
use crate::time::{Instant, NS_PER_MS};
use core::time::Duration;

/// The largest lateness tolerated before a deadline counts as a clock jump.
const JUMP_CAP_NS: u64 = 1_000_000_000;

/// A ping awaits its pong.
const IN_FLIGHT: u8 = 1;
/// A probe (clock jump, resume, network change) awaits any sign of the peer.
const PROBING: u8 = 2;
const PAUSED: u8 = 4;
const SHUTDOWN: u8 = 8;
/// No deadline: nothing happens without an event.
const NO_WAKE: u8 = 16;
/// The ping in flight has not been reported written: it may wait behind our own data.
const UNWRITTEN: u8 = 32;
/// The caller reports when pings leave (it reported one before), so a ping not yet
/// reported written is still waiting behind our data, and is never replaced.
const WRITES_REPORTED: u8 = 64;
/// The close under way is for a timeout (not a shutdown).
const TIMED_OUT: u8 = 128;

/// Where a connection is in its life.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Phase {
    /// Waiting to reconnect until `phase_at`; then `Connect`.
    Backoff,
    /// An attempt under way since `phase_at` (a new machine starts here).
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

/// The per-connection state. All times are nanoseconds of the caller's epoch.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    /// The last sign of the peer: bytes or a message from it, or bytes of ours it took.
    last_in: u64,
    /// The last outbound activity (data, a ping, bytes of ours taken).
    last_out: u64,
    /// When the last ping (or probe) left, or was asked for if not reported written yet.
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
            Phase::Backoff if self.phase_at > now => State::Backoff,
            // The wait is over: a caller on its own timer may be connecting already.
            Phase::Backoff | Phase::Connecting => State::Connecting,
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
        (self.phase == Phase::Open && self.has(IN_FLIGHT)).then(|| self.current_ping())
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

    #[inline]
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn current_ping(&self) -> PingId {
        PingId::new(u64::from(self.ping_seq))
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
    ) -> Actions {
        // The fast path: traffic (or an early tick) on an open connection with no ping
        // in flight, no probe and no pause, before the deadline. These events only ever
        // move deadlines later, so `wake` stays an early bound and nothing can be due:
        // the full pass is skipped. The event's kind becomes a few bits (a table
        // look-up), and the times move without a branch on it: a busy connection's
        // events come in no pattern a branch predictor could learn.
        let fast = fast_class(event);
        if fast & SLOW == 0
            && self.phase == Phase::Open
            && self.flags & (IN_FLIGHT | PROBING | PAUSED | NO_WAKE) == 0
            && now < self.wake
        {
            self.last_in = if fast & HEARD != 0 { now } else { self.last_in };
            self.last_out = if fast & BUSY != 0 { now } else { self.last_out };
            return Actions::pong_if(fast & PONG != 0);
        }
        self.slow(cfg, now, event, counters)
    }

    /// Every rule: the event, then every timer that is due, then the next deadline.
    #[inline(never)]
    fn slow(&mut self, cfg: &Config, now: u64, event: Event, counters: &mut Counters) -> Actions {
        let mut out = Actions::new();
        self.apply(cfg, now, event, &mut out, counters);
        // Deadlines armed by the event lie at least 1 ms ahead, except at Instant::MAX,
        // where every deadline saturates to now: there, one transition per call, so a
        // probe or a reconnect is never undone by its own deadline in the same call.
        if now < u64::MAX || out.is_empty() {
            self.run_timers(cfg, now, &mut out, counters);
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
        if self.has(PAUSED) && self.phase != Phase::Closing {
            return None;
        }
        match self.phase {
            Phase::Backoff => Some(self.phase_at),
            Phase::Connecting => Some(add_ms(self.phase_at, cfg.connect_timeout_ms)),
            Phase::Open => {
                let close = self.close_deadline(cfg).map(|(at, _)| at);
                match (close, self.ping_due(cfg)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Closing => Some(self.phase_at),
            Phase::Closed | Phase::Stopped | Phase::GaveUp => None,
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
    ) {
        let open = self.phase == Phase::Open;
        match event {
            Event::Tick => {}
            Event::Connected => match self.phase {
                Phase::Backoff | Phase::Connecting | Phase::Open => self.open(now),
                Phase::Closing if !self.has(SHUTDOWN) => self.open(now),
                _ => {}
            },
            Event::ConnectFailed if self.attempting() => {
                self.lost(cfg, now, Loss::Transport, out, counters)
            }
            Event::Refused {
                status,
                retry_after,
            } if self.attempting() => {
                let loss = Loss::Refused {
                    status,
                    retry_after,
                };
                self.lost(cfg, now, loss, out, counters)
            }
            Event::Disconnected => self.ended(cfg, now, Loss::Transport, out, counters),
            Event::CloseReceived(code) => {
                self.ended(cfg, now, Loss::PeerClose(code), out, counters)
            }
            Event::PingReceived if open => {
                self.heard(now);
                out.push(Action::SendPong);
            }
            Event::PongReceived(id) if open => {
                self.heard(now);
                if self.has(IN_FLIGHT) && id.map_or(true, |id| id == self.current_ping()) {
                    self.flags &= !(IN_FLIGHT | UNWRITTEN);
                    counters.pong(now - self.ping_at);
                }
            }
            Event::DataReceived if open => self.heard(now),
            Event::DataDelivered if open => {
                self.heard(now);
                self.last_out = now;
            }
            Event::DataSent if open => self.last_out = now,
            Event::PingWritten(id) if open && id == self.current_ping() => {
                self.flags |= WRITES_REPORTED;
                if self.has(UNWRITTEN) {
                    // The pong clock (and the round trip) start now that the ping left.
                    self.flags &= !UNWRITTEN;
                    self.ping_at = self.ping_at.max(now);
                }
            }
            Event::Pause if self.is_live() => self.flags |= PAUSED,
            Event::Resume if self.has(PAUSED) => {
                self.flags &= !PAUSED;
                match self.phase {
                    Phase::Open => {
                        self.flags &= !PROBING;
                        self.probe(cfg, now, out);
                    }
                    Phase::Backoff | Phase::Connecting => self.connect_now(cfg, now, out),
                    _ => {}
                }
            }
            Event::NetworkChanged if !self.has(PAUSED) => match self.phase {
                Phase::Open if !self.has(PROBING) => self.probe(cfg, now, out),
                // Only the wait is cut short; an attempt in progress has its own timeout,
                // and a flapping network must not become a connect storm.
                Phase::Backoff if self.phase_at > now => self.connect_now(cfg, now, out),
                _ => {}
            },
            Event::Shutdown => match self.phase {
                Phase::Open => {
                    self.flags |= SHUTDOWN;
                    self.close(cfg, now, CloseReason::Shutdown, out);
                }
                Phase::Backoff | Phase::Connecting => {
                    out.push(Action::AbortConnect);
                    self.phase = Phase::Stopped;
                }
                Phase::Closing => self.flags |= SHUTDOWN,
                _ => {}
            },
            _ => {}
        }
    }

    /// Whether an attempt may be under way: connecting, or past the end of the wait (a
    /// caller on its own timer may have started one).
    fn attempting(&self) -> bool {
        matches!(self.phase, Phase::Backoff | Phase::Connecting)
    }

    /// The transport is gone, for `loss` (when the connection was open).
    fn ended(&mut self, cfg: &Config, now: u64, loss: Loss, out: &mut Actions, c: &mut Counters) {
        match self.phase {
            Phase::Open => {
                self.leave_open(cfg, now);
                self.lost(cfg, now, loss, out, c);
            }
            // Our own close completed: its cause stands.
            Phase::Closing => self.lost(cfg, now, self.closed_for(), out, c),
            // A failed attempt.
            Phase::Connecting => self.lost(cfg, now, loss, out, c),
            // After the wait, a caller on its own timer may have started an attempt;
            // during it, this is a late report of the old connection.
            Phase::Backoff if self.phase_at <= now => self.lost(cfg, now, loss, out, c),
            _ => {}
        }
    }

    /// What our close under way was for.
    fn closed_for(&self) -> Loss {
        if self.has(TIMED_OUT) {
            Loss::Timeout
        } else {
            Loss::Transport
        }
    }

    /// A sign of the peer at `now`: it is alive, and any probe is answered.
    fn heard(&mut self, now: u64) {
        self.last_in = now;
        self.flags &= !PROBING;
    }

    fn is_live(&self) -> bool {
        matches!(
            self.phase,
            Phase::Backoff | Phase::Connecting | Phase::Open | Phase::Closing
        )
    }

    /// A fresh connection: nothing of the previous one survives.
    fn open(&mut self, now: u64) {
        self.phase = Phase::Open;
        self.phase_at = now;
        self.last_in = now;
        self.last_out = now;
        self.ping_at = now;
        self.flags &= !(IN_FLIGHT | PROBING | UNWRITTEN | TIMED_OUT);
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
        let in_progress = match self.phase {
            Phase::Connecting => true,
            // The wait ended during the pause: a caller on its own timer may be connecting.
            Phase::Backoff => self.phase_at <= now,
            _ => false,
        };
        if in_progress {
            out.push(Action::AbortConnect);
        }
        out.push(Action::Reconnect {
            after: Duration::ZERO,
        });
        out.push(Action::Connect);
        self.phase = Phase::Connecting;
        self.phase_at = now;
    }

    // ----- timers -----

    fn run_timers(&mut self, cfg: &Config, now: u64, out: &mut Actions, counters: &mut Counters) {
        if self.has(PAUSED) && self.phase != Phase::Closing {
            return;
        }
        match self.phase {
            Phase::Backoff => {
                if now >= self.phase_at {
                    // The wait is over: the attempt starts now, and its timeout with it.
                    out.push(Action::Connect);
                    self.phase = Phase::Connecting;
                    self.phase_at = now;
                }
            }
            Phase::Connecting => {
                if now >= add_ms(self.phase_at, cfg.connect_timeout_ms) {
                    out.push(Action::AbortConnect);
                    self.lost(cfg, now, Loss::ConnectTimeout, out, counters);
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
                            counters.timeout();
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
                    self.lost(cfg, now, self.closed_for(), out, counters);
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
        // A ping still waiting behind our own data has not had its chance: never replace it.
        if self.has(UNWRITTEN) && self.has(WRITES_REPORTED) {
            return None;
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
        self.flags |= IN_FLIGHT | UNWRITTEN;
        out.push(Action::SendPing(self.current_ping()));
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
        self.flags &= !(IN_FLIGHT | PROBING | UNWRITTEN);
        if reason != CloseReason::Shutdown {
            self.flags |= TIMED_OUT;
        }
        out.push(Action::Close(reason));
    }

    /// A connection that stayed up `stable_after` ends the streak of attempts.
    fn leave_open(&mut self, cfg: &Config, now: u64) {
        if now >= add_ms(self.phase_at, cfg.stable_after_ms) {
            self.attempt = 0;
        }
    }

    /// The connection (or attempt) is gone, for `loss`: wait to reconnect, give up, or
    /// finish. The reconnect policy decides from the loss; every decision but giving up
    /// counts as an attempt.
    fn lost(
        &mut self,
        cfg: &Config,
        now: u64,
        loss: Loss,
        out: &mut Actions,
        counters: &mut Counters,
    ) {
        self.flags &= !(IN_FLIGHT | PROBING | UNWRITTEN | TIMED_OUT);
        if self.has(SHUTDOWN) {
            self.phase = Phase::Stopped;
            return;
        }
        if cfg.role == Role::Server {
            self.phase = Phase::Closed;
            return;
        }
        let next = u32::from(self.attempt).saturating_add(1);
        let decision = cfg.decide(loss, next);
        if decision == Decision::GiveUp || u32::from(self.attempt) >= cfg.max_attempts {
            self.phase = Phase::GaveUp;
            out.push(Action::GiveUp);
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        counters.reconnect();
        // Time and ping count vary per connection and per draw; a replay repeats them.
        let entropy = now ^ u64::from(self.ping_seq).rotate_left(32);
        let after = backoff::wait_nanos(cfg, decision, u32::from(self.attempt), entropy);
        self.phase = Phase::Backoff;
        self.phase_at = now.saturating_add(after);
        out.push(Action::Reconnect {
            after: Duration::from_nanos(after),
        });
    }
}

/// The fast path's view of an event: it is a sign of the peer (`HEARD`), outbound
/// activity (`BUSY`), asks for a pong (`PONG`), or needs the full pass (`SLOW`).
const HEARD: u8 = 1;
const BUSY: u8 = 2;
const PONG: u8 = 4;
const SLOW: u8 = 8;

#[inline(always)]
fn fast_class(event: Event) -> u8 {
    match event {
        // With no ping in flight, a pong is a sign of life only, like data.
        Event::DataReceived | Event::PongReceived(_) => HEARD,
        Event::DataSent => BUSY,
        Event::DataDelivered => HEARD | BUSY,
        Event::PingReceived => HEARD | PONG,
        Event::Tick => 0,
        _ => SLOW,
    }
}

fn add_ms(t: u64, ms: u32) -> u64 {
    t.saturating_add(u64::from(ms) * NS_PER_MS)
}
