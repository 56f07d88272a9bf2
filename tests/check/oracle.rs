//! The contract (the crate's `rules` page) as executable checks, written once and used
//! by the scenario tests, the virtual-clock pair's runs, the property tests and the
//! fuzzer: the crate's own self-check, kept out of the library.

use super::learning::Learning;
use keepalive::sim::Violation;
use keepalive::{
    Action, CloseReason, Config, Decision, Duration, Event, HeartbeatMachine, Instant, PingId,
    PingPolicy, Role, State,
};

fn fmt_instant(t: Instant) -> String {
    format!("{t:?}")
}

fn fmt_duration(d: Duration) -> String {
    format!("{d:?}")
}

fn fmt_event(e: Event) -> String {
    format!("{e:?}")
}

fn fmt_action(a: Action) -> String {
    format!("{a:?}")
}

type Broken = (&'static str, String);

/// Watches one [`HeartbeatMachine`] call by call and checks every rule of the contract
/// that can be judged from the outside: the list at the end of the `rules` page. A
/// broken rule is a [`Violation`] naming it.
#[derive(Clone, Debug)]
pub struct Oracle {
    config: Config,
    latest: Instant,
    deadline: Option<Instant>,
    state: State,
    last_in: Instant,
    probe_base: Instant,
    /// When the transport's record last moved `last_in` (to a time before the call):
    /// a ping due by then goes out at the call, with the pong timeout from there.
    heard_late: Instant,
    slack: Duration,
    /// The ping in flight: its id, when it left (or was asked for), whether it was
    /// reported written.
    in_flight: Option<(PingId, Instant, bool)>,
    /// The caller reports when pings leave.
    writes_reported: bool,
    /// Data came since the ping in flight left: its pong's round trip is no sample.
    queued: bool,
    /// The path held the ping in flight's clock (it waited behind our data).
    held: bool,
    last_ping: Option<Instant>,
    /// The end of the announced reconnect wait, until its `Connect`.
    wait_until: Option<Instant>,
    /// What our close under way is for.
    closing_for: CloseReason,
    conn_since: Instant,
    close_at: Instant,
    streak: u32,
    shutdown: bool,
    /// Ping policing: the time the peer's pings have used up, one `min_ping_interval`
    /// each, in ns of the machine's clock, kept a minute ahead (a connection opens with
    /// its whole credit, which may reach back before the epoch); credit for quiet time
    /// lasts a minute, 100 pings, at most. Like every time, it saturates at the end of
    /// time ([`END`]).
    pings_used: i128,
    /// The round-trip estimate, in µs: the pongs' (SRTT, RTTVAR), the path's RTO.
    srtt: Option<(u64, u64)>,
    path_rto: u64,
    /// How often the peer said "too many pings".
    slowdown: u32,
    /// The pong timeout in force before the call.
    pong_in_force: Duration,
    /// Our last outbound activity (data, a ping, bytes the peer took).
    last_out: Instant,
    /// The ping in flight followed a silent gap: since when it is out.
    gap_since: Option<Instant>,
    /// That gap was shorter than the interval (a first ping at its phase): its loss
    /// teaches, its answer does not.
    gap_short: bool,
    /// The smart keepalive's memory, and what this call taught it (a gap held, a gap
    /// lost): learned after the call's actions, as the machine does.
    learning: Learning,
    taught: (bool, bool),
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
            heard_late: now,
            slack: Duration::ZERO,
            in_flight: None,
            writes_reported: false,
            queued: false,
            held: false,
            last_ping: None,
            wait_until: None,
            closing_for: CloseReason::Transport,
            conn_since: now,
            close_at: now,
            streak: machine.stats().attempt,
            shutdown: false,
            pings_used: full_credit(now),
            srtt: None,
            path_rto: 0,
            slowdown: 0,
            pong_in_force: machine.stats().pong_timeout,
            last_out: now,
            gap_since: None,
            gap_short: false,
            learning: Learning::remembered(machine.config(), &machine.path_memory()),
            taught: (false, false),
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
        self.pong_in_force = self.pong_timeout();
        result.map_err(|(rule, why)| Violation {
            rule,
            detail: format!(
                "{why} (at {} after `{}`, actions [{}], state {:?})",
                fmt_instant(self.latest),
                fmt_event(event),
                actions
                    .iter()
                    .map(|a| fmt_action(*a))
                    .collect::<Vec<_>>()
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
    ) -> Result<(), Broken> {
        let cfg = self.config;
        let before = self.state;
        let late = self
            .deadline
            .map_or(Duration::ZERO, |d| now.max(self.latest) - d);
        self.latest = self.latest.max(now);
        let now = self.latest;
        self.slack = self.slack.saturating_add(late);

        if before.is_terminal() && !actions.is_empty() {
            return Err(("a finished machine does nothing", "it acted".into()));
        }
        let policed = self.observe(now, event, before);
        if event == Event::Shutdown {
            self.shutdown = true;
        }
        // The machine measures lateness against the pong timeout in force after the event.
        let tolerance = self
            .pong_in_force
            .min(self.pong_timeout())
            .min(Duration::from_secs(1));
        let probe_cause =
            late > tolerance || matches!(event, Event::Resume | Event::NetworkChanged);
        if probe_cause {
            self.probe_base = now;
            self.slack = Duration::ZERO;
        }
        // A connection opens (and may be closed again in the same call, at Instant::MAX).
        let opens = match before {
            State::Backoff | State::Connecting | State::Open => true,
            State::Closing => !self.shutdown,
            _ => false,
        };
        if event == Event::Connected && opens {
            self.fresh_connection(now);
        }
        let ended = matches!(event, Event::Disconnected | Event::Closed(_));
        if ended && before == State::Open {
            // Lost right after a silent gap (a close the peer chose is no evidence).
            let transport = matches!(
                event,
                Event::Disconnected | Event::Closed(CloseReason::Transport)
            );
            if transport && self.gap_since.is_some() {
                self.taught.1 = true;
            }
            self.gap_since = None;
            self.leave_open(now);
        }
        if event == Event::NetworkChanged {
            self.learning.network_changed();
        }
        if before == State::Open && event == Event::PingReceived {
            let pong = actions.contains(&Action::SendPong);
            let closed = actions.contains(&Action::Close(CloseReason::TooManyPings));
            if pong == policed || closed != policed {
                return Err((
                    "a ping is answered, or closed for past the strikes",
                    format!(
                        "{} strikes (at most {})",
                        self.strikes(now),
                        cfg.max_ping_strikes()
                    ),
                ));
            }
        }
        let reason = self.ending(event, actions, before);
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
                    self.check_ping(now, id, probe_cause)?;
                }
                Action::SendPong => {
                    if !open || event != Event::PingReceived {
                        return Err((
                            "a pong answers a ping on an open connection",
                            "unasked pong".into(),
                        ));
                    }
                }
                Action::Close(why) => {
                    self.closing_for = why;
                    if why == CloseReason::PongTimeout && self.gap_since.is_some() {
                        self.taught.1 = true; // the ping after the gap went unanswered
                    }
                    self.gap_since = None;
                    if !open {
                        return Err((
                            "close only an open connection",
                            "close while not open".into(),
                        ));
                    }
                    self.check_close(now, why, policed && event == Event::PingReceived)?;
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
                Action::Reconnect { after } => self.check_reconnect(now, event, after)?,
                Action::GiveUp { reason: why, fatal } => {
                    let exhausted = Some(self.streak) == cfg.max_attempts();
                    let decided = cfg.decide(why) == Decision::GiveUp;
                    if cfg.role() == Role::Server
                        || reason != Some(why)
                        || fatal != decided
                        || !(exhausted || fatal)
                    {
                        return Err((
                            "give up only after max_attempts, or for what retrying cannot fix, \
                             and say which",
                            format!(
                                "gave up (fatal: {fatal}) after {} attempts for {why:?}; this \
                                 call ended {reason:?}",
                                self.streak
                            ),
                        ));
                    }
                }
                Action::Connect => self.check_connect(now)?,
                Action::AbortConnect => {
                    if !matches!(before, State::Connecting | State::Backoff) {
                        return Err((
                            "abort only an attempt",
                            "abort_connect while not connecting".into(),
                        ));
                    }
                }
                other => {
                    return Err((
                        "every action is one the oracle knows",
                        format!("{other:?}: teach the oracle its rule"),
                    ))
                }
            }
        }
        let (held, lost) = core::mem::take(&mut self.taught);
        if held {
            self.learning.held();
        }
        if lost {
            self.learning.lost();
        }
        self.check_after(now, actions, m)
    }

    /// What `event` tells about the peer; returns whether a ping from it is past the
    /// strikes.
    fn observe(&mut self, now: Instant, event: Event, before: State) -> bool {
        if before != State::Open {
            return false;
        }
        let cfg = self.config;
        match event {
            // Only the peer's bytes prove it alive: what the path took of ours does not.
            Event::PingReceived | Event::DataReceived | Event::PongReceived(_) => {
                self.last_in = now;
                self.slack = Duration::ZERO;
            }
            _ => {}
        }
        // The path moved while the ping waited behind our data: its pong clock starts no
        // earlier (a delivery holds only a ping not yet written).
        match (event, self.in_flight) {
            (Event::DataDelivered, Some((_, _, false))) => self.hold(now),
            (Event::PathMoved { ago }, Some(_)) => self.hold(now - ago),
            _ => {}
        }
        if matches!(event, Event::DataSent | Event::DataDelivered) {
            self.last_out = now;
        }
        if let (Event::PingWritten(id), Some((sent, _, false)), Some(since)) =
            (event, self.in_flight, self.gap_since)
        {
            if id == sent {
                self.gap_since = Some(since.max(now)); // the gap ping left only now
            }
        }
        match (event, self.in_flight) {
            (Event::PongReceived(id), Some((sent, at, _))) if id.map_or(true, |id| id == sent) => {
                self.in_flight = None;
                // Karn's rule: a pong that may have waited behind data is no sample.
                if !self.queued {
                    self.sample(now - at);
                }
            }
            (Event::DataReceived, Some(_)) => self.queued = true,
            (Event::PingWritten(id), Some((sent, at, written))) if id == sent => {
                self.writes_reported = true;
                if !written {
                    // The pong clock runs from when the ping left.
                    self.in_flight = Some((sent, at.max(now), true));
                    self.queued = false;
                }
            }
            (Event::PathHeard { ago }, in_flight) => {
                // Life as of then, not now.
                let at = now - ago;
                if at > self.last_in {
                    self.last_in = at;
                    self.heard_late = now;
                    self.slack = Duration::ZERO;
                }
                if in_flight.is_some_and(|(_, sent, _)| at > sent) {
                    self.queued = true;
                }
            }
            (Event::PathRtt { srtt, rttvar }, _) => {
                self.path_rto = rto(micros(srtt), micros(rttvar));
            }
            // Our data forgives the peer's strikes.
            (Event::DataSent, _) => {
                self.pings_used = self.pings_used.min(ahead(nanos(now), CREDIT))
            }
            (Event::Closed(CloseReason::TooManyPings), _) if cfg.role() == Role::Client => {
                self.slowdown = (self.slowdown + 1).min(6);
            }
            _ => {}
        }
        // The peer answered after a silent gap: the path held that long.
        if self.gap_since.is_some_and(|at| self.last_in > at) {
            self.gap_since = None;
            self.taught.0 = !self.gap_short;
        }
        let Some(min) = cfg.min_ping_interval() else {
            return false;
        };
        if event != Event::PingReceived {
            return false;
        }
        let (min, allowed) = (
            min.as_nanos() as i128,
            i128::from(cfg.max_ping_strikes()) + 1,
        );
        let credit = (min * 100).min(CREDIT);
        let full = ahead(nanos(now), CREDIT - credit);
        self.pings_used = ahead(self.pings_used.max(full), min);
        self.pings_used > ahead(ahead(nanos(now), CREDIT), min * allowed)
    }

    /// The peer's pings beyond its budget: whole `min_ping_interval`s used past `now`,
    /// the first one free.
    fn strikes(&self, now: Instant) -> u32 {
        let min = self.config.min_ping_interval().unwrap_or(Duration::MAX);
        let over = (self.pings_used - ahead(nanos(now), CREDIT)).max(0) as u128;
        let whole = over.div_ceil(min.as_nanos().max(1));
        u32::try_from(whole.saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// The ping in flight was still on its way at `at`: its clock and its round trip
    /// start no earlier, and a gap it tests is tested from then.
    fn hold(&mut self, at: Instant) {
        if let Some((id, sent, written)) = self.in_flight {
            if at > sent {
                self.in_flight = Some((id, at, written));
                self.held = true;
                self.gap_since = self.gap_since.map(|g| g.max(at));
            }
        }
    }

    /// RFC 6298, in whole µs as the rules state it.
    fn sample(&mut self, rtt: Duration) {
        let r = micros(rtt).min(u64::from(u32::MAX - 1));
        self.srtt = Some(match self.srtt {
            None => (r, r / 2),
            Some((s, v)) => ((7 * s + r) / 8, (3 * v + s.abs_diff(r)) / 4),
        });
    }

    /// The pong timeout the rules give now: the configured one, or three retransmission
    /// timeouts of the larger estimate, at most 60 s.
    fn pong_timeout(&self) -> Duration {
        let own = self.srtt.map_or(0, |(s, v)| rto(s, v));
        let floor = Duration::from_micros(own.max(self.path_rto) * 3).min(Duration::from_secs(60));
        self.config.pong_timeout().max(floor)
    }

    /// The ping interval the rules give now.
    fn ping_interval(&self) -> Duration {
        let cfg = &self.config;
        let base = self.learning.interval(cfg);
        if self.slowdown == 0 {
            return base;
        }
        let mut slowed = (base * (1 << self.slowdown)).min(Duration::from_secs(86_400));
        if let Some(limit) = cfg.path_idle_limit() {
            slowed = slowed.min(limit.saturating_sub(cfg.pong_timeout()));
        }
        slowed.max(base)
    }

    /// The dead-peer bound the rules give now.
    fn bound(&self) -> Duration {
        let cfg = &self.config;
        let cycle = self.ping_interval().saturating_add(self.pong_timeout());
        let pinging = cfg.ping_policy() != PingPolicy::Never;
        let idle = cfg
            .idle_timeout()
            .map(|i| if pinging { i.max(cycle) } else { i });
        match (pinging, idle) {
            (true, Some(i)) => cycle.min(i),
            (true, None) => cycle,
            (false, i) => i.unwrap_or(Duration::MAX),
        }
    }

    /// What ended the connection or attempt in this call, if anything: a deadline (a
    /// close forced, an attempt abandoned) on whatever event it passed, or the event.
    fn ending(&self, event: Event, actions: &[Action], before: State) -> Option<CloseReason> {
        if actions.contains(&Action::ForceClose) {
            return Some(self.closing_for);
        }
        // (an attempt restarted on resume is no failure: it reconnects at once)
        if actions.contains(&Action::AbortConnect)
            && !actions.contains(&Action::Reconnect {
                after: Duration::ZERO,
            })
        {
            return Some(CloseReason::ConnectTimeout);
        }
        match event {
            Event::Disconnected | Event::Closed(_) if before == State::Closing => {
                Some(self.closing_for)
            }
            Event::Closed(reason) => Some(reason),
            Event::Disconnected | Event::ConnectFailed => Some(CloseReason::Transport),
            _ => None,
        }
    }

    fn check_ping(&mut self, now: Instant, id: PingId, probe_cause: bool) -> Result<(), Broken> {
        let cfg = self.config;
        if let Some((_, at, written)) = self.in_flight {
            let outlived = self.last_in > at
                && now >= at + self.pong_timeout()
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
            let gap = cfg.ping_interval().min(cfg.pong_timeout());
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
        // A keepalive after a silent gap (nothing of ours for the interval, not much
        // longer; nothing of the peer's for most of it) tests how long the path stays open.
        let (interval, pt) = (self.ping_interval(), self.pong_timeout());
        let (out_quiet, in_quiet) = (now - self.last_out, now - self.last_in);
        let tested = out_quiet >= interval
            && out_quiet <= interval.saturating_add(pt.min(Duration::from_secs(1)))
            && in_quiet.saturating_add(pt.min(interval / 2)) >= interval;
        // With spread pings, a connection's first ping comes at a random point of its
        // interval: after silence both ways since the open, a shorter gap that tests the
        // path too (its loss says the interval is too long; its answer says nothing).
        let short = !tested
            && cfg.spread_pings()
            && self.last_ping.is_none()
            && out_quiet < interval
            && self.last_in == self.conn_since
            && self.last_out == self.conn_since;
        self.gap_since = (tested || short).then_some(now);
        self.gap_short = short;
        self.last_out = now;
        self.in_flight = Some((id, now, false));
        self.queued = false;
        self.held = false;
        self.last_ping = Some(now);
        Ok(())
    }

    fn check_reconnect(
        &mut self,
        now: Instant,
        event: Event,
        after: Duration,
    ) -> Result<(), Broken> {
        let cfg = self.config;
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
            return Ok(());
        }
        // Never below the floor; at most the larger cap, plus the spread a server-asked
        // wait gets.
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
        Ok(())
    }

    fn check_connect(&mut self, now: Instant) -> Result<(), Broken> {
        if self.config.role() == Role::Server || self.shutdown {
            return Err((
                "no reconnect for a server or after shutdown",
                "connect".into(),
            ));
        }
        match self.wait_until.take() {
            Some(until) if now >= until => Ok(()),
            Some(until) => Err((
                "connect only once the announced wait is over",
                format!("connect before {}", fmt_instant(until)),
            )),
            None => Err((
                "one connect per announced reconnect",
                "connect with no reconnect announced".into(),
            )),
        }
    }

    /// The machine after the call: the timeouts it reports, the deadline it hands out.
    fn check_after(
        &self,
        now: Instant,
        actions: &[Action],
        m: &HeartbeatMachine,
    ) -> Result<(), Broken> {
        let cfg = self.config;
        let after = m.state();
        let stats = m.stats();
        let (pt, bound) = (self.pong_timeout(), self.bound());
        let want = (self.ping_interval(), pt, bound);
        let got = (
            stats.ping_interval,
            stats.pong_timeout,
            stats.dead_peer_bound,
        );
        if want != got {
            return Err((
                "the timeouts in force follow the path and the peer",
                format!("ping interval, pong timeout, bound {got:?}; the rules say {want:?}"),
            ));
        }
        if self.slowdown == 0 {
            let settled = m.path_memory().idle_limit();
            self.learning.check(stats.ping_interval, settled)?;
        }
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
        let Some(d) = deadline else {
            return Ok(());
        };
        if d < now || (d == now && now != Instant::MAX) {
            return Err((
                "the deadline moves past now",
                format!("next deadline {}", fmt_instant(d)),
            ));
        }
        if after == State::Open && !m.is_paused() {
            // A ping that left late (behind our own data being delivered), or that the
            // path held, gives the peer the pong timeout from then.
            let left = self
                .in_flight
                .filter(|(_, _, written)| *written || self.held)
                .map_or(Instant::ZERO, |(_, at, _)| at + pt);
            let limit = (self.last_in + bound)
                .max(self.probe_base + bound.max(pt))
                .max(self.heard_late + pt)
                .max(left)
                + self.slack;
            if d > limit {
                return Err((
                    "a silent peer is caught within the bound in force",
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
        Ok(())
    }

    fn fresh_connection(&mut self, now: Instant) {
        self.wait_until = None;
        self.last_in = now;
        self.probe_base = now;
        self.heard_late = now;
        self.slack = Duration::ZERO;
        self.in_flight = None;
        self.last_ping = None;
        self.conn_since = now;
        self.last_out = now;
        self.gap_since = None;
        self.pings_used = full_credit(now);
        // The round trips measured stay with the path: a machine carries them from one
        // connection to the next (the pong timeout's floor does not reset).
    }

    fn check_close(&self, now: Instant, reason: CloseReason, policed: bool) -> Result<(), Broken> {
        let live = |why: &str| Err(("never call a live peer dead", String::from(why)));
        match reason {
            CloseReason::PongTimeout => {
                let Some((_, sent, _)) = self.in_flight else {
                    return live("pong timeout with no ping in flight");
                };
                if now < sent.max(self.last_in) + self.pong_timeout() {
                    return live("pong timeout before the pong timeout in force passed");
                }
            }
            CloseReason::IdleTimeout => {
                let idle = self.config.idle_timeout().unwrap_or(Duration::MAX);
                if now < self.last_in + idle {
                    return live("idle timeout before idle_timeout passed");
                }
            }
            CloseReason::Shutdown if !self.shutdown => {
                return Err((
                    "close for shutdown only when asked",
                    "unasked shutdown".into(),
                ));
            }
            CloseReason::TooManyPings if !policed => {
                return Err((
                    "close for too many pings only past the strikes",
                    format!("{} strikes", self.strikes(now)),
                ));
            }
            CloseReason::Shutdown | CloseReason::TooManyPings => {}
            other => {
                return Err((
                    "the machine closes only for its own reasons",
                    format!("close for {other:?}"),
                ))
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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// RFC 6298's `SRTT + max(G, 4 × RTTVAR)` with G = 1 ms, in µs (saturating as the
/// machine keeps µs in 32 bits).
fn rto(srtt: u64, rttvar: u64) -> u64 {
    let cap = u64::from(u32::MAX);
    srtt.min(cap)
        .saturating_add(rttvar.min(cap).saturating_mul(4).min(cap).max(1_000))
        .min(cap)
}

fn is_send(a: &Action) -> bool {
    matches!(a, Action::SendPing(_) | Action::SendPong)
}

/// `t` in ns, signed: policing's budget may reach back before the epoch.
fn nanos(t: Instant) -> i128 {
    (t - Instant::ZERO).as_nanos() as i128
}

/// Policing's credit for quiet time: a minute, and at most 100 pings of it.
const CREDIT: i128 = 60_000_000_000;

/// The end of time: `Instant::MAX` in ns. Times saturate there.
const END: i128 = u64::MAX as i128;

/// `t + d`, saturating at the end of time.
fn ahead(t: i128, d: i128) -> i128 {
    (t + d).min(END)
}

/// The budget of a peer that has its whole credit at `now` (at least: each ping caps it
/// at 100 pings), kept a minute ahead.
fn full_credit(now: Instant) -> i128 {
    nanos(now)
}
