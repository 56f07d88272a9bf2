//! [`Stats`]: counters, round trips and the timeouts in force; [`Counters`], where the
//! rules record them.

use core::time::Duration;

/// Counters, round trips and the timeouts in force, from
/// [`HeartbeatMachine::stats`](crate::HeartbeatMachine::stats).
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
    /// The last measured round trip (from the moment the ping left to its pong), to the
    /// microsecond.
    pub rtt: Option<Duration>,
    /// The smoothed round trip of this connection's pongs (RFC 6298).
    pub smoothed_rtt: Option<Duration>,
    /// Its mean deviation (RFC 6298's RTTVAR).
    pub rtt_var: Option<Duration>,
    /// The ping interval in force: the configured one, or the keepalive interval smart
    /// keepalive learned ([`keepalive_ceiling`](crate::ConfigBuilder::keepalive_ceiling);
    /// whole milliseconds, as [`PathMemory::interval`](crate::PathMemory::interval) reads
    /// it), doubled for each "too many pings" the peer said.
    pub ping_interval: Duration,
    /// The pong timeout in force: the configured one, or three retransmission timeouts of
    /// the path's measured round trip when that is longer (at most 60 s).
    pub pong_timeout: Duration,
    /// The dead-peer bound in force: a silent peer is closed within this of its last
    /// byte, either way, by the machine's clock. A driver closes when its timer fires:
    /// that much later (tokio and async-io: up to the next millisecond, and then the
    /// thread's scheduling; 1–6 ms on an idle machine), and reads what reached the
    /// socket first (after a late wake of its own, or where the kernel cannot show what
    /// waits unread: up to 50 ms more; see the README).
    pub dead_peer_bound: Duration,
}

/// No round trip measured yet, wherever a round trip is kept in µs.
pub(crate) const NO_RTT: u32 = u32::MAX;

/// What the rules count, kept beside the per-connection state (a machine's own, or a
/// set's totals).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Counters {
    pongs: u32,
    timeouts: u32,
    reconnects: u32,
    rtt_us: u32,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            pongs: 0,
            timeouts: 0,
            reconnects: 0,
            rtt_us: NO_RTT,
        }
    }

    /// The counted figures, with `pings_sent` (which the connection state keeps); the
    /// per-connection ones are left at their defaults.
    pub(crate) fn totals(&self, pings_sent: u32) -> Stats {
        Stats {
            pings_sent,
            pongs_received: self.pongs,
            timeouts: self.timeouts,
            reconnects: self.reconnects,
            rtt: self.rtt(),
            ..Stats::default()
        }
    }

    /// The last round trip measured.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        (self.rtt_us != NO_RTT).then(|| Duration::from_micros(u64::from(self.rtt_us)))
    }

    /// A pong acknowledged the ping in flight `rtt_us` after it left.
    pub(crate) fn pong(&mut self, rtt_us: u32) {
        self.pongs = self.pongs.saturating_add(1);
        self.rtt_us = rtt_us;
    }

    /// A connection closed for a pong or idle timeout.
    pub(crate) fn timeout(&mut self) {
        self.timeouts = self.timeouts.saturating_add(1);
    }

    /// A reconnect was asked for.
    pub(crate) fn reconnect(&mut self) {
        self.reconnects = self.reconnects.saturating_add(1);
    }
}
