//! The contract ([`crate::rules`]) as executable checks, written once and used by the
//! scenario runner, the virtual-clock pair, the property tests and the fuzzer.

use super::text::{fmt_action, fmt_duration, fmt_event, fmt_instant};
use crate::config::{Config, Role};
use crate::event::{Action, CloseReason, Event, PingId};
use crate::machine::HeartbeatMachine;
use crate::policy::{Decision, Loss};
use crate::state::State;
use crate::time::Instant;
use alloc::format;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

/// A broken invariant: which rule, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule, in a few words.
    pub rule: &'static str,
    /// What the machine did.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

impl core::error::Error for Violation {}

/// Watches one [`HeartbeatMachine`] call by call and checks every rule of the contract
/// that can be judged from the outside: the list at the end of [`crate::rules`]. A
/// broken rule is a [`Violation`] naming it.
///
/// ```
/// use keepalive::{Config, Event, HeartbeatMachine, Instant, sim::Oracle};
///
/// let mut m = HeartbeatMachine::new(Config::client().seed(1).build()?, Instant::ZERO);
/// let mut oracle = Oracle::new(&m);
/// for (t, event) in [(0, Event::Connected), (20_000, Event::Tick), (45_000, Event::Tick)] {
///     let now = Instant::from_millis(t);
///     let actions: Vec<_> = m.handle(now, event).collect();
///     oracle.check(now, event, &actions, &m)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Oracle {
    config: Config,
    latest: Instant,
    deadline: Option<Instant>,
    state: State,
    last_in: Instant,
    probe_base: Instant,
    slack: Duration,
    /// The ping in flight: its id, when it left (or was asked for), whether it was
    /// reported written.
    in_flight: Option<(PingId, Instant, bool)>,
    /// The caller reports when pings leave.
    writes_reported: bool,
    last_ping: Option<Instant>,
    /// The end of the announced reconnect wait, until its `Connect`.
    wait_until: Option<Instant>,
    /// What our close under way is for.
    closing_for: Loss,
    conn_since: Instant,
    close_at: Instant,
    streak: u32,
    shutdown: bool,
}

impl Oracle {
    /// Starts watching a machine (new, or in any state).
    pub fn new(machine: &HeartbeatMachine) -> Oracle {
        let now = machine.now();
        Oracle {
            config: *machine.config(),
            latest: now,
            deadline: machine.next_deadline(),
            state: machine.state(),
            last_in: now,
            probe_base: now,
            slack: Duration::ZERO,
            in_flight: None,
            writes_reported: false,
            last_ping: None,
            wait_until: None,
            closing_for: Loss::Transport,
            conn_since: now,
            close_at: now,
            streak: machine.stats().attempt,
            shutdown: false,
        }
    }

    /// Checks one call: `machine.handle(now, event)` returned `actions`, and `machine`
    /// is the machine after it.
    pub fn check(
        &mut self,
        now: Instant,
        event: Event,
        actions: &[Action],
        machine: &HeartbeatMachine,
    ) -> Result<(), Violation> {
        let result = self.check_inner(now, event, actions, machine);
        self.deadline = machine.next_deadline();
        self.state = machine.state();
        result.map_err(|(rule, why)| Violation {
            rule,
            detail: format!(
                "{why} (at {} after `{}`, actions [{}], state {:?})",
                fmt_instant(self.latest),
                fmt_event(event),
                actions
                    .iter()
                    .map(|a| fmt_action(*a))
                    .collect::<alloc::vec::Vec<_>>()
                    .join(", "),
                machine.state()
            ),
        })
    }

    fn check_inner(
        &mut self,
        now: Instant,
        event: Event,
        actions: &[Action],
        m: &HeartbeatMachine,
    ) -> Result<(), (&'static str, String)> {
        let cfg = self.config;
        let pt = cfg.pong_timeout();
        let before = self.state;
        let late = self
            .deadline
            .map_or(Duration::ZERO, |d| now.max(self.latest) - d);
        self.latest = self.latest.max(now);
        let now = self.latest;
        self.slack = self.slack.saturating_add(late);
        let jumped = late > pt.min(Duration::from_secs(1));

        if before.is_terminal() && !actions.is_empty() {
            return Err(("a finished machine does nothing", "it acted".into()));
        }
        // What the event tells us about the peer.
        if before == State::Open {
            match event {
                Event::PingReceived
                | Event::DataReceived
                | Event::PongReceived(_)
                | Event::DataDelivered => {
                    self.last_in = now;
                    self.slack = Duration::ZERO;
                }
                _ => {}
            }
            match (event, self.in_flight) {
                (Event::PongReceived(id), Some((sent, ..))) if id.map_or(true, |id| id == sent) => {
                    self.in_flight = None;
                }
                (Event::PingWritten(id), Some((sent, at, written))) if id == sent => {
                    self.writes_reported = true;
                    if !written {
                        // The pong clock runs from when the ping left.
                        self.in_flight = Some((sent, at.max(now), true));
                    }
                }
                _ => {}
            }
        }
        if event == Event::Shutdown {
            self.shutdown = true;
        }
        let probe_cause = jumped || matches!(event, Event::Resume | Event::NetworkChanged);
        if probe_cause {
            self.probe_base = now;
            self.slack = Duration::ZERO;
        }
        if event == Event::Connected && m.state() == State::Open {
            self.fresh_connection(now);
        }
        if matches!(event, Event::Disconnected | Event::CloseReceived(_)) && before == State::Open {
            self.leave_open(now);
        }

        // What ended the connection or attempt, if this call ends one: a deadline (a
        // close forced, an attempt abandoned) on whatever event it passed, or the event.
        let loss = if actions.contains(&Action::ForceClose) {
            Some(self.closing_for)
        } else if actions.contains(&Action::AbortConnect)
            // (an attempt restarted on resume is no failure: it reconnects at once)
            && !actions.contains(&Action::Reconnect { after: Duration::ZERO })
        {
            Some(Loss::ConnectTimeout)
        } else {
            match event {
                Event::Disconnected | Event::CloseReceived(_) if before == State::Closing => {
                    Some(self.closing_for)
                }
                Event::CloseReceived(code) => Some(Loss::PeerClose(code)),
                Event::Disconnected | Event::ConnectFailed => Some(Loss::Transport),
                Event::Refused {
                    status,
                    retry_after,
                } => Some(Loss::Refused {
                    status,
                    retry_after,
                }),
                _ => None,
            }
        };
        let mut open = before == State::Open || event == Event::Connected;
        let mut pings = 0;
        for a in actions {
            match *a {
                Action::SendPing(id) => {
                    pings += 1;
                    if !open || pings > 1 {
                        return Err((
                            "one ping per call, only while open",
                            "a second or misplaced ping".into(),
                        ));
                    }
                    if let Some((_, at, written)) = self.in_flight {
                        let outlived = self.last_in > at
                            && now >= at + pt
                            && (written || !self.writes_reported);
                        if !(probe_cause || outlived) {
                            return Err((
                                "one ping in flight",
                                format!(
                                    "ping {id} while the ping sent at {} is unanswered",
                                    fmt_instant(at)
                                ),
                            ));
                        }
                    }
                    if let Some(prev) = self.last_ping {
                        let gap = cfg.ping_interval().min(pt);
                        // At Instant::MAX time stands still: every call is "at once".
                        if now - prev < gap && !probe_cause && now != Instant::MAX {
                            return Err((
                                "no ping burst",
                                format!(
                                    "ping {id} only {} after the previous one",
                                    fmt_duration(now - prev)
                                ),
                            ));
                        }
                    }
                    self.in_flight = Some((id, now, false));
                    self.last_ping = Some(now);
                }
                Action::SendPong => {
                    if !open || event != Event::PingReceived {
                        return Err((
                            "a pong answers a ping on an open connection",
                            "unasked pong".into(),
                        ));
                    }
                }
                Action::Close(reason) => {
                    self.closing_for = match reason {
                        CloseReason::Shutdown => Loss::Transport,
                        _ => Loss::Timeout,
                    };
                    if !open {
                        return Err((
                            "close only an open connection",
                            "close while not open".into(),
                        ));
                    }
                    self.check_close(now, reason)?;
                    self.leave_open(now);
                    open = false;
                    self.close_at = now;
                }
                Action::ForceClose => {
                    if before != State::Closing {
                        return Err((
                            "force only a close under way",
                            "force_close while not closing".into(),
                        ));
                    }
                    if now < self.close_at + cfg.close_timeout() {
                        return Err(("force only after close_timeout", "forced early".into()));
                    }
                }
                Action::Reconnect { after } => {
                    if cfg.role() == Role::Server || self.shutdown {
                        return Err((
                            "no reconnect for a server or after shutdown",
                            "reconnect".into(),
                        ));
                    }
                    self.wait_until = Some(now + after);
                    if after.is_zero() {
                        if !matches!(event, Event::Resume | Event::NetworkChanged) {
                            return Err((
                                "immediate reconnect only on resume or network change",
                                "reconnect 0s".into(),
                            ));
                        }
                    } else {
                        // Never below the floor; at most the larger cap, plus the spread a
                        // server-asked wait gets.
                        let cap = cfg.backoff_max().max(cfg.retry_after_max());
                        if after < cfg.backoff_initial() || after > cap + cap / 4 {
                            return Err((
                                "backoff within floor and cap",
                                format!("reconnect after {}", fmt_duration(after)),
                            ));
                        }
                        self.streak += 1;
                        if cfg.max_attempts().is_some_and(|max| self.streak > max) {
                            return Err((
                                "at most max_attempts in a row",
                                format!("attempt {}", self.streak),
                            ));
                        }
                    }
                }
                Action::GiveUp => {
                    let exhausted = Some(self.streak) == cfg.max_attempts();
                    let fatal = loss.is_some_and(|l| {
                        cfg.decide(l, self.streak.saturating_add(1)) == Decision::GiveUp
                    });
                    if cfg.role() == Role::Server || !(exhausted || fatal) {
                        return Err((
                            "give up only after max_attempts, or for what retrying cannot fix",
                            format!("gave up after {} attempts, for {loss:?}", self.streak),
                        ));
                    }
                }
                Action::Connect => {
                    if cfg.role() == Role::Server || self.shutdown {
                        return Err((
                            "no reconnect for a server or after shutdown",
                            "connect".into(),
                        ));
                    }
                    match self.wait_until.take() {
                        Some(until) if now >= until => {}
                        Some(until) => {
                            return Err((
                                "connect only once the announced wait is over",
                                format!("connect before {}", fmt_instant(until)),
                            ))
                        }
                        None => {
                            return Err((
                                "one connect per announced reconnect",
                                "connect with no reconnect announced".into(),
                            ))
                        }
                    }
                }
                Action::AbortConnect => {
                    if !matches!(before, State::Connecting | State::Backoff) {
                        return Err((
                            "abort only an attempt",
                            "abort_connect while not connecting".into(),
                        ));
                    }
                }
            }
        }

        // The deadline handed out.
        let after = m.state();
        let deadline = m.next_deadline();
        if after.is_terminal() && deadline.is_some() {
            return Err((
                "a finished machine schedules nothing",
                "a deadline remains".into(),
            ));
        }
        if after != State::Open && actions.iter().any(is_send) {
            return Err((
                "sends only while open",
                "a ping or pong from a connection that is not open".into(),
            ));
        }
        // The wake-up handed out is the rules' deadline or earlier, never later (the
        // fast path keeps an early bound), and absent only when there is none.
        let rule = m.rule_deadline();
        if deadline.is_some() != rule.is_some() || deadline > rule {
            return Err((
                "the wake-up is never later than the rules' deadline",
                format!(
                    "next deadline {}, the rules say {}",
                    deadline.map_or("none".into(), fmt_instant),
                    rule.map_or("none".into(), fmt_instant)
                ),
            ));
        }
        if let Some(d) = deadline {
            if d < now || (d == now && now != Instant::MAX) {
                return Err((
                    "the deadline moves past now",
                    format!("next deadline {}", fmt_instant(d)),
                ));
            }
            if after == State::Open && !m.is_paused() {
                let bound = cfg.dead_peer_bound();
                // A ping that left late (behind our own data being delivered) gives the
                // peer pong_timeout from then.
                let left = self
                    .in_flight
                    .filter(|(_, _, written)| *written)
                    .map_or(Instant::ZERO, |(_, at, _)| at + pt);
                let limit = (self.last_in + bound)
                    .max(self.probe_base + bound.max(pt))
                    .max(left)
                    + self.slack;
                if d > limit {
                    return Err((
                        "a silent peer is caught within the bound",
                        format!(
                            "next deadline {} is past {}",
                            fmt_instant(d),
                            fmt_instant(limit)
                        ),
                    ));
                }
            }
            if after == State::Backoff && !m.is_paused() && self.wait_until.is_some_and(|w| d > w) {
                return Err((
                    "the machine keeps the reconnect wait",
                    format!(
                        "next deadline {} is past the end of the wait",
                        fmt_instant(d)
                    ),
                ));
            }
            if after == State::Closing && d > self.close_at + cfg.close_timeout() {
                return Err((
                    "a close is forced within close_timeout",
                    format!("next deadline {}", fmt_instant(d)),
                ));
            }
        }
        Ok(())
    }

    fn fresh_connection(&mut self, now: Instant) {
        self.wait_until = None;
        self.last_in = now;
        self.probe_base = now;
        self.slack = Duration::ZERO;
        self.in_flight = None;
        self.last_ping = None;
        self.conn_since = now;
    }

    fn check_close(&self, now: Instant, reason: CloseReason) -> Result<(), (&'static str, String)> {
        let cfg = &self.config;
        match reason {
            CloseReason::PongTimeout => {
                let Some((_, sent, _)) = self.in_flight else {
                    return Err((
                        "never call a live peer dead",
                        "pong timeout with no ping in flight".into(),
                    ));
                };
                if now < sent.max(self.last_in) + cfg.pong_timeout() {
                    return Err((
                        "never call a live peer dead",
                        "pong timeout before pong_timeout passed".into(),
                    ));
                }
            }
            CloseReason::IdleTimeout => {
                let idle = cfg.idle_timeout().unwrap_or(Duration::MAX);
                if now < self.last_in + idle {
                    return Err((
                        "never call a live peer dead",
                        "idle timeout before idle_timeout passed".into(),
                    ));
                }
            }
            CloseReason::Shutdown => {
                if !self.shutdown {
                    return Err((
                        "close for shutdown only when asked",
                        "unasked shutdown".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn leave_open(&mut self, now: Instant) {
        if now >= self.conn_since + self.config.stable_after() {
            self.streak = 0;
        }
        self.in_flight = None;
    }
}

fn is_send(a: &Action) -> bool {
    matches!(a, Action::SendPing(_) | Action::SendPong)
}
