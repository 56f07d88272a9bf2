//! [`HeartbeatMachine`]: one connection's heartbeat, as a sans-IO state machine.

use crate::config::Config;
use crate::conn::Conn;
use crate::event::{Actions, Event, PingId, TOLD_GAP_HELD, TOLD_GAP_LOST};
use crate::learn::PathMemory;
use crate::state::State;
use crate::stats::{Counters, Stats};
use crate::time::Instant;
use core::time::Duration;

/// One connection's heartbeat: keepalive pings, dead-peer detection and reconnect backoff.
///
/// The machine does no I/O and reads no clock. The caller owns the socket and one timer,
/// and follows one contract:
///
/// 1. **Feed** every event with the current time: [`handle`](Self::handle)`(now, event)`.
///    Every sign of the peer proves it alive; report them all (what to report per read
///    and per write: [`rules`](crate::rules#what-to-report)).
/// 2. **Carry out** the [`Action`](crate::Action)s it returns, in order, at once.
/// 3. **Wake up** by [`next_deadline`](Self::next_deadline) and call
///    `handle(now, Event::Tick)`. Waking earlier or more often is harmless; waking late
///    delays detection by exactly that much (and a very late wake is treated as a clock
///    jump: one probe ping instead of an instant close).
///
/// That one timer is all the caller needs: the machine owns every deadline, the end of a
/// reconnect wait included ([`Action::Connect`](crate::Action::Connect) comes at the tick
/// there). A new machine is *connecting*: report [`Event::Connected`] once the transport
/// is open (a server does so right after accepting), or [`Event::ConnectFailed`].
///
/// The rules it follows, precisely: [`rules`](crate::rules).
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Action, Config, Event, HeartbeatMachine, Instant};
///
/// let config = Config::client()
///     .ping_interval(Duration::from_secs(20))
///     .pong_timeout(Duration::from_secs(10))
///     .build()?;
/// let mut m = HeartbeatMachine::new(config, Instant::ZERO);
/// assert!(m.handle(Instant::ZERO, Event::Connected).is_empty());
///
/// // The first ping goes at a random point of the first 20 s, so that connections
/// // opened together do not ping together; later ones after 20 s of quiet.
/// let first = m.next_deadline().expect("a ping is due");
/// assert!(first > Instant::ZERO && first <= Instant::from_secs(20));
/// let ping = match m.handle(first, Event::Tick).next() {
///     Some(Action::SendPing(id)) => id,
///     other => panic!("expected a ping, got {other:?}"),
/// };
/// // The pong comes back 40 ms later; the next ping is due 20 s after this one.
/// let _ = m.handle(first + Duration::from_millis(40), Event::PongReceived(Some(ping)));
/// assert_eq!(m.rtt(), Some(Duration::from_millis(40)));
/// assert_eq!(m.next_deadline(), Some(first + Duration::from_secs(20)));
/// # Ok::<(), keepalive::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HeartbeatMachine {
    config: Config,
    conn: Conn,
    /// The latest `now` seen: time never runs backwards inside.
    now: u64,
    counters: Counters,
    /// No close for silence before this time (ns): the driver's own process did not run,
    /// and reads come first (see [`defer_judgement`](Self::defer_judgement)).
    not_before: u64,
}

impl HeartbeatMachine {
    /// A machine for one connection about to be attempted (or being accepted) at `now`.
    pub fn new(config: Config, now: Instant) -> HeartbeatMachine {
        HeartbeatMachine {
            config,
            conn: Conn::new(&config, now),
            now: now.as_nanos(),
            counters: Counters::new(),
            not_before: 0,
        }
    }

    /// Starts from what earlier connections learned about this path (a
    /// [`PathMemory`] stored per network): the keepalive interval learned, and the round
    /// trip behind the pong timeout's floor. Returns the machine, for chaining after
    /// [`new`](Self::new).
    pub fn remember(mut self, memory: PathMemory) -> HeartbeatMachine {
        self.conn.learned = memory.learned();
        self.apply_interval();
        self.conn.seed_estimator(&self.config, memory.rtt());
        self
    }

    /// What this machine's connections learned about the path, the open connection's
    /// round trips included: store it per network and give it to the next machine
    /// ([`remember`](Self::remember)).
    pub fn path_memory(&self) -> PathMemory {
        PathMemory::of(self.conn.learned, self.conn.estimator())
    }

    /// The learned interval, into the connection's deadline (from its next ping on).
    fn apply_interval(&mut self) {
        if self.config.timing.keepalive_ceiling != 0 {
            self.conn.refresh_wake(&self.config, self.not_before);
        }
    }

    /// The path moved to another network (Wi-Fi to cellular, another access point), and
    /// `memory` is what was learned there before (stored per network), or `None` for a
    /// network not learned yet. As [`Event::NetworkChanged`], an open connection is
    /// probed at once and a wait to reconnect ends; then:
    ///
    /// - **the interval**: with a memory, the one learned there (its
    ///   [`interval`](PathMemory::interval), or `ping_interval` if none); without, the
    ///   floor (`ping_interval`) at once, and learning starts over on this network. It
    ///   applies from the next ping; the dead-peer bound in force is that interval plus
    ///   the pong timeout;
    /// - **the round trips**: a memory's round trips seed the pong timeout's floor;
    ///   without one, those measured on the last network stand until the next pongs (the
    ///   configured pong timeout is always the least);
    /// - **the next loss** after a silent gap counts toward this network's learning: with
    ///   a memory, as if the client had never left it.
    ///
    /// [`path_memory`](Self::path_memory) then describes this network. (A bare
    /// `NetworkChanged` keeps the interval until the next loss, then starts over from the
    /// floor: for a change whose network is unknown.)
    pub fn moved_to(&mut self, now: Instant, memory: Option<PathMemory>) -> Actions {
        let actions = self.handle(now, Event::NetworkChanged);
        let memory = memory.unwrap_or_default();
        self.conn.learned = memory.learned();
        self.apply_interval();
        if memory.rtt().0.is_some() || memory.rtt().1 != 0 {
            self.conn.seed_estimator(&self.config, memory.rtt());
        }
        actions
    }

    /// The single entry point: applies `event` at `now` and returns what to do. A `now`
    /// earlier than one seen before counts as the latest seen. Never panics.
    #[inline]
    pub fn handle(&mut self, now: Instant, event: Event) -> Actions {
        self.now = self.now.max(now.as_nanos());
        if event == Event::NetworkChanged {
            self.conn.learned.network_changed();
        }
        let actions = self.conn.handle(
            &self.config,
            self.now,
            event,
            &mut self.counters,
            self.not_before,
        );
        if actions.told() != 0 {
            self.learn(&actions);
        }
        actions
    }

    /// What the event taught about the path, into the memory and the connection.
    #[inline]
    fn learn(&mut self, actions: &Actions) {
        let learns = self.config.timing.keepalive_ceiling != 0;
        let told = actions.told();
        if learns && told & TOLD_GAP_HELD != 0 {
            self.conn.learned.held(&self.config);
        }
        if learns && told & TOLD_GAP_LOST != 0 {
            self.conn.learned.lost(&self.config);
        }
        // The connection keeps the interval across reconnects: only a change applies.
        if learns && told & (TOLD_GAP_HELD | TOLD_GAP_LOST) != 0 {
            self.apply_interval();
        }
    }

    /// The latest time by which to call `handle(.., Event::Tick)`; `None` when nothing
    /// will happen without an event (paused, or finished). Never before the latest `now`,
    /// and after a `Tick` at it, always later.
    ///
    /// Traffic events on a quiet open connection take a fast path that leaves this
    /// unchanged, although they move the true deadline later: it is then an early
    /// wake-up, and the `Tick` there finds nothing due and hands out the later one. So
    /// waking here is always safe and never late, and a busy link re-arms no timer.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conn.next_deadline(self.now).map(Instant::from_nanos)
    }

    /// The deadline the rules give now, never before the latest `now`: what
    /// [`next_deadline`](Self::next_deadline) is an early bound of (feature `sim`, for
    /// checks of the machine).
    #[cfg(feature = "sim")]
    pub fn rule_deadline(&self) -> Option<Instant> {
        self.conn
            .deadline(&self.config, self.not_before)
            .map(|t| Instant::from_nanos(t.max(self.now)))
    }

    /// The caller's own process did not run for a while (a late wake): the ping in
    /// flight's round trip will include that, and is no sample.
    #[cfg(any(feature = "driver", feature = "sim"))]
    pub(crate) fn round_trip_unsampled(&mut self) {
        self.conn.round_trip_unsampled();
    }

    /// How late a close deadline may be judged before the machine takes it for a clock
    /// jump and probes instead: the pong timeout in force, at most a second.
    #[cfg_attr(not(any(feature = "driver", feature = "sim")), allow(dead_code))]
    pub(crate) fn jump_tolerance(&self) -> Duration {
        Duration::from_nanos(self.conn.jump_tolerance(&self.config))
    }

    /// The wake-up handed out, as the rules keep it: it may lie before the latest `now`
    /// (a caller that is late). The driver measures its own lateness against it.
    #[cfg_attr(not(any(feature = "driver", feature = "sim")), allow(dead_code))]
    pub(crate) fn wake(&self) -> Option<Instant> {
        self.conn.wake().map(Instant::from_nanos)
    }

    /// The latest `now` the machine has seen (it never goes back).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// The last measured round-trip time (from the moment the ping left to its pong).
    pub fn rtt(&self) -> Option<Duration> {
        self.counters.rtt()
    }

    /// The ping interval in force (as [`Stats::ping_interval`] reads it), without
    /// building the whole [`Stats`].
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_nanos(self.conn.ping_interval(&self.config))
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.conn.state(self.now)
    }

    /// The last sign of the peer on the current connection: bytes or a message from it
    /// (when the connection opened, if nothing since; what the path took of ours is no
    /// sign of the peer). For logs and metrics: "silent for 12 s".
    pub fn last_heard(&self) -> Instant {
        Instant::from_nanos(self.conn.last_heard())
    }

    /// Whether [`Event::Pause`] is in force.
    pub fn is_paused(&self) -> bool {
        self.conn.is_paused()
    }

    /// The ping awaiting its pong, if any.
    pub fn ping_in_flight(&self) -> Option<PingId> {
        self.conn.ping_in_flight()
    }

    /// The caller reads nothing for now (its application is behind), or reads again:
    /// while it does not, the transport's record of the peer after a ping left answers
    /// that ping (its pong waits unread).
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn reads_nothing(&mut self, unread: bool) {
        self.conn.set_unread(unread);
    }

    /// No close for silence before `until`: the caller's own process did not run (a late
    /// wake), and what reached the socket meanwhile is read first. Pings and everything
    /// else go on; a close whose deadline came meanwhile waits for `until`, and a sign
    /// of the peer read before then cancels it. Only the async driver and the simulator
    /// set it (their rule for reading before judging decides when).
    #[cfg_attr(not(any(feature = "driver", feature = "sim")), allow(dead_code))]
    pub(crate) fn defer_judgement(&mut self, until: Instant) {
        let until = until.as_nanos();
        if until > self.not_before {
            self.not_before = until;
            self.conn.refresh_wake(&self.config, until);
        }
    }

    /// Counters, round trips, and the timeouts in force (the dead-peer bound the machine
    /// keeps now, on this path).
    pub fn stats(&self) -> Stats {
        let totals = self.counters.totals(self.conn.pings_sent());
        self.conn.in_force(&self.config, totals)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
