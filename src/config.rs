//! Settings, declared once in one table ([`settings_table!`]), and the checks that catch
//! the mistakes the field makes. A row of the table is a setting: its setter and its docs
//! (its default and why), its stored field and getter, its name in errors and scenario
//! files, and its default. Adding one takes that row, the rule that reads it, a
//! cross-check in `build` if it has one, and its line in the README's defaults: the
//! harnesses that build configs from raw input (the fuzz targets, the property and API
//! tests) read the table through [`Setting::ALL`] and the scenario text.

use crate::policy::{Decision, Key, Overrides};
use crate::reason::CloseReason;
use crate::time::NS_PER_MS;
use core::fmt;
use core::time::Duration;

/// Which end of the connection the machine runs at.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    /// Connects, and reconnects with backoff when the connection is lost.
    Client,
    /// Accepted a connection; never reconnects: after a close it is done.
    Server,
}

/// When to send pings.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum PingPolicy {
    /// Ping only when a direction (inbound or outbound, tracked separately) has been quiet
    /// for `ping_interval`. Busy links carry no pings: on a link where the application
    /// talks more often than that, no ping ever appears, and that is by design.
    #[default]
    WhenIdle,
    /// Ping every `ping_interval`, whatever the traffic (for measuring RTT steadily, or a
    /// peer that insists on regular heartbeats).
    Fixed,
    /// Never ping: only answer the peer's pings and close after `idle_timeout` of inbound
    /// silence. For a server whose clients send the heartbeats (browsers, app-level
    /// `{"type":"ping"}`). Requires `idle_timeout`.
    Never,
}

/// How reconnect delays are spread, so that a fleet of clients that lost the same server
/// does not come back in one storm.
///
/// Attempt `n` (from 1) has the un-jittered step `s(n) = min(backoff_max,
/// backoff_initial × multiplier^(n-1))`: 1 s, 2 s, 4 s, … with the defaults. Every delay
/// lies between `backoff_initial` and `backoff_max`.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum Jitter {
    /// Exactly `s(n)`. Deterministic; use only for a single client.
    None,
    /// Uniform from `backoff_initial` up to the next step `s(n+1)`: the widest spread
    /// (AWS's "full jitter" with a floor), though a late attempt may come early.
    Full,
    /// Uniform from `s(n)` up to `s(n+1)`: never sooner than the plain schedule, and
    /// spread over one step, the first retry included.
    #[default]
    Equal,
}

/// The shortest duration a setting may have.
const MIN: Duration = Duration::from_millis(1);
/// The longest duration a setting may have: no heartbeat setting needs a day.
const MAX: Duration = Duration::from_secs(24 * 3600);
/// The largest `max_attempts` short of unlimited (the counter is 16 bits): at the
/// default backoff, over three weeks of retrying.
const MAX_ATTEMPTS: u32 = 65_535;
/// `max_attempts` that never gives up.
pub(crate) const UNLIMITED: u32 = u32::MAX;
/// A server's `min_ping_interval` unless set: see [`ConfigBuilder::min_ping_interval`].
const SERVER_MIN_PING_INTERVAL: Duration = Duration::from_millis(50);
/// The default `ping_interval`, and the most one derived from a path limit may be.
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// The default `pong_timeout`.
const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(20);
/// The shortest heartbeat setting a hint proposes in place of one that is out of range
/// or leaves no room: a sub-second ping interval is a flood to real servers (they police
/// pings), and a sub-second pong timeout calls a loaded mobile link dead. The builder
/// accepts shorter values given on purpose (tests on loopback); a hint never leads there.
const HINT_FLOOR: Duration = Duration::from_secs(1);

/// `d` in whole milliseconds, rounded down: how every derived value and every hint is
/// kept, so that the builder accepts it as printed.
const fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// How a setting's value is taken in, checked, kept and handed back.
pub(crate) trait Kind {
    /// What the setter takes.
    type Input: Copy + fmt::Debug;
    /// What the config keeps.
    type Stored: Copy + PartialEq + Eq + core::hash::Hash + fmt::Debug;
    /// What the getter returns.
    type Output;
    fn store(setting: Setting, value: Self::Input) -> Result<Self::Stored, ConfigError>;
    fn output(stored: Self::Stored) -> Self::Output;
    /// Zero turns the setting off.
    const OFF_AT_ZERO: bool = false;
    /// Writes a value as errors show it.
    fn show(value: &Self::Input, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{value:?}")
    }
}

/// A duration from 1 ms to 24 h, in whole milliseconds.
pub(crate) struct Millis;
/// A duration from 1 ms to 24 h, or zero for "off".
pub(crate) struct OrOff;
/// A count of attempts; [`UNLIMITED`] never gives up.
pub(crate) struct Attempts;
/// A growth factor from 1 to 15, kept in sixteenths.
pub(crate) struct Factor;
/// A value kept as given.
pub(crate) struct Plain<T>(core::marker::PhantomData<T>);

impl Kind for Millis {
    type Input = Duration;
    type Stored = u32;
    type Output = Duration;
    fn store(setting: Setting, value: Duration) -> Result<u32, ConfigError> {
        if !(MIN..=MAX).contains(&value) {
            return Err(ConfigError::OutOfRange { setting, value });
        }
        if u64::from(value.subsec_nanos()) % NS_PER_MS != 0 {
            return Err(ConfigError::SubMillisecond { setting, value });
        }
        // At most 86_400_000: fits.
        Ok(value.as_millis() as u32)
    }
    fn output(ms: u32) -> Duration {
        Duration::from_millis(u64::from(ms))
    }
}

impl Kind for OrOff {
    type Input = Duration;
    type Stored = u32;
    type Output = Option<Duration>;
    const OFF_AT_ZERO: bool = true;
    fn store(setting: Setting, value: Duration) -> Result<u32, ConfigError> {
        if value.is_zero() {
            return Ok(0);
        }
        Millis::store(setting, value)
    }
    fn output(ms: u32) -> Option<Duration> {
        (ms != 0).then(|| Millis::output(ms))
    }
    fn show(value: &Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if value.is_zero() {
            f.write_str("off")
        } else {
            write!(f, "{value:?}")
        }
    }
}

impl Kind for Attempts {
    type Input = u32;
    type Stored = u32;
    type Output = Option<u32>;
    fn store(_: Setting, value: u32) -> Result<u32, ConfigError> {
        if value > MAX_ATTEMPTS && value != UNLIMITED {
            return Err(ConfigError::TooManyAttempts { value });
        }
        Ok(value)
    }
    fn output(n: u32) -> Option<u32> {
        (n != UNLIMITED).then_some(n)
    }
}

impl Kind for Factor {
    type Input = f32;
    type Stored = u8;
    type Output = f32;
    fn store(_: Setting, value: f32) -> Result<u8, ConfigError> {
        if !(value.is_finite() && (1.0..=15.0).contains(&value)) {
            return Err(ConfigError::BadMultiplier { value });
        }
        // Rounded to the nearest sixteenth: 1.0..=15.0 maps into 16..=240.
        Ok((value * 16.0 + 0.5) as u8)
    }
    fn output(sixteenths: u8) -> f32 {
        f32::from(sixteenths) / 16.0
    }
}

impl<T: Copy + PartialEq + Eq + core::hash::Hash + fmt::Debug> Kind for Plain<T> {
    type Input = T;
    type Stored = T;
    type Output = T;
    fn store(_: Setting, value: T) -> Result<T, ConfigError> {
        Ok(value)
    }
    fn output(value: T) -> T {
        value
    }
}

/// The settings table. Each row: the setter's docs, then
/// `name, Variant: Kind, Input => Output = default;`.
/// The first group is the heartbeat's (both roles), the second reconnecting's (a client
/// only), the third the reconnect overrides (a client only, set by key).
macro_rules! settings {
    (
        heartbeat { $( $(#[doc = $hdoc:literal])* $h:ident, $HV:ident : $hk:ty, $hin:ty => $hout:ty = $hd:expr; )* }
        reconnect { $( $(#[doc = $rdoc:literal])* $r:ident, $RV:ident : $rk:ty, $rin:ty => $rout:ty = $rd:expr; )* }
        overrides { $( $o:ident, $OV:ident; )* }
    ) => {
        /// Names a setting, in errors: [`ConfigError::setting`].
        #[non_exhaustive]
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
        pub enum Setting {
            $( #[doc = concat!("[`ConfigBuilder::", stringify!($h), "`]")] $HV, )*
            $( #[doc = concat!("[`ConfigBuilder::", stringify!($r), "`] (a client's)")] $RV, )*
            $( #[doc = concat!("[`ConfigBuilder::", stringify!($o), "`] (a client's)")] $OV, )*
        }

        impl Setting {
            /// The setter's name, as in `ping_interval`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Setting::$HV => stringify!($h), )*
                    $( Setting::$RV => stringify!($r), )*
                    $( Setting::$OV => stringify!($o), )*
                }
            }

            /// Every setting, in the table's order: the heartbeat's, then a client's
            /// reconnect settings, then its overrides.
            pub const ALL: &'static [Setting] =
                &[$( Setting::$HV, )* $( Setting::$RV, )* $( Setting::$OV, )*];

            /// Whether zero turns the setting off (the table's `OrOff` rows).
            const fn off_at_zero(self) -> bool {
                match self {
                    $( Setting::$HV => <$hk as Kind>::OFF_AT_ZERO, )*
                    $( Setting::$RV => <$rk as Kind>::OFF_AT_ZERO, )*
                    $( Setting::$OV => false, )*
                }
            }

            /// Writes the default as errors show it (a server's own where it has one).
            fn show_default(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self == Setting::MinPingInterval {
                    return write!(f, "{SERVER_MIN_PING_INTERVAL:?} on a server, off on a client");
                }
                match self {
                    $( Setting::$HV => <$hk as Kind>::show(&$hd, f), )*
                    $( Setting::$RV => <$rk as Kind>::show(&$rd, f), )*
                    $( Setting::$OV => f.write_str("the table"), )*
                }
            }
        }

        /// What the builder was given: `None` for the default.
        #[derive(Copy, Clone, Debug, Default)]
        struct Given {
            $( $h: Option<$hin>, )*
            $( $r: Option<$rin>, )*
        }

        impl Given {
            /// The first reconnect setting given, if any.
            fn reconnect_setting(&self) -> Option<Setting> {
                $( if self.$r.is_some() { return Some(Setting::$RV); } )*
                None
            }
        }

        /// The heartbeat's settings, kept as checked (both roles).
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub(crate) struct Timing {
            /// Client or server (kept here, in what would be the struct's padding).
            pub(crate) role: Role,
            $( pub(crate) $h: <$hk as Kind>::Stored, )*
        }

        /// A client's reconnect settings, kept as checked.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub(crate) struct Reconnect {
            $( pub(crate) $r: <$rk as Kind>::Stored, )*
        }

        fn resolve(role: Role, g: &Given) -> Result<(Timing, Reconnect), ConfigError> {
            let timing = Timing {
                role,
                $( $h: <$hk as Kind>::store(Setting::$HV, g.$h.unwrap_or_else(|| $hd))?, )*
            };
            let reconnect = Reconnect {
                $( $r: <$rk as Kind>::store(Setting::$RV, g.$r.unwrap_or_else(|| $rd))?, )*
            };
            Ok((timing, reconnect))
        }

        impl ConfigBuilder {
            $(
                $(#[doc = $hdoc])*
                pub fn $h(mut self, value: $hin) -> Self {
                    self.given.$h = Some(value);
                    self
                }
            )*
            $(
                $(#[doc = $rdoc])*
                ///
                /// A client's setting: a server given it is refused
                /// ([`ConfigError::ClientOnly`]).
                pub fn $r(mut self, value: $rin) -> Self {
                    self.given.$r = Some(value);
                    self
                }
            )*
        }

        impl Config {
            $(
                #[doc = concat!("See [`ConfigBuilder::", stringify!($h), "`].")]
                pub fn $h(&self) -> $hout {
                    <$hk as Kind>::output(self.timing.$h)
                }
            )*
            $(
                #[doc = concat!("See [`ConfigBuilder::", stringify!($r), "`] (a server keeps the default).")]
                pub fn $r(&self) -> $rout {
                    <$rk as Kind>::output(self.reconnect.$r)
                }
            )*
        }
    };
}

/// The settings table, handed to `$consumer!` (a macro that takes the table's rows as
/// [`settings!`] does): one table, read by the config here and by whatever else writes
/// settings (the simulator's scenario text), without this module knowing them.
macro_rules! settings_table {
    ($consumer:ident) => {
        $consumer! {
            heartbeat {
                /// How long a direction may stay quiet before we ping (default 20 s). With
                /// [`PingPolicy::Fixed`], the time between pings. Left unset with a
                /// [`path_idle_limit`](Self::path_idle_limit), it is derived from the limit.
                ping_interval, PingInterval: Millis, Duration => Duration = DEFAULT_PING_INTERVAL;
                /// How long to wait for a pong (or any other sign of the peer) after a ping left
                /// before closing with [`CloseReason::PongTimeout`] (default 20 s). A slow path
                /// stretches it: it never falls below three retransmission timeouts of the
                /// measured round trip (see [`Stats::pong_timeout`](crate::Stats::pong_timeout)).
                pong_timeout, PongTimeout: Millis, Duration => Duration = DEFAULT_PONG_TIMEOUT;
                /// Close with [`CloseReason::IdleTimeout`] after this much silence from the peer
                /// (default off; zero turns it off). Must be at least `ping_interval +
                /// pong_timeout` when we ping, so it never pre-empts a slow pong.
                idle_timeout, IdleTimeout: OrOff, Duration => Option<Duration> = Duration::ZERO;
                /// When to ping (default [`PingPolicy::WhenIdle`]).
                ping_policy, PingPolicy: Plain<PingPolicy>, PingPolicy => PingPolicy = PingPolicy::WhenIdle;
                /// How long a close may take before [`Action::ForceClose`](crate::Action::ForceClose)
                /// (default 10 s).
                close_timeout, CloseTimeout: Millis, Duration => Duration = Duration::from_secs(10);
                /// The smallest idle limit on the path (default none; zero for none): nginx
                /// `proxy_read_timeout` (60 s), AWS ALB (60 s), Cloudflare (100 s), a mobile NAT
                /// (often 30 s or less).
                ///
                /// The worst silence the path sees is `ping_interval + pong_timeout` (a ping just
                /// before the deadline, its pong as late as we allow), so `build` refuses settings
                /// where that exceeds the limit. When `ping_interval` was not set, it is derived:
                /// the default, or shorter if the limit requires. A client told to ping less
                /// never slows down past the limit either.
                path_idle_limit, PathIdleLimit: OrOff, Duration => Option<Duration> = Duration::ZERO;
                /// Smart keepalive (default off; zero turns it off): learn how long the path stays
                /// open when idle, stretching the keepalive interval from `ping_interval` (the
                /// floor) up to this ceiling, never past what `path_idle_limit` leaves room for.
                /// A ping answered after a silent gap of the interval in force is a success;
                /// three in a row step it up a quarter; a connection lost right after such a gap,
                /// twice in a row, settles it a fifth below the gap that failed (see
                /// [`PathMemory`](crate::PathMemory)). The dead-peer bound stretches with the
                /// interval: fewer wake-ups, a slower verdict on a dead peer.
                keepalive_ceiling, KeepaliveCeiling: OrOff, Duration => Option<Duration> = Duration::ZERO;
                /// Spread the pings of connections opened together (default on): a connection's
                /// first ping goes at a random point of the last seven eighths of its interval
                /// (of quiet, as every ping), drawn from the seed; later pings keep that phase.
                /// A fleet that reconnected within seconds of a server's restart then pings
                /// about evenly, instead of in one wave per interval. The first ping may come
                /// sooner than `ping_interval`, never later, so the dead-peer bound holds; it
                /// never comes in the first eighth, so a peer that pauses for a second (2.5 s
                /// at the default interval) draws none. Off: the first ping is a full interval
                /// after the open.
                spread_pings, SpreadPings: Plain<bool>, bool => bool = true;
                /// Ping policing: the peer may ping once per this interval on average (default
                /// 50 ms on a server, at most a quarter of its `idle_timeout` in whole ms, off when
                /// that is under 1 ms; off on a client; zero turns it off).
                ///
                /// A token bucket that starts full. The rate: one ping per `min_ping_interval`.
                /// The burst: the credit for quiet time, a minute and at most 100 pings (5 s of
                /// credit at 50 ms), all of it at the open. So a burst at the start (the Autobahn
                /// suite sends ten pings at once), or pings that waited in our receive buffer
                /// while we were busy, are no flood. A ping beyond the budget is a strike; see
                /// [`max_ping_strikes`](Self::max_ping_strikes).
                ///
                /// A server's default lets through every heartbeat the field sends, at least
                /// twice over: Python `websockets` pings every 20 s, socket.io 25 s, browsers'
                /// app-level heartbeats every few seconds, this crate's client every 20 s by
                /// default and every 100 ms at the fastest it documents (its tests and demo). A
                /// flood at network speed right after the open is closed at its 104th ping (100
                /// of credit, one to start with, two strikes), within milliseconds; a peer that
                /// pings k times too fast is closed after about 100 / (k − 1) intervals.
                /// Raise it to tell misconfigured clients to slow down (gRPC servers use 5 min):
                /// a client of this crate told "too many pings" doubles its interval. A client
                /// trusts its server unless this is set.
                min_ping_interval, MinPingInterval: OrOff, Duration => Option<Duration> = Duration::ZERO;
                /// How many pings beyond its budget a peer may send before the machine closes
                /// with [`CloseReason::TooManyPings`] (code 1008; default 2: the third one
                /// closes). Data we send forgives them (gRFC A8's rule), and so does time: a
                /// probe after a network change or a resume never adds up.
                max_ping_strikes, MaxPingStrikes: Plain<u32>, u32 => u32 = 2;
                /// How long a connection attempt (TCP and handshake; on a server, the handshake of
                /// a machine created before it completes) may take before
                /// [`Action::AbortConnect`](crate::Action::AbortConnect) (default 10 s).
                connect_timeout, ConnectTimeout: Millis, Duration => Duration = Duration::from_secs(10);
                /// Seeds the jitter and the set's hashing. With feature `std` the default is
                /// random per builder; without it, a constant, so give each device its own seed
                /// (a serial number, a hardware random number) or a fleet reconnects in step. A
                /// fixed seed and the same times replay exactly.
                seed, Seed: Plain<u64>, u64 => u64 = default_seed();
            }
            reconnect {
                /// The first reconnect delay, and the floor of every delay (default 1 s).
                backoff_initial, BackoffInitial: Millis, Duration => Duration = Duration::from_secs(1);
                /// The cap on every reconnect delay (default 30 s).
                backoff_max, BackoffMax: Millis, Duration => Duration = Duration::from_secs(30);
                /// Growth per attempt, from 1 to 15, kept in sixteenths (default 2).
                backoff_multiplier, BackoffMultiplier: Factor, f32 => f32 = 2.0;
                /// How delays are spread (default [`Jitter::Equal`]).
                jitter, Jitter: Plain<Jitter>, Jitter => Jitter = Jitter::Equal;
                /// Reconnect at most this many times in a row, then
                /// [`Action::GiveUp`](crate::Action::GiveUp) (default unlimited; 0 never
                /// reconnects; at most 65,535).
                max_attempts, MaxAttempts: Attempts, u32 => Option<u32> = UNLIMITED;
                /// A connection that stayed up this long resets the attempt counter (default
                /// 60 s); a shorter one does not, so a flapping server still sees growing delays.
                stable_after, StableAfter: Millis, Duration => Duration = Duration::from_secs(60);
                /// The longest a server's `Retry-After` (or a [`Decision::NotBefore`]) is
                /// honoured (default 10 min): a server that asks for an hour gets this much, plus
                /// the spread.
                retry_after_max, RetryAfterMax: Millis, Duration => Duration = Duration::from_secs(600);
            }
            overrides {
                on_close_code, OnCloseCode;
                on_http_status, OnHttpStatus;
            }
        }
    };
}
#[cfg_attr(not(feature = "sim"), allow(unused_imports))]
pub(crate) use settings_table;

settings_table!(settings);

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn default_seed() -> u64 {
    #[cfg(feature = "std")]
    {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS once per thread and varied per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x6b65_6570_616c_6976);
        h.finish()
    }
    #[cfg(not(feature = "std"))]
    {
        // No entropy without an OS: give each device its own seed (see `seed`).
        0x9e37_79b9_7f4a_7c15
    }
}

/// Why [`ConfigBuilder::build`] (or a [`Client`](crate::driver::Client), given a
/// server's config) refused a configuration. `Display` names the setting, its value and
/// a fix, and every value it proposes is one the builder accepts as printed.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Debug)]
pub enum ConfigError {
    /// A duration is out of range: from 1 ms to 24 h (zero is "off" where a setting has
    /// an off).
    OutOfRange {
        /// Which setting.
        setting: Setting,
        /// What it was set to.
        value: Duration,
    },
    /// A duration has a fraction of a millisecond; settings are kept in whole ms.
    SubMillisecond {
        /// Which setting.
        setting: Setting,
        /// What it was set to.
        value: Duration,
    },
    /// `backoff_initial` is longer than `backoff_max`.
    BackoffInverted {
        /// The initial delay.
        initial: Duration,
        /// The cap.
        max: Duration,
    },
    /// `backoff_multiplier` is not a finite number from 1 to 15.
    BadMultiplier {
        /// What it was set to.
        value: f32,
    },
    /// A ping interval plus pong timeout longer than the path's idle limit: a slow pong
    /// would leave the path silent long enough for a proxy or NAT to cut a live connection.
    ExceedsPathLimit {
        /// The ping interval.
        ping_interval: Duration,
        /// The pong timeout.
        pong_timeout: Duration,
        /// The smallest idle limit on the path.
        limit: Duration,
    },
    /// `idle_timeout` shorter than `ping_interval + pong_timeout`: it would close a live
    /// peer whose pong is merely slow.
    IdleTimeoutTooShort {
        /// The idle timeout.
        idle_timeout: Duration,
        /// The ping interval.
        ping_interval: Duration,
        /// The pong timeout.
        pong_timeout: Duration,
    },
    /// `PingPolicy::Never` without `idle_timeout`: nothing would ever detect a dead peer.
    NoDeadPeerDetection,
    /// `keepalive_ceiling` not above `ping_interval` (the floor it learns up from), or
    /// set with `PingPolicy::Never` (no keepalive pings to learn from).
    KeepaliveCeiling {
        /// The ceiling.
        ceiling: Duration,
        /// The ping interval, the floor.
        ping_interval: Duration,
        /// Whether the policy pings at all.
        pings: bool,
    },
    /// `max_attempts` above 65,535 (the per-connection counter is 16 bits).
    TooManyAttempts {
        /// What it was set to.
        value: u32,
    },
    /// `min_ping_interval` longer than half of `idle_timeout`: a peer that pings often
    /// enough to stay open would be closed for pinging too often.
    PolicingTooStrict {
        /// The minimum interval between the peer's pings.
        min_ping_interval: Duration,
        /// The idle timeout the peer's pings must beat.
        idle_timeout: Duration,
    },
    /// More than four reconnect overrides.
    TooManyOverrides,
    /// A reconnect setting on a server's config: a server never reconnects.
    ClientOnly {
        /// The setting given.
        setting: Setting,
    },
    /// A reconnecting client was given a server's config.
    NotAClient,
}

impl ConfigError {
    /// The setting the proposed fix changes (`None` for [`NotAClient`](Self::NotAClient),
    /// whose fix is the role).
    pub const fn setting(&self) -> Option<Setting> {
        if let Some((setting, _)) = self.suggestion() {
            return Some(setting);
        }
        Some(match self {
            ConfigError::OutOfRange { setting, .. }
            | ConfigError::SubMillisecond { setting, .. }
            | ConfigError::ClientOnly { setting } => *setting,
            ConfigError::BackoffInverted { .. } => Setting::BackoffInitial,
            ConfigError::BadMultiplier { .. } => Setting::BackoffMultiplier,
            // (Each of these has a suggestion, above.)
            ConfigError::ExceedsPathLimit { .. } => Setting::PathIdleLimit,
            ConfigError::IdleTimeoutTooShort { .. } | ConfigError::NoDeadPeerDetection => {
                Setting::IdleTimeout
            }
            ConfigError::TooManyAttempts { .. } => Setting::MaxAttempts,
            ConfigError::KeepaliveCeiling { .. } => Setting::KeepaliveCeiling,
            ConfigError::PolicingTooStrict { .. } => Setting::MinPingInterval,
            ConfigError::TooManyOverrides => Setting::OnCloseCode,
            ConfigError::NotAClient => return None,
        })
    }

    /// The value the hint proposes, as data: the setting it changes and the value to
    /// give it (in whole milliseconds, as the builder takes it; zero turns an `or zero
    /// for off` setting off). `None` where the fix is no duration (a multiplier, an
    /// attempt count, an override, the role). The hint's text proposes the same; a fix
    /// of two settings names the first here, and the next build proposes the second.
    /// Hints take the other settings into account: applying them converges.
    ///
    /// ```
    /// use keepalive::{Config, Duration, Setting};
    /// let err = Config::client()
    ///     .ping_interval(Duration::from_secs(50))
    ///     .path_idle_limit(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.suggestion(), Some((Setting::PingInterval, Duration::from_secs(40))));
    /// ```
    pub const fn suggestion(&self) -> Option<(Setting, Duration)> {
        Some(match *self {
            ConfigError::OutOfRange { setting, value } => (setting, nearest(setting, value)),
            ConfigError::SubMillisecond { setting, value } => (setting, whole_ms_up(value)),
            ConfigError::BackoffInverted { max, .. } => (Setting::BackoffInitial, max),
            ConfigError::ExceedsPathLimit { .. } | ConfigError::IdleTimeoutTooShort { .. } => {
                match self.cycle_fix() {
                    CycleFix::Interval(d) => (Setting::PingInterval, d),
                    CycleFix::Both { pong, .. } => (Setting::PongTimeout, pong),
                    CycleFix::Limit(d) => (Setting::PathIdleLimit, d),
                    CycleFix::Idle(d) => (Setting::IdleTimeout, d),
                }
            }
            ConfigError::NoDeadPeerDetection => (Setting::IdleTimeout, SUGGESTED_IDLE),
            ConfigError::PolicingTooStrict { idle_timeout, .. } => (
                Setting::MinPingInterval,
                whole_ms(idle_timeout_half(idle_timeout)),
            ),
            ConfigError::KeepaliveCeiling {
                ping_interval,
                pings: true,
                ..
            } if ping_interval.as_millis() < MAX.as_millis() => {
                let eight = ping_interval.saturating_mul(8);
                let ceiling = if eight.as_millis() < MAX.as_millis() {
                    eight
                } else {
                    MAX
                };
                (Setting::KeepaliveCeiling, whole_ms(ceiling))
            }
            // No ceiling fits above the interval (or nothing pings): off.
            ConfigError::KeepaliveCeiling { .. } => (Setting::KeepaliveCeiling, Duration::ZERO),
            ConfigError::TooManyAttempts { .. }
            | ConfigError::BadMultiplier { .. }
            | ConfigError::TooManyOverrides
            | ConfigError::ClientOnly { .. }
            | ConfigError::NotAClient => return None,
        })
    }

    /// The fix for a heartbeat cycle (`ping_interval + pong_timeout`) that does not fit
    /// a limit, in whole milliseconds and never under [`HINT_FLOOR`].
    ///
    /// - Past the path's idle limit: a shorter interval if the pong timeout leaves room
    ///   for one; else both, a third of the limit for the pong; else (a limit under two
    ///   floors, which no sane heartbeat fits) the limit these settings need.
    /// - Past `idle_timeout`: the idle timeout the cycle needs, if it is within range;
    ///   else the cycle shortened to fit the idle timeout, as for a path's limit.
    const fn cycle_fix(&self) -> CycleFix {
        let (ping_interval, pong_timeout, limit, idle) = match *self {
            ConfigError::ExceedsPathLimit {
                ping_interval,
                pong_timeout,
                limit,
            } => (ping_interval, pong_timeout, limit, false),
            ConfigError::IdleTimeoutTooShort {
                idle_timeout,
                ping_interval,
                pong_timeout,
            } => (ping_interval, pong_timeout, idle_timeout, true),
            _ => return CycleFix::Interval(HINT_FLOOR),
        };
        let cycle = whole_ms(ping_interval.saturating_add(pong_timeout));
        if idle && cycle.as_millis() <= MAX.as_millis() {
            return CycleFix::Idle(cycle);
        }
        let floor = HINT_FLOOR.as_millis() as u64;
        let ms = limit.as_millis() as u64;
        if let Some(room) = limit.checked_sub(pong_timeout) {
            if room.as_millis() as u64 >= floor {
                return CycleFix::Interval(whole_ms(room));
            }
        }
        if ms >= 2 * floor {
            let pong = if ms / 3 > floor { ms / 3 } else { floor };
            return CycleFix::Both {
                pong: Duration::from_millis(pong),
                interval: Duration::from_millis(ms - pong),
            };
        }
        if idle {
            // An idle timeout under two seconds: the one a one-second heartbeat needs.
            return CycleFix::Idle(Duration::from_millis(2 * floor));
        }
        // At most the longest limit there is; the next hint then shortens the cycle.
        let least = Duration::from_millis(2 * floor);
        CycleFix::Limit(if cycle.as_millis() <= least.as_millis() {
            least
        } else if cycle.as_millis() >= MAX.as_millis() {
            MAX
        } else {
            cycle
        })
    }
}

/// What `idle_timeout` a server whose clients do not ping is given by a hint: clients
/// that ping every 30 s, one missed beat allowed.
const SUGGESTED_IDLE: Duration = Duration::from_secs(70);

const fn idle_timeout_half(idle: Duration) -> Duration {
    Duration::from_nanos((idle.as_nanos() / 2) as u64)
}

/// `d` rounded up to whole milliseconds, at most [`MAX`].
const fn whole_ms_up(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(NS_PER_MS as u128) as u64;
    let d = Duration::from_millis(ms);
    if d.as_millis() > MAX.as_millis() {
        MAX
    } else {
        d
    }
}

/// The value nearest to `value` that `setting` takes: too short, the shortest sane one
/// (policing takes any small value); too long, the longest.
const fn nearest(setting: Setting, value: Duration) -> Duration {
    if value.as_nanos() < MIN.as_nanos() && !matches!(setting, Setting::MinPingInterval) {
        return HINT_FLOOR;
    }
    if value.as_nanos() < MIN.as_nanos() {
        return MIN;
    }
    if value.as_nanos() > MAX.as_nanos() {
        return MAX;
    }
    whole_ms(value)
}

enum CycleFix {
    Interval(Duration),
    Both { pong: Duration, interval: Duration },
    Limit(Duration),
    Idle(Duration),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::OutOfRange { setting, value } => {
                write!(f, "{setting} ({value:?}) must be from {MIN:?} to {MAX:?}")?;
                if setting.off_at_zero() {
                    f.write_str(", or zero for off")?;
                }
                write!(f, "; try {:?} (the default is ", nearest(setting, value))?;
                setting.show_default(f)?;
                f.write_str(")")
            }
            ConfigError::SubMillisecond { setting, value } => write!(
                f,
                "{setting} ({value:?}) must be a whole number of milliseconds; try {:?}",
                whole_ms_up(value)
            ),
            ConfigError::BackoffInverted { initial, max } => write!(
                f,
                "backoff_initial ({initial:?}) must not exceed backoff_max ({max:?}); try \
                 backoff_initial {max:?} or less"
            ),
            ConfigError::BadMultiplier { value } => write!(
                f,
                "backoff_multiplier ({value}) must be a number from 1 to 15; try 2"
            ),
            ConfigError::ExceedsPathLimit {
                ping_interval,
                pong_timeout,
                limit,
            } => {
                write!(
                    f,
                    "ping_interval ({ping_interval:?}) plus pong_timeout ({pong_timeout:?}) must \
                     not exceed the path idle limit ({limit:?}), or a slow pong lets the path cut \
                     a live connection; "
                )?;
                match self.cycle_fix() {
                    CycleFix::Interval(room) => write!(f, "try ping_interval {room:?} or less"),
                    CycleFix::Both { pong, interval } => write!(
                        f,
                        "try pong_timeout {pong:?} and ping_interval {interval:?} or less"
                    ),
                    CycleFix::Limit(need) | CycleFix::Idle(need) => write!(
                        f,
                        "no heartbeat of a second or more fits that limit, and proxies and NATs \
                         cut idle paths after tens of seconds (nginx 60s), so check it; for \
                         these settings, try path_idle_limit {need:?}"
                    ),
                }
            }
            ConfigError::IdleTimeoutTooShort {
                idle_timeout,
                ping_interval,
                pong_timeout,
            } => {
                let cycle = ping_interval.saturating_add(pong_timeout);
                write!(
                    f,
                    "idle_timeout ({idle_timeout:?}) must be at least ping_interval + \
                     pong_timeout ({cycle:?}), or it closes a live peer whose pong is merely \
                     slow; "
                )?;
                match self.cycle_fix() {
                    CycleFix::Idle(need) => write!(f, "try {need:?}"),
                    CycleFix::Interval(room) => write!(f, "try ping_interval {room:?} or less"),
                    CycleFix::Both { pong, interval } => write!(
                        f,
                        "try pong_timeout {pong:?} and ping_interval {interval:?} or less"
                    ),
                    CycleFix::Limit(need) => write!(f, "try idle_timeout {need:?}"),
                }
            }
            ConfigError::TooManyAttempts { value } => write!(
                f,
                "max_attempts ({value}) must be at most {MAX_ATTEMPTS}; leave it unset to retry \
                 without limit"
            ),
            ConfigError::NoDeadPeerDetection => f.write_str(
                "ping_policy Never without an idle_timeout never detects a dead peer; set \
                 idle_timeout (for clients that ping every 30s, 70s allows one missed beat)",
            ),
            ConfigError::PolicingTooStrict {
                min_ping_interval,
                idle_timeout,
            } => write!(
                f,
                "min_ping_interval ({min_ping_interval:?}) must be at most half of idle_timeout \
                 ({idle_timeout:?}), or a peer that pings often enough to stay open is closed for \
                 pinging too often; try {:?} or less",
                whole_ms(idle_timeout_half(idle_timeout))
            ),
            ConfigError::KeepaliveCeiling {
                ping_interval,
                pings: false,
                ..
            } => write!(
                f,
                "keepalive_ceiling learns from keepalive pings, and ping_policy Never sends none \
                 (ping_interval {ping_interval:?} is unused); remove keepalive_ceiling, or ping"
            ),
            ConfigError::KeepaliveCeiling {
                ceiling,
                ping_interval,
                ..
            } => {
                write!(
                    f,
                    "keepalive_ceiling ({ceiling:?}) must be longer than ping_interval \
                     ({ping_interval:?}), the interval it learns up from; "
                )?;
                match self.suggestion() {
                    Some((_, d)) if !d.is_zero() => write!(f, "try {d:?}"),
                    _ => f.write_str("no longer one fits: remove keepalive_ceiling"),
                }
            }
            ConfigError::TooManyOverrides => f.write_str(
                "at most 4 reconnect overrides (on_close_code, on_http_status) fit in a config; \
                 leave the cases the default table already decides that way to the table",
            ),
            ConfigError::ClientOnly { setting } => write!(
                f,
                "{setting} is a client's setting, and a server never reconnects; remove it, or \
                 build the config with Config::client()"
            ),
            ConfigError::NotAClient => f.write_str(
                "a reconnecting Client needs a client's config: build it with Config::client() \
                 (Config::server() is for the accepting side: Heartbeat or HeartbeatSet)",
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// A validated configuration. Build one with [`Config::client`] or [`Config::server`].
///
/// Small and `Copy`: one `Config` can be shared by many connections. Equal configs are
/// equal in every setting and override.
///
/// Each setter names its default; the README's "Defaults, and why" gathers them with
/// the reasons.
///
/// Durations are kept in whole milliseconds, from 1 ms to 24 h: heartbeat settings need
/// no finer grain (QUIC's idle timeout is in milliseconds too), and none needs a day.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    pub(crate) timing: Timing,
    pub(crate) reconnect: Reconnect,
    pub(crate) overrides: Overrides,
}

impl Config {
    /// Settings for the connecting side: pings, pong timeout, and reconnect with backoff.
    pub fn client() -> ConfigBuilder {
        ConfigBuilder::new(Role::Client)
    }

    /// Settings for the accepting side: pings (or, with [`PingPolicy::Never`], only an
    /// idle timeout) and ping policing; never reconnects.
    pub fn server() -> ConfigBuilder {
        ConfigBuilder::new(Role::Server)
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.timing.role
    }

    /// What to do after a connection or an attempt ended for `reason`: the config's
    /// override for it, else the [table](crate::rules#reconnecting-client).
    ///
    /// ```
    /// use keepalive::{CloseReason, Config, Decision};
    /// let config = Config::client().on_close_code(4001, Decision::GiveUp).build()?;
    /// assert_eq!(config.decide(CloseReason::PeerClosed(4001)), Decision::GiveUp);
    /// assert_eq!(config.decide(CloseReason::PeerClosed(1012)), Decision::Soon);
    /// # Ok::<(), keepalive::ConfigError>(())
    /// ```
    pub fn decide(&self, reason: CloseReason) -> Decision {
        self.overrides.decide(reason)
    }

    /// The longest a silent peer can stay open, as configured: from its last byte, one
    /// `ping_interval` until we ping plus `pong_timeout` for the answer (or `idle_timeout`
    /// when that is shorter or when we never ping). A slow path or a peer that asked for
    /// fewer pings stretches it; the bound in force is
    /// [`Stats::dead_peer_bound`](crate::Stats::dead_peer_bound). Assumes `handle` is
    /// called by each [`next_deadline`](crate::HeartbeatMachine::next_deadline).
    pub fn dead_peer_bound(&self) -> Duration {
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let t = &self.timing;
        let pinging = (t.ping_policy != PingPolicy::Never)
            .then(|| ms(t.ping_interval).saturating_add(ms(t.pong_timeout)));
        let idle = (t.idle_timeout != 0).then(|| ms(t.idle_timeout));
        match (pinging, idle) {
            (Some(p), Some(i)) => p.min(i),
            (Some(p), None) => p,
            (None, Some(i)) => i,
            (None, None) => Duration::MAX, // refused by build()
        }
    }

    /// The reconnect overrides, in the order they were set: the reason each matches (a
    /// peer's close code, or a refused upgrade's status) and its decision.
    pub fn overrides(&self) -> impl Iterator<Item = (CloseReason, Decision)> + '_ {
        self.overrides.iter().map(|(key, d)| (key.reason(), d))
    }
}

/// Builds a [`Config`]; setters take and return the builder by value.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Config, ConfigError, PingPolicy};
///
/// // A client behind nginx (proxy_read_timeout 60 s):
/// let config = Config::client()
///     .ping_interval(Duration::from_secs(30))
///     .pong_timeout(Duration::from_secs(10))
///     .path_idle_limit(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(config.dead_peer_bound(), Duration::from_secs(40));
///
/// // A 45 s interval behind the same proxy is a mistake: a slow pong leaves the path
/// // silent for 65 s and nginx cuts a live connection.
/// let err = Config::client()
///     .ping_interval(Duration::from_secs(45))
///     .path_idle_limit(Duration::from_secs(60))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("try ping_interval 40s or less"));
///
/// // A server whose clients ping every 30 s: close after two missed beats.
/// let server = Config::server()
///     .ping_policy(PingPolicy::Never)
///     .idle_timeout(Duration::from_secs(70))
///     .build()?;
/// # Ok::<(), ConfigError>(())
/// ```
#[must_use = "a builder does nothing until .build()"]
#[derive(Copy, Clone, Debug)]
pub struct ConfigBuilder {
    role: Role,
    given: Given,
    overrides: Overrides,
    /// An override did not fit.
    overflow: bool,
    /// The first override given, to name in an error.
    first_override: Option<Setting>,
}

impl ConfigBuilder {
    fn new(role: Role) -> ConfigBuilder {
        ConfigBuilder {
            role,
            given: Given::default(),
            overrides: Overrides::default(),
            overflow: false,
            first_override: None,
        }
    }

    /// Overrides the reconnect table for the peer's close code `code` (up to four
    /// overrides in all): for example a code of your protocol that means "taken over
    /// elsewhere" ([`Decision::GiveUp`]). A client's setting.
    ///
    /// ```
    /// use keepalive::{Config, Decision};
    /// // A feed that a normal close (1000) ends for good:
    /// let config = Config::client().on_close_code(1000, Decision::GiveUp).build()?;
    /// # Ok::<(), keepalive::ConfigError>(())
    /// ```
    pub fn on_close_code(self, code: u16, decision: Decision) -> Self {
        self.with_override(Key::Close(code), decision)
    }

    /// Overrides the reconnect table for a refused upgrade's HTTP `status` (up to four
    /// overrides in all): for example 401 when the connect function refreshes the token
    /// ([`Decision::Backoff`]). A client's setting.
    pub fn on_http_status(self, status: u16, decision: Decision) -> Self {
        self.with_override(Key::Status(status), decision)
    }

    fn with_override(mut self, key: Key, decision: Decision) -> Self {
        self.overflow |= !self.overrides.set(key, decision);
        self.first_override.get_or_insert(match key {
            Key::Close(_) => Setting::OnCloseCode,
            Key::Status(_) => Setting::OnHttpStatus,
        });
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut given = self.given;
        if self.role == Role::Server {
            if let Some(setting) = given.reconnect_setting() {
                return Err(ConfigError::ClientOnly { setting });
            }
            if let Some(setting) = self.first_override {
                return Err(ConfigError::ClientOnly { setting });
            }
            // Never stricter than the pings the server's own idle timeout asks for: at
            // most a quarter of it, in whole ms (off when that is under 1 ms).
            let idle = given.idle_timeout.unwrap_or(Duration::ZERO);
            let default = match idle.is_zero() {
                true => SERVER_MIN_PING_INTERVAL,
                false => SERVER_MIN_PING_INTERVAL.min(whole_ms(idle / 4)),
            };
            given.min_ping_interval = given.min_ping_interval.or(Some(default));
        }
        if self.overflow {
            return Err(ConfigError::TooManyOverrides);
        }
        let limit = given.path_idle_limit.filter(|l| !l.is_zero());
        let pong_timeout = given.pong_timeout.unwrap_or(DEFAULT_PONG_TIMEOUT);
        if let (None, Some(limit)) = (given.ping_interval, limit) {
            OrOff::store(Setting::PathIdleLimit, limit)?;
            // Leave room for the pong, in whole ms; never above the default.
            let room = whole_ms(limit.saturating_sub(pong_timeout));
            if !room.is_zero() {
                given.ping_interval = Some(room.min(DEFAULT_PING_INTERVAL));
            }
        }
        let (timing, reconnect) = resolve(self.role, &given)?;
        let config = Config {
            timing,
            reconnect,
            overrides: self.overrides,
        };
        config.check()?;
        Ok(config)
    }
}

impl Config {
    /// The checks across settings.
    fn check(&self) -> Result<(), ConfigError> {
        let (t, r) = (&self.timing, &self.reconnect);
        let d = |ms: u32| Duration::from_millis(u64::from(ms));
        if r.backoff_initial > r.backoff_max {
            return Err(ConfigError::BackoffInverted {
                initial: d(r.backoff_initial),
                max: d(r.backoff_max),
            });
        }
        let (interval, pong) = (d(t.ping_interval), d(t.pong_timeout));
        if t.ping_policy != PingPolicy::Never {
            if t.path_idle_limit != 0 && interval + pong > d(t.path_idle_limit) {
                return Err(ConfigError::ExceedsPathLimit {
                    ping_interval: interval,
                    pong_timeout: pong,
                    limit: d(t.path_idle_limit),
                });
            }
            if t.idle_timeout != 0 && d(t.idle_timeout) < interval + pong {
                return Err(ConfigError::IdleTimeoutTooShort {
                    idle_timeout: d(t.idle_timeout),
                    ping_interval: interval,
                    pong_timeout: pong,
                });
            }
        } else if t.idle_timeout == 0 {
            return Err(ConfigError::NoDeadPeerDetection);
        }
        if t.keepalive_ceiling != 0
            && (t.ping_policy == PingPolicy::Never || t.keepalive_ceiling <= t.ping_interval)
        {
            return Err(ConfigError::KeepaliveCeiling {
                ceiling: d(t.keepalive_ceiling),
                ping_interval: interval,
                pings: t.ping_policy != PingPolicy::Never,
            });
        }
        if t.idle_timeout != 0 && t.min_ping_interval > t.idle_timeout / 2 {
            return Err(ConfigError::PolicingTooStrict {
                min_ping_interval: d(t.min_ping_interval),
                idle_timeout: d(t.idle_timeout),
            });
        }
        Ok(())
    }
}
