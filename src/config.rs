//! Settings, their defaults and the checks that catch the mistakes the field makes.
//!
//! # Defaults, and why
//!
//! | setting | default | why |
//! |---|---|---|
//! | `ping_interval` | 20 s | Python `websockets` uses 20 s, socket.io 25 s. With the 20 s `pong_timeout` the worst silence a proxy sees is 40 s, under nginx's and AWS ALB's 60 s, Cloudflare's 100 s. |
//! | `pong_timeout` | 20 s | `websockets` uses 20 s, socket.io 20 s: long enough for a loaded mobile link, and a dead peer is found within 40 s of its last message. |
//! | `idle_timeout` | off | the machine pings and times out pongs itself; set it on a server whose clients ping (for example 70 s for a 30 s client heartbeat: two missed beats). |
//! | `ping_policy` | `WhenIdle` | busy links carry no pings. |
//! | `backoff_initial` | 1 s | never hammer a server that just went down. |
//! | `backoff_max` | 30 s | a fleet comes back within half a minute of a server's return. |
//! | `backoff_multiplier` | 2 | the usual doubling. |
//! | `jitter` | `Equal` | every delay is at least the un-jittered step, and a fleet is spread over a whole step, the first retry included. |
//! | `max_attempts` | unlimited | a client should keep trying; set it where a person can act instead. |
//! | `stable_after` | 60 s | longer than one full heartbeat cycle (40 s), so a connection cut at its first heartbeat (a proxy that drops idle links) still counts as flapping and keeps backing off. |
//! | `close_timeout` | 10 s | `websockets` uses 10 s for the close handshake. |
//! | `connect_timeout` | 10 s | `websockets` uses 10 s for the opening handshake; a server that accepts TCP but never answers cannot hang a client. |
//! | `retry_after_max` | 10 min | a server's `Retry-After` is honoured up to this; beyond, a client would look dead to its user. |
//! | `reconnect_policy` | the [table](crate::policy) | give up only on what retrying cannot fix; come back soon after a planned restart, later when the server is overloaded, never before its `Retry-After`. |
//!
//! Durations are kept in whole milliseconds, from 1 ms to 24 h: heartbeat settings need
//! no finer grain (QUIC's idle timeout is in milliseconds too), and none needs a day.

use crate::policy::{default_decision, Decision, Loss, Policy};
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
    /// for `ping_interval`. Busy links carry no pings.
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

/// Names a setting, in errors.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Setting {
    /// [`ConfigBuilder::ping_interval`]
    PingInterval,
    /// [`ConfigBuilder::pong_timeout`]
    PongTimeout,
    /// [`ConfigBuilder::idle_timeout`]
    IdleTimeout,
    /// [`ConfigBuilder::ping_policy`]
    PingPolicy,
    /// [`ConfigBuilder::backoff_initial`]
    BackoffInitial,
    /// [`ConfigBuilder::backoff_max`]
    BackoffMax,
    /// [`ConfigBuilder::backoff_multiplier`]
    BackoffMultiplier,
    /// [`ConfigBuilder::stable_after`]
    StableAfter,
    /// [`ConfigBuilder::close_timeout`]
    CloseTimeout,
    /// [`ConfigBuilder::connect_timeout`]
    ConnectTimeout,
    /// [`ConfigBuilder::path_idle_limit`]
    PathIdleLimit,
    /// [`ConfigBuilder::max_attempts`]
    MaxAttempts,
    /// [`ConfigBuilder::retry_after_max`]
    RetryAfterMax,
}

impl Setting {
    /// The setter's name, as in `ping_interval`.
    pub const fn name(self) -> &'static str {
        match self {
            Setting::PingInterval => "ping_interval",
            Setting::PongTimeout => "pong_timeout",
            Setting::IdleTimeout => "idle_timeout",
            Setting::PingPolicy => "ping_policy",
            Setting::BackoffInitial => "backoff_initial",
            Setting::BackoffMax => "backoff_max",
            Setting::BackoffMultiplier => "backoff_multiplier",
            Setting::StableAfter => "stable_after",
            Setting::CloseTimeout => "close_timeout",
            Setting::ConnectTimeout => "connect_timeout",
            Setting::PathIdleLimit => "path_idle_limit",
            Setting::MaxAttempts => "max_attempts",
            Setting::RetryAfterMax => "retry_after_max",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`ConfigBuilder::build`] refused a configuration. `Display` names the setting, its
/// value and a fix.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Debug)]
pub enum ConfigError {
    /// A duration is zero or absurd (over 24 h).
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
    /// `max_attempts` above [`MAX_ATTEMPTS`] (the per-connection counter is 16 bits).
    TooManyAttempts {
        /// What it was set to.
        value: u32,
    },
}

/// The largest `max_attempts` short of unlimited. At the default backoff (capped at
/// 30 s) that is over three weeks of retrying.
pub const MAX_ATTEMPTS: u32 = 65_535;

impl ConfigError {
    /// The setting to change.
    pub const fn setting(&self) -> Setting {
        match self {
            ConfigError::OutOfRange { setting, .. }
            | ConfigError::SubMillisecond { setting, .. } => *setting,
            ConfigError::BackoffInverted { .. } => Setting::BackoffInitial,
            ConfigError::BadMultiplier { .. } => Setting::BackoffMultiplier,
            ConfigError::ExceedsPathLimit { .. } => Setting::PingInterval,
            ConfigError::IdleTimeoutTooShort { .. } | ConfigError::NoDeadPeerDetection => {
                Setting::IdleTimeout
            }
            ConfigError::TooManyAttempts { .. } => Setting::MaxAttempts,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::OutOfRange { setting, value } => write!(
                f,
                "{setting} ({value:?}) must be from {MIN:?} to {MAX:?}; the default is {:?}",
                default_of(setting)
            ),
            ConfigError::SubMillisecond { setting, value } => write!(
                f,
                "{setting} ({value:?}) must be a whole number of milliseconds; try {:?}",
                Duration::from_millis(ceil_millis(value))
            ),
            ConfigError::BackoffInverted { initial, max } => write!(
                f,
                "backoff_initial ({initial:?}) must not exceed backoff_max ({max:?}); \
                 lower backoff_initial or raise backoff_max to at least {initial:?}"
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
                    "ping_interval ({ping_interval:?}) plus pong_timeout ({pong_timeout:?}) must not \
                     exceed the path idle limit ({limit:?}), or a slow pong lets the path cut a live \
                     connection; "
                )?;
                match limit.checked_sub(pong_timeout) {
                    Some(room) if room >= MIN => write!(f, "try ping_interval {room:?} or less"),
                    _ => write!(
                        f,
                        "try pong_timeout {:?} and ping_interval {:?}",
                        limit / 3,
                        limit / 2
                    ),
                }
            }
            ConfigError::IdleTimeoutTooShort {
                idle_timeout,
                ping_interval,
                pong_timeout,
            } => write!(
                f,
                "idle_timeout ({idle_timeout:?}) must be at least ping_interval + pong_timeout \
                 ({:?}), or it closes a live peer whose pong is merely slow; try {:?}",
                ping_interval.saturating_add(pong_timeout),
                ping_interval.saturating_add(pong_timeout)
            ),
            ConfigError::TooManyAttempts { value } => write!(
                f,
                "max_attempts ({value}) must be at most {MAX_ATTEMPTS}; leave it unset to retry \
                 without limit"
            ),
            ConfigError::NoDeadPeerDetection => f.write_str(
                "ping_policy Never without an idle_timeout never detects a dead peer; set \
                 idle_timeout (for clients that ping every 30s, 70s allows one missed beat)",
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

/// The shortest duration a setting may have.
const MIN: Duration = Duration::from_millis(1);
/// The longest duration a setting may have: no heartbeat setting needs a day.
const MAX: Duration = Duration::from_secs(24 * 3600);
/// `max_attempts` that never gives up.
const UNLIMITED: u32 = u32::MAX;

/// A validated configuration. Build one with [`Config::client`] or [`Config::server`].
///
/// Small (64 bytes) and `Copy`: one `Config` can be shared by many connections.
#[derive(Copy, Clone, Debug)]
pub struct Config {
    // Milliseconds, validated to 1..=86_400_000; idle 0 = off.
    pub(crate) ping_interval_ms: u32,
    pub(crate) pong_timeout_ms: u32,
    pub(crate) idle_timeout_ms: u32,
    pub(crate) backoff_initial_ms: u32,
    pub(crate) backoff_max_ms: u32,
    pub(crate) stable_after_ms: u32,
    pub(crate) close_timeout_ms: u32,
    pub(crate) connect_timeout_ms: u32,
    pub(crate) retry_after_max_ms: u32,
    pub(crate) seed: u64,
    pub(crate) reconnect_policy: Option<Policy>,
    pub(crate) max_attempts: u32,
    /// Multiplier in sixteenths: 32 = ×2.
    pub(crate) multiplier_16ths: u8,
    pub(crate) role: Role,
    pub(crate) policy: PingPolicy,
    pub(crate) jitter: Jitter,
}

impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        // Policies compare by address: the same function is the same policy.
        let policy = |c: &Config| c.reconnect_policy.map(|p| p as usize);
        let timing = |c: &Config| {
            [
                c.ping_interval_ms,
                c.pong_timeout_ms,
                c.idle_timeout_ms,
                c.backoff_initial_ms,
                c.backoff_max_ms,
                c.stable_after_ms,
                c.close_timeout_ms,
                c.connect_timeout_ms,
                c.retry_after_max_ms,
                c.max_attempts,
            ]
        };
        timing(self) == timing(other)
            && policy(self) == policy(other)
            && (
                self.seed,
                self.multiplier_16ths,
                self.role,
                self.policy,
                self.jitter,
            ) == (
                other.seed,
                other.multiplier_16ths,
                other.role,
                other.policy,
                other.jitter,
            )
    }
}

impl Eq for Config {}

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

impl Config {
    /// Settings for the connecting side: pings, pong timeout, and reconnect with backoff.
    pub fn client() -> ConfigBuilder {
        ConfigBuilder::new(Role::Client)
    }

    /// Settings for the accepting side: pings (or, with [`PingPolicy::Never`], only an
    /// idle timeout), never reconnects.
    pub fn server() -> ConfigBuilder {
        ConfigBuilder::new(Role::Server)
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }
    /// See [`ConfigBuilder::ping_interval`].
    pub fn ping_interval(&self) -> Duration {
        ms(self.ping_interval_ms)
    }
    /// See [`ConfigBuilder::pong_timeout`].
    pub fn pong_timeout(&self) -> Duration {
        ms(self.pong_timeout_ms)
    }
    /// See [`ConfigBuilder::idle_timeout`]; `None` when off.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_ms != 0).then(|| ms(self.idle_timeout_ms))
    }
    /// See [`ConfigBuilder::ping_policy`].
    pub fn ping_policy(&self) -> PingPolicy {
        self.policy
    }
    /// See [`ConfigBuilder::backoff_initial`].
    pub fn backoff_initial(&self) -> Duration {
        ms(self.backoff_initial_ms)
    }
    /// See [`ConfigBuilder::backoff_max`].
    pub fn backoff_max(&self) -> Duration {
        ms(self.backoff_max_ms)
    }
    /// See [`ConfigBuilder::backoff_multiplier`] (as kept: rounded to sixteenths).
    pub fn backoff_multiplier(&self) -> f32 {
        f32::from(self.multiplier_16ths) / 16.0
    }
    /// See [`ConfigBuilder::jitter`].
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }
    /// See [`ConfigBuilder::max_attempts`]; `None` when unlimited.
    pub fn max_attempts(&self) -> Option<u32> {
        (self.max_attempts != UNLIMITED).then_some(self.max_attempts)
    }
    /// See [`ConfigBuilder::stable_after`].
    pub fn stable_after(&self) -> Duration {
        ms(self.stable_after_ms)
    }
    /// See [`ConfigBuilder::close_timeout`].
    pub fn close_timeout(&self) -> Duration {
        ms(self.close_timeout_ms)
    }
    /// See [`ConfigBuilder::connect_timeout`].
    pub fn connect_timeout(&self) -> Duration {
        ms(self.connect_timeout_ms)
    }
    /// See [`ConfigBuilder::seed`].
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// See [`ConfigBuilder::retry_after_max`].
    pub fn retry_after_max(&self) -> Duration {
        ms(self.retry_after_max_ms)
    }
    /// See [`ConfigBuilder::reconnect_policy`]; `None` for the default table.
    pub fn reconnect_policy(&self) -> Option<Policy> {
        self.reconnect_policy
    }

    /// What to do about `loss` before attempt `attempt` (from 1): the reconnect policy's
    /// decision, or the [default table](crate::policy)'s where it has none. Never
    /// [`Decision::Default`].
    pub fn decide(&self, loss: Loss, attempt: u32) -> Decision {
        match self.reconnect_policy.map(|p| p(loss, attempt)) {
            Some(Decision::Default) | None => default_decision(loss),
            Some(d) => d,
        }
    }

    /// The longest a silent peer can stay open: from its last message, one
    /// `ping_interval` until we ping plus `pong_timeout` for the answer (or `idle_timeout`
    /// when that is shorter or when we never ping). Assumes `handle` is called by each
    /// [`next_deadline`](crate::HeartbeatMachine::next_deadline).
    pub fn dead_peer_bound(&self) -> Duration {
        let pinging = match self.policy {
            PingPolicy::Never => None,
            _ => Some(self.ping_interval().saturating_add(self.pong_timeout())),
        };
        match (pinging, self.idle_timeout()) {
            (Some(p), Some(i)) => p.min(i),
            (Some(p), None) => p,
            (None, Some(i)) => i,
            (None, None) => Duration::MAX, // refused by build()
        }
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
    ping_interval: Option<Duration>,
    pong_timeout: Duration,
    idle_timeout: Option<Duration>,
    policy: PingPolicy,
    backoff_initial: Duration,
    backoff_max: Duration,
    multiplier: f32,
    jitter: Jitter,
    max_attempts: u32,
    stable_after: Duration,
    close_timeout: Duration,
    connect_timeout: Duration,
    retry_after_max: Duration,
    seed: u64,
    path_idle_limit: Option<Duration>,
    reconnect_policy: Option<Policy>,
}

const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);

fn default_of(s: Setting) -> Duration {
    match s {
        Setting::PingInterval | Setting::PongTimeout => Duration::from_secs(20),
        Setting::IdleTimeout => Duration::from_secs(70),
        Setting::BackoffInitial => Duration::from_secs(1),
        Setting::BackoffMax => Duration::from_secs(30),
        Setting::StableAfter => Duration::from_secs(60),
        Setting::CloseTimeout | Setting::ConnectTimeout => Duration::from_secs(10),
        Setting::PathIdleLimit => Duration::from_secs(60),
        Setting::RetryAfterMax => Duration::from_secs(600),
        Setting::PingPolicy | Setting::BackoffMultiplier | Setting::MaxAttempts => Duration::ZERO,
    }
}

fn ceil_millis(d: Duration) -> u64 {
    let whole = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if u64::from(d.subsec_nanos()) % NS_PER_MS != 0 {
        whole.saturating_add(1)
    } else {
        whole
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

impl ConfigBuilder {
    fn new(role: Role) -> ConfigBuilder {
        ConfigBuilder {
            role,
            ping_interval: None,
            pong_timeout: default_of(Setting::PongTimeout),
            idle_timeout: None,
            policy: PingPolicy::WhenIdle,
            backoff_initial: default_of(Setting::BackoffInitial),
            backoff_max: default_of(Setting::BackoffMax),
            multiplier: 2.0,
            jitter: Jitter::Equal,
            max_attempts: UNLIMITED,
            stable_after: default_of(Setting::StableAfter),
            close_timeout: default_of(Setting::CloseTimeout),
            connect_timeout: default_of(Setting::ConnectTimeout),
            retry_after_max: default_of(Setting::RetryAfterMax),
            seed: default_seed(),
            path_idle_limit: None,
            reconnect_policy: None,
        }
    }

    /// How long a direction may stay quiet before we ping (default 20 s). With
    /// [`PingPolicy::Fixed`], the time between pings.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = Some(d);
        self
    }

    /// How long to wait for a pong (or any other sign of life) after a ping before closing
    /// with [`CloseReason::PongTimeout`](crate::CloseReason::PongTimeout) (default 20 s).
    pub fn pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }

    /// Close with [`CloseReason::IdleTimeout`](crate::CloseReason::IdleTimeout) after this
    /// much inbound silence (default off). Must be at least `ping_interval + pong_timeout`
    /// when we ping, so it never pre-empts a slow pong.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    /// Turns the idle timeout off again.
    pub fn no_idle_timeout(mut self) -> Self {
        self.idle_timeout = None;
        self
    }

    /// When to ping (default [`PingPolicy::WhenIdle`]).
    pub fn ping_policy(mut self, p: PingPolicy) -> Self {
        self.policy = p;
        self
    }

    /// The first reconnect delay, and the floor of every delay (default 1 s).
    pub fn backoff_initial(mut self, d: Duration) -> Self {
        self.backoff_initial = d;
        self
    }

    /// The cap on every reconnect delay (default 30 s).
    pub fn backoff_max(mut self, d: Duration) -> Self {
        self.backoff_max = d;
        self
    }

    /// Growth per attempt, from 1 to 15, kept in sixteenths (default 2).
    pub fn backoff_multiplier(mut self, m: f32) -> Self {
        self.multiplier = m;
        self
    }

    /// How delays are spread (default [`Jitter::Equal`]).
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.jitter = j;
        self
    }

    /// Reconnect at most this many times in a row, then [`Action::GiveUp`](crate::Action::GiveUp)
    /// (default unlimited; 0 never reconnects; at most [`MAX_ATTEMPTS`]).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// A connection that stayed up this long resets the attempt counter (default 60 s);
    /// a shorter one does not, so a flapping server still sees growing delays.
    pub fn stable_after(mut self, d: Duration) -> Self {
        self.stable_after = d;
        self
    }

    /// How long a close may take before [`Action::ForceClose`](crate::Action::ForceClose)
    /// (default 10 s).
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }

    /// How long a connection attempt (TCP and handshake) may take before
    /// [`Action::AbortConnect`](crate::Action::AbortConnect) (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The longest a server's `Retry-After` (or a policy's
    /// [`Decision::NotBefore`](crate::policy::Decision::NotBefore)) is honoured (default
    /// 10 min): a server that asks for an hour gets this much, plus the spread.
    pub fn retry_after_max(mut self, d: Duration) -> Self {
        self.retry_after_max = d;
        self
    }

    /// Decides, case by case, what to do after a connection or an attempt ended
    /// (default: the [table](crate::policy)). Return
    /// [`Decision::Default`](crate::policy::Decision::Default) for the cases you leave
    /// to the table. A plain function: no allocation, and the config stays `Copy`.
    pub fn reconnect_policy(mut self, policy: Policy) -> Self {
        self.reconnect_policy = Some(policy);
        self
    }

    /// Seeds the jitter. With feature `std` the default is random per builder; without
    /// it, a constant, so give each device its own seed (a serial number, a hardware
    /// random number) or a fleet reconnects in step. A fixed seed and the same times
    /// replay exactly.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The smallest idle limit on the path: nginx `proxy_read_timeout` (60 s), AWS ALB
    /// (60 s), Cloudflare (100 s), a mobile NAT (often 30 s or less).
    ///
    /// The worst silence the path sees is `ping_interval + pong_timeout` (a ping just
    /// before the deadline, its pong as late as we allow), so `build` refuses settings
    /// where that exceeds the limit. When `ping_interval` was not set, it is derived: the
    /// default, or shorter if the limit requires.
    pub fn path_idle_limit(mut self, limit: Duration) -> Self {
        self.path_idle_limit = Some(limit);
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<Config, ConfigError> {
        let pong_timeout_ms = millis(Setting::PongTimeout, self.pong_timeout)?;
        let ping_interval = match (self.ping_interval, self.path_idle_limit) {
            (Some(d), _) => d,
            (None, Some(limit)) => {
                millis(Setting::PathIdleLimit, limit)?;
                // Leave room for the pong; never above the default.
                let room = limit.saturating_sub(self.pong_timeout);
                let room =
                    Duration::from_millis(u64::try_from(room.as_millis()).unwrap_or(u64::MAX));
                if room.is_zero() {
                    DEFAULT_PING_INTERVAL // reported below as ExceedsPathLimit
                } else {
                    room.min(DEFAULT_PING_INTERVAL)
                }
            }
            (None, None) => DEFAULT_PING_INTERVAL,
        };
        let ping_interval_ms = millis(Setting::PingInterval, ping_interval)?;
        let idle_timeout_ms = match self.idle_timeout {
            Some(d) => millis(Setting::IdleTimeout, d)?,
            None => 0,
        };
        let backoff_initial_ms = millis(Setting::BackoffInitial, self.backoff_initial)?;
        let backoff_max_ms = millis(Setting::BackoffMax, self.backoff_max)?;
        let stable_after_ms = millis(Setting::StableAfter, self.stable_after)?;
        let close_timeout_ms = millis(Setting::CloseTimeout, self.close_timeout)?;
        let connect_timeout_ms = millis(Setting::ConnectTimeout, self.connect_timeout)?;
        let retry_after_max_ms = millis(Setting::RetryAfterMax, self.retry_after_max)?;
        if backoff_initial_ms > backoff_max_ms {
            return Err(ConfigError::BackoffInverted {
                initial: self.backoff_initial,
                max: self.backoff_max,
            });
        }
        if self.max_attempts > MAX_ATTEMPTS && self.max_attempts != UNLIMITED {
            return Err(ConfigError::TooManyAttempts {
                value: self.max_attempts,
            });
        }
        let m = self.multiplier;
        if !(m.is_finite() && (1.0..=15.0).contains(&m)) {
            return Err(ConfigError::BadMultiplier { value: m });
        }
        // Round to the nearest sixteenth; 1.0..=15.0 maps into 16..=240.
        let multiplier_16ths = (m * 16.0 + 0.5) as u8;

        let pinging = self.policy != PingPolicy::Never;
        let cycle = ping_interval.saturating_add(self.pong_timeout);
        if pinging {
            if let Some(limit) = self.path_idle_limit {
                millis(Setting::PathIdleLimit, limit)?;
                if cycle > limit {
                    return Err(ConfigError::ExceedsPathLimit {
                        ping_interval,
                        pong_timeout: self.pong_timeout,
                        limit,
                    });
                }
            }
            if let Some(idle) = self.idle_timeout {
                if idle < cycle {
                    return Err(ConfigError::IdleTimeoutTooShort {
                        idle_timeout: idle,
                        ping_interval,
                        pong_timeout: self.pong_timeout,
                    });
                }
            }
        } else if self.idle_timeout.is_none() {
            return Err(ConfigError::NoDeadPeerDetection);
        }

        Ok(Config {
            ping_interval_ms,
            pong_timeout_ms,
            idle_timeout_ms,
            backoff_initial_ms,
            backoff_max_ms,
            stable_after_ms,
            close_timeout_ms,
            connect_timeout_ms,
            retry_after_max_ms,
            seed: self.seed,
            reconnect_policy: self.reconnect_policy,
            max_attempts: self.max_attempts,
            multiplier_16ths,
            role: self.role,
            policy: self.policy,
            jitter: self.jitter,
        })
    }
}

/// Validates a duration setting and returns it in whole milliseconds.
fn millis(setting: Setting, d: Duration) -> Result<u32, ConfigError> {
    if d < MIN || d > MAX {
        return Err(ConfigError::OutOfRange { setting, value: d });
    }
    if u64::from(d.subsec_nanos()) % NS_PER_MS != 0 {
        return Err(ConfigError::SubMillisecond { setting, value: d });
    }
    // <= 86_400_000, fits.
    u32::try_from(d.as_millis()).map_err(|_| ConfigError::OutOfRange { setting, value: d })
}
