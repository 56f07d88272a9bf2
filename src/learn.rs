//! Smart keepalive: learning how long the path stays open when idle, and the
//! [`PathMemory`] that keeps what a connection learned for the next one.
//!
//! Carrier NATs and firewalls forget an idle TCP mapping after anything from 30 s to
//! 30 min, and say nothing: the connection is black-holed. A fixed keepalive interval
//! either wakes a phone's radio far more often than the path needs, or loses the
//! connection on a path that cuts sooner. With
//! [`keepalive_ceiling`](crate::ConfigBuilder::keepalive_ceiling) set, the machine learns
//! the longest idle gap the path tolerates, between `ping_interval` (the floor) and the
//! ceiling, by the rule of Tencent mars' smart heartbeat (WeChat), made exact:
//!
//! - **Evidence.** A keepalive ping sent after a silent gap (nothing of ours for the
//!   interval in force, nothing of the peer's for most of it: the last ping's answer may
//!   come a little after that ping) that is answered (any sign of the peer) is a success
//!   at that interval. A connection lost right after such a gap, with nothing heard since
//!   (a pong timeout, or a reset when the ping was written) is a loss at it. Nothing else
//!   is evidence: a close the peer chose (1001, 1012, any close frame), a failure while
//!   traffic flowed, a probe after the process slept. A connection's first ping, at its
//!   phase ([`spread_pings`](crate::ConfigBuilder::spread_pings)), follows a shorter
//!   gap when nothing went either way since the open: its loss is a loss at the
//!   interval (a shorter gap failed), its answer is no success.
//! - **Step up.** After [`STEP_AFTER`] successes in a row at an interval, the next is a
//!   quarter longer (at most the ceiling).
//! - **Settle.** Two losses in a row at an interval X settle the interval a fifth below X
//!   (the margin), and X is not probed again until [`REPROBE_AFTER`] more successes.
//! - **Stale.** After a network change ([`Event::NetworkChanged`](crate::Event)) the next
//!   loss restarts learning from the floor: the path is another.
//!
//! The learned interval stretches detection too: the dead-peer bound in force is the
//! interval plus the pong timeout ([`Stats`](crate::Stats) shows both). That is the
//! trade: fewer wake-ups for a slower verdict on a dead peer.

use crate::config::Config;
use crate::stats::NO_RTT;
use core::fmt;

impl Default for PathMemory {
    /// [`PathMemory::new`]: nothing learned.
    fn default() -> PathMemory {
        PathMemory::new()
    }
}

/// Successes in a row at one interval before the next step up (mars takes five at steps
/// of a minute; a quarter up each time, three do).
pub(crate) const STEP_AFTER: u8 = 3;
/// Successes at the settled interval before the interval that failed is probed again:
/// at minutes apart, days (mars re-probes after a week).
pub(crate) const REPROBE_AFTER: u16 = 1_000;
/// The byte form's first byte: its version.
const VERSION: u8 = 1;

/// What a connection learned about its path: the idle limit (the keepalive interval
/// learned, the gap that failed and how sure it is), and the round-trip estimator behind
/// the pong timeout's floor. A small `Copy` value: a [`Client`](crate::driver::Client)
/// carries it from connection to connection by itself; an application may store it per
/// network (Wi-Fi SSID, carrier, endpoint) with [`to_bytes`](Self::to_bytes) and give it
/// to the next client ([`HeartbeatMachine::remember`](crate::HeartbeatMachine::remember)).
///
/// ```
/// use keepalive::{Config, Duration, HeartbeatMachine, Instant, PathMemory};
/// let config = Config::client().keepalive_ceiling(Duration::from_secs(600)).build()?;
/// let machine = HeartbeatMachine::new(config, Instant::ZERO);
/// let saved = machine.path_memory().to_bytes(); // store it under the network's name
/// let restored = PathMemory::from_bytes(&saved).expect("our own bytes");
/// let next = HeartbeatMachine::new(config, Instant::ZERO).remember(restored);
/// assert_eq!(next.path_memory(), machine.path_memory());
/// # Ok::<(), keepalive::ConfigError>(())
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct PathMemory {
    learned: Learned,
    /// RFC 6298's estimator, in µs (`srtt_us` [`NO_RTT`]: none), and the transport's RTO.
    srtt_us: u32,
    rttvar_us: u32,
    path_rto_us: u32,
}

/// What the connections learned about the path's idle limit: the learning rules' state.
/// A machine keeps this, and its connection the round trips; [`PathMemory`] is both.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct Learned {
    /// The keepalive interval learned, in ms (0: nothing learned, the floor).
    interval_ms: u32,
    /// The idle gap that failed twice, in ms (0: none): not probed again for a while.
    limit_ms: u32,
    /// Successes since the interval settled.
    since_settled: u16,
    /// Successes in a row at the interval, and losses in a row.
    successes: u8,
    losses: u8,
    /// The network changed since this was learned.
    stale: bool,
}

impl fmt::Debug for PathMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.learned;
        f.debug_struct("PathMemory")
            .field("interval_ms", &l.interval_ms)
            .field("limit_ms", &l.limit_ms)
            .field("successes", &l.successes)
            .field("losses", &l.losses)
            .field("stale", &l.stale)
            .field("srtt_us", &self.srtt_us)
            .finish_non_exhaustive()
    }
}

/// The learning range of `cfg`: its floor and ceiling in ms (equal when it does not
/// learn), the ceiling never past what the path's configured idle limit leaves room for.
fn range(cfg: &Config) -> (u32, u32) {
    let t = &cfg.timing;
    let floor = t.ping_interval;
    let mut ceiling = t.keepalive_ceiling.max(floor);
    if t.path_idle_limit != 0 {
        ceiling = ceiling.min(t.path_idle_limit.saturating_sub(t.pong_timeout));
    }
    (floor, ceiling.max(floor))
}

impl Learned {
    /// The keepalive interval learned, in ms, within `cfg`'s range.
    pub(crate) fn interval_ms(&self, cfg: &Config) -> u32 {
        let (floor, ceiling) = range(cfg);
        self.interval_ms.clamp(floor, ceiling)
    }

    /// A keepalive ping after a silent gap at the interval in force was answered.
    pub(crate) fn held(&mut self, cfg: &Config) {
        let (_, ceiling) = range(cfg);
        let interval = self.interval_ms(cfg);
        self.interval_ms = interval;
        self.losses = 0;
        self.successes = self.successes.saturating_add(1);
        if self.limit_ms != 0 {
            self.since_settled = self.since_settled.saturating_add(1);
            if self.since_settled >= REPROBE_AFTER {
                self.limit_ms = 0; // probe again, rarely
                self.since_settled = 0;
            }
            return;
        }
        if self.successes >= STEP_AFTER {
            self.successes = 0;
            let up = interval.saturating_add((interval / 4).max(1));
            self.interval_ms = up.min(ceiling);
        }
    }

    /// The connection was lost right after a silent gap at the interval in force.
    pub(crate) fn lost(&mut self, cfg: &Config) {
        let (floor, _) = range(cfg);
        let interval = self.interval_ms(cfg);
        self.successes = 0;
        if self.stale {
            // Another path: what this one allows is unknown; learn it from the floor.
            *self = Learned::default();
            return;
        }
        self.interval_ms = interval;
        self.losses = self.losses.saturating_add(1);
        if self.losses >= 2 {
            // Settled: a fifth below the gap that failed twice, never below the floor.
            self.limit_ms = interval;
            self.interval_ms = (interval - interval / 5).max(floor);
            self.losses = 0;
            self.since_settled = 0;
        }
    }

    /// The network changed: what was learned may not hold.
    pub(crate) fn network_changed(&mut self) {
        self.stale = true;
    }
}

impl PathMemory {
    /// Nothing learned: the interval is the floor, no round trip known.
    pub const fn new() -> PathMemory {
        PathMemory {
            learned: Learned {
                interval_ms: 0,
                limit_ms: 0,
                since_settled: 0,
                successes: 0,
                losses: 0,
                stale: false,
            },
            srtt_us: NO_RTT,
            rttvar_us: 0,
            path_rto_us: 0,
        }
    }

    /// `learned`, with a connection's round-trip estimator in µs: `(srtt, rttvar)` if
    /// one was measured (never [`NO_RTT`], which means none), and the transport's
    /// retransmission timeout (0: none).
    pub(crate) fn of(learned: Learned, (srtt, path_rto_us): (Option<(u32, u32)>, u32)) -> Self {
        let (srtt_us, rttvar_us) = srtt.unwrap_or((NO_RTT, 0));
        PathMemory {
            learned,
            srtt_us,
            rttvar_us,
            path_rto_us,
        }
    }

    /// What was learned about the idle limit.
    pub(crate) fn learned(&self) -> Learned {
        self.learned
    }

    /// The idle gap that failed twice and is not probed again yet, if any.
    pub fn idle_limit(&self) -> Option<core::time::Duration> {
        let limit = self.learned.limit_ms;
        (limit != 0).then(|| core::time::Duration::from_millis(limit.into()))
    }

    /// The keepalive interval learned, in whole milliseconds, as a connection that
    /// remembers this applies it (its [`Stats::ping_interval`](crate::Stats) reads the
    /// same, within the config's range); `None`: nothing learned on this path yet, so
    /// the interval in force is `ping_interval`, the floor (a new memory, or one whose
    /// network changed and then lost a connection: learning starts over).
    pub fn interval(&self) -> Option<core::time::Duration> {
        let interval = self.learned.interval_ms;
        (interval != 0).then(|| core::time::Duration::from_millis(interval.into()))
    }

    /// Whether the network changed since it was learned: the next loss after a silent
    /// gap restarts learning from the floor.
    pub fn is_stale(&self) -> bool {
        self.learned.stale
    }

    /// The round-trip estimator, in µs: `(srtt, rttvar)` if any was measured, and the
    /// transport's retransmission timeout (0: none).
    pub(crate) fn rtt(&self) -> (Option<(u32, u32)>, u32) {
        let srtt = (self.srtt_us != NO_RTT).then_some((self.srtt_us, self.rttvar_us));
        (srtt, self.path_rto_us)
    }

    /// The stable byte form (28 bytes, little-endian, a version first): store it, and
    /// read it back with [`from_bytes`](Self::from_bytes) in any later version.
    pub fn to_bytes(&self) -> [u8; 28] {
        let mut out = [0u8; 28];
        out[0] = VERSION;
        let l = &self.learned;
        out[1] = u8::from(l.stale);
        out[2] = l.successes;
        out[3] = l.losses;
        out[4..8].copy_from_slice(&l.interval_ms.to_le_bytes());
        out[8..12].copy_from_slice(&l.limit_ms.to_le_bytes());
        out[12..14].copy_from_slice(&l.since_settled.to_le_bytes());
        // 14..16: reserved, zero.
        out[16..20].copy_from_slice(&self.srtt_us.to_le_bytes());
        out[20..24].copy_from_slice(&self.rttvar_us.to_le_bytes());
        out[24..28].copy_from_slice(&self.path_rto_us.to_le_bytes());
        out
    }

    /// Reads the byte form; `None` unless it is one (28 bytes of a known version, its
    /// reserved bytes zero).
    pub fn from_bytes(bytes: &[u8]) -> Option<PathMemory> {
        let b: &[u8; 28] = bytes.try_into().ok()?;
        // Another version, a flag that is no flag, reserved bytes that are not zero:
        // not ours, or damaged.
        if b[0] != VERSION || b[1] > 1 || b[14] != 0 || b[15] != 0 {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(PathMemory {
            learned: Learned {
                stale: b[1] == 1,
                successes: b[2],
                losses: b[3],
                interval_ms: u32_at(4),
                limit_ms: u32_at(8),
                since_settled: u16::from_le_bytes([b[12], b[13]]),
            },
            srtt_us: u32_at(16),
            rttvar_us: u32_at(20),
            path_rto_us: u32_at(24),
        })
    }
}
