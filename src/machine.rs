//! [`HeartbeatMachine`]: one connection's heartbeat, as a sans-IO state machine.

use crate::config::Config;
use crate::conn::{Conn, Observer};
use crate::event::{Actions, Event, PingId};
use crate::time::Instant;
use core::time::Duration;

/// One connection's heartbeat: keepalive pings, dead-peer detection and reconnect backoff.
///
/// The machine does no I/O and reads no clock. The caller owns the socket and one timer,
/// and follows one contract:
///
/// 1. **Feed** every event with the current time: [`handle`](Self::handle)`(now, event)`.
///    Inbound messages prove the peer alive; report them all.
/// 2. **Carry out** the [`Action`](crate::Action)s it returns, in order, at once.
/// 3. **Wake up** by [`next_deadline`](Self::next_deadline) and call
///    `handle(now, Event::Tick)`. Waking earlier or more often is harmless; waking late
///    delays detection by exactly that much (and a very late wake is treated as a clock
///    jump: one probe ping instead of an instant close).
///
/// A new machine is *connecting*: report [`Event::Connected`] once the transport is open
/// (a server does so right after accepting), or [`Event::ConnectFailed`].
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
/// // Quiet for 20 s: the machine asks for a ping.
/// assert_eq!(m.next_deadline(), Some(Instant::from_secs(20)));
/// let ping = match m.handle(Instant::from_secs(20), Event::Tick).next() {
///     Some(Action::SendPing(id)) => id,
///     other => panic!("expected a ping, got {other:?}"),
/// };
/// // The pong comes back 40 ms later.
/// let _ = m.handle(Instant::from_millis(20_040), Event::PongReceived(Some(ping)));
/// assert_eq!(m.rtt(), Some(Duration::from_millis(40)));
/// # Ok::<(), keepalive::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HeartbeatMachine {
    config: Config,
    conn: Conn,
    /// The latest `now` seen: time never runs backwards inside.
    now: u64,
    counters: Counters,
}

const NO_RTT: u32 = u32::MAX;

/// Statistics kept beside the per-connection state; also a set's totals.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Counters {
    pongs: u32,
    timeouts: u32,
    reconnects: u32,
    rtt_us: u32,
    srtt_us: u32,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            pongs: 0,
            timeouts: 0,
            reconnects: 0,
            rtt_us: NO_RTT,
            srtt_us: NO_RTT,
        }
    }

    pub(crate) fn stats(&self, pings_sent: u32, attempt: u32) -> Stats {
        let micros = |us: u32| (us != NO_RTT).then(|| Duration::from_micros(u64::from(us)));
        Stats {
            pings_sent,
            pongs_received: self.pongs,
            timeouts: self.timeouts,
            reconnects: self.reconnects,
            attempt,
            rtt: micros(self.rtt_us),
            smoothed_rtt: micros(self.srtt_us),
        }
    }
}

impl Observer for Counters {
    fn pong(&mut self, rtt_ns: u64) {
        self.pongs = self.pongs.saturating_add(1);
        let us = u32::try_from(rtt_ns / 1_000)
            .unwrap_or(NO_RTT - 1)
            .min(NO_RTT - 1);
        self.rtt_us = us;
        self.srtt_us = if self.srtt_us == NO_RTT {
            us
        } else {
            // RFC 6298: srtt = 7/8 srtt + 1/8 rtt; fits in u32 since both do.
            ((7 * u64::from(self.srtt_us) + u64::from(us)) / 8) as u32
        };
    }
    fn timeout(&mut self) {
        self.timeouts = self.timeouts.saturating_add(1);
    }
    fn reconnect(&mut self) {
        self.reconnects = self.reconnects.saturating_add(1);
    }
}

/// Where the connection is in its life, as [`HeartbeatMachine::state`] reports it.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum State {
    /// Waiting `after` a [`Reconnect`](crate::Action::Reconnect) before connecting.
    Backoff,
    /// A connection attempt is under way (or, for a new machine, about to be).
    Connecting,
    /// Connected: pinging, answering, watching for silence.
    Open,
    /// A [`Close`](crate::Action::Close) was sent; waiting for the transport to close.
    Closing,
    /// Server role: the connection is over. Nothing more will happen.
    Closed,
    /// Shut down by [`Event::Shutdown`]. Nothing more will happen.
    Stopped,
    /// Client role: `max_attempts` reconnects failed. Nothing more will happen.
    GaveUp,
}

impl State {
    /// Whether the machine is finished (closed, stopped or gave up).
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Closed | State::Stopped | State::GaveUp)
    }
}

/// Counters and round-trip times, from [`HeartbeatMachine::stats`].
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Pings sent, over all connections (counts modulo 2³²).
    pub pings_sent: u32,
    /// Pongs that acknowledged a ping in flight.
    pub pongs_received: u32,
    /// Connections closed for a pong or idle timeout.
    pub timeouts: u32,
    /// Reconnects asked for, over the machine's life.
    pub reconnects: u32,
    /// Reconnect attempts since the last stable connection.
    pub attempt: u32,
    /// The last measured round trip (ping to pong), to the microsecond.
    pub rtt: Option<Duration>,
    /// The smoothed round trip (RFC 6298: 7/8 old + 1/8 new).
    pub smoothed_rtt: Option<Duration>,
}

impl HeartbeatMachine {
    /// A machine for one connection about to be attempted (or being accepted) at `now`.
    pub fn new(config: Config, now: Instant) -> HeartbeatMachine {
        HeartbeatMachine {
            config,
            conn: Conn::new(&config, now),
            now: now.as_nanos(),
            counters: Counters::new(),
        }
    }

    /// The single entry point: applies `event` at `now` and returns what to do. A `now`
    /// earlier than one seen before counts as the latest seen. Never panics.
    #[inline]
    pub fn handle(&mut self, now: Instant, event: Event) -> Actions {
        self.now = self.now.max(now.as_nanos());
        self.conn
            .handle(&self.config, self.now, event, &mut self.counters)
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
    /// `next_deadline` is an early bound of (for the scenario checks and the oracle).
    #[cfg(feature = "sim")]
    pub(crate) fn rule_deadline(&self) -> Option<Instant> {
        self.conn
            .deadline(&self.config)
            .map(|t| Instant::from_nanos(t.max(self.now)))
    }

    /// The latest `now` the machine has seen (it never goes back).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// The last measured round-trip time.
    pub fn rtt(&self) -> Option<Duration> {
        self.stats().rtt
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.conn.state(self.now)
    }

    /// Whether [`Event::Pause`] is in force.
    pub fn is_paused(&self) -> bool {
        self.conn.is_paused()
    }

    /// The ping awaiting its pong, if any.
    pub fn ping_in_flight(&self) -> Option<PingId> {
        self.conn.ping_in_flight()
    }

    /// Counters and round-trip times.
    pub fn stats(&self) -> Stats {
        self.counters
            .stats(self.conn.pings_sent(), self.conn.attempt())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
