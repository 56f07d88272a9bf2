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

mod error;
pub use error::{ConfigError, Fix};

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
    /// The input a hint's duration stands for (`None`: no hint sets this kind).
    fn from_hint(value: Duration) -> Option<Self::Input> {
        let _ = value;
        None
    }
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
            return Err(ConfigError::OutOfRange {
                setting,
                value,
                fix: Fix::NONE,
            });
        }
        if u64::from(value.subsec_nanos()) % NS_PER_MS != 0 {
            return Err(ConfigError::SubMillisecond {
                setting,
                value,
                fix: Fix::NONE,
            });
        }
        // At most 86_400_000: fits.
        Ok(value.as_millis() as u32)
    }
    fn output(ms: u32) -> Duration {
        Duration::from_millis(u64::from(ms))
    }
    fn from_hint(value: Duration) -> Option<Duration> {
        Some(value)
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
    fn from_hint(value: Duration) -> Option<Duration> {
        Some(value)
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

            /// Gives `setting` the duration a hint proposes; false if no hint sets it.
            fn apply(&mut self, setting: Setting, value: Duration) -> bool {
                match setting {
                    $( Setting::$HV => match <$hk as Kind>::from_hint(value) {
                        Some(v) => { self.$h = Some(v); true }
                        None => false,
                    }, )*
                    $( Setting::$RV => match <$rk as Kind>::from_hint(value) {
                        Some(v) => { self.$r = Some(v); true }
                        None => false,
                    }, )*
                    $( Setting::$OV => false, )*
                }
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

    /// Checks the settings and builds the config. A refusal's hint is the whole fix: the
    /// values every setting that stands in the way needs, found with the others in view
    /// ([`ConfigError::fix`]).
    pub fn build(self) -> Result<Config, ConfigError> {
        self.build_as_given()
            .map_err(|e| e.with_fix(error::repair(self, e)))
    }

    /// [`build`](Self::build) without the search for a fix.
    fn build_as_given(self) -> Result<Config, ConfigError> {
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
                fix: Fix::NONE,
            });
        }
        let (interval, pong) = (d(t.ping_interval), d(t.pong_timeout));
        if t.ping_policy != PingPolicy::Never {
            if t.path_idle_limit != 0 && interval + pong > d(t.path_idle_limit) {
                return Err(ConfigError::ExceedsPathLimit {
                    ping_interval: interval,
                    pong_timeout: pong,
                    limit: d(t.path_idle_limit),
                    fix: Fix::NONE,
                });
            }
            if t.idle_timeout != 0 && d(t.idle_timeout) < interval + pong {
                return Err(ConfigError::IdleTimeoutTooShort {
                    idle_timeout: d(t.idle_timeout),
                    ping_interval: interval,
                    pong_timeout: pong,
                    fix: Fix::NONE,
                });
            }
        } else if t.idle_timeout == 0 {
            return Err(ConfigError::NoDeadPeerDetection { fix: Fix::NONE });
        }
        if t.keepalive_ceiling != 0
            && (t.ping_policy == PingPolicy::Never || t.keepalive_ceiling <= t.ping_interval)
        {
            return Err(ConfigError::KeepaliveCeiling {
                ceiling: d(t.keepalive_ceiling),
                ping_interval: interval,
                pings: t.ping_policy != PingPolicy::Never,
                fix: Fix::NONE,
            });
        }
        if t.idle_timeout != 0 && t.min_ping_interval > t.idle_timeout / 2 {
            return Err(ConfigError::PolicingTooStrict {
                min_ping_interval: d(t.min_ping_interval),
                idle_timeout: d(t.idle_timeout),
                fix: Fix::NONE,
            });
        }
        Ok(())
    }
}
