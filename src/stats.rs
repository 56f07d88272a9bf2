//! [`Stats`]: counters and round-trip times, and [`Counters`], where the rules record them.

use core::time::Duration;

/// Counters and round-trip times, from [`HeartbeatMachine::stats`](crate::HeartbeatMachine::stats).
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
    /// The smoothed round trip (RFC 6298: 7/8 old + 1/8 new).
    pub smoothed_rtt: Option<Duration>,
}

const NO_RTT: u32 = u32::MAX;

/// What the rules count, kept beside the per-connection state (a machine's own, or a
/// set's totals).
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

    /// The public statistics, with the two figures the connection state keeps.
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

    /// A pong acknowledged the ping in flight `rtt_ns` after it left.
    pub(crate) fn pong(&mut self, rtt_ns: u64) {
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

    /// A connection closed for a pong or idle timeout.
    pub(crate) fn timeout(&mut self) {
        self.timeouts = self.timeouts.saturating_add(1);
    }

    /// A reconnect was asked for.
    pub(crate) fn reconnect(&mut self) {
        self.reconnects = self.reconnects.saturating_add(1);
    }
}
