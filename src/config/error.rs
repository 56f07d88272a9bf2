//! Why a configuration was refused, and the values that make it build.

use super::*;

/// Why [`ConfigBuilder::build`] (or a [`Client`](crate::driver::Client), given a
/// server's config) refused a configuration. `Display` names the setting, its value and
/// a fix, and every value it proposes is one the builder accepts as printed. The fix is
/// found with every other setting in view ([`fix`](Self::fix)): applied together, its
/// values make the configuration build.
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
        /// The values that make the configuration build.
        fix: Fix,
    },
    /// A duration has a fraction of a millisecond; settings are kept in whole ms.
    SubMillisecond {
        /// Which setting.
        setting: Setting,
        /// What it was set to.
        value: Duration,
        /// The values that make the configuration build.
        fix: Fix,
    },
    /// `backoff_initial` is longer than `backoff_max`.
    BackoffInverted {
        /// The initial delay.
        initial: Duration,
        /// The cap.
        max: Duration,
        /// The values that make the configuration build.
        fix: Fix,
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
        /// The values that make the configuration build.
        fix: Fix,
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
        /// The values that make the configuration build.
        fix: Fix,
    },
    /// `PingPolicy::Never` without `idle_timeout`: nothing would ever detect a dead peer.
    NoDeadPeerDetection {
        /// The values that make the configuration build.
        fix: Fix,
    },
    /// `keepalive_ceiling` not above `ping_interval` (the floor it learns up from), or
    /// set with `PingPolicy::Never` (no keepalive pings to learn from).
    KeepaliveCeiling {
        /// The ceiling.
        ceiling: Duration,
        /// The ping interval, the floor.
        ping_interval: Duration,
        /// Whether the policy pings at all.
        pings: bool,
        /// The values that make the configuration build.
        fix: Fix,
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
        /// The values that make the configuration build.
        fix: Fix,
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

/// The variants that carry a [`Fix`], as one pattern binding it to `$fix`.
macro_rules! carries_fix {
    ($fix:ident) => {
        ConfigError::OutOfRange { fix: $fix, .. }
            | ConfigError::SubMillisecond { fix: $fix, .. }
            | ConfigError::BackoffInverted { fix: $fix, .. }
            | ConfigError::ExceedsPathLimit { fix: $fix, .. }
            | ConfigError::IdleTimeoutTooShort { fix: $fix, .. }
            | ConfigError::NoDeadPeerDetection { fix: $fix }
            | ConfigError::KeepaliveCeiling { fix: $fix, .. }
            | ConfigError::PolicingTooStrict { fix: $fix, .. }
    };
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
            ConfigError::IdleTimeoutTooShort { .. } | ConfigError::NoDeadPeerDetection { .. } => {
                Setting::IdleTimeout
            }
            ConfigError::TooManyAttempts { .. } => Setting::MaxAttempts,
            ConfigError::KeepaliveCeiling { .. } => Setting::KeepaliveCeiling,
            ConfigError::PolicingTooStrict { .. } => Setting::MinPingInterval,
            ConfigError::TooManyOverrides => Setting::OnCloseCode,
            ConfigError::NotAClient => return None,
        })
    }

    /// The first value the hint proposes, as data: the setting it changes and the value
    /// to give it (in whole milliseconds, as the builder takes it; zero turns an `or zero
    /// for off` setting off). `None` where the fix is no duration (a multiplier, an
    /// attempt count, an override, the role). The hint's text proposes the same first;
    /// [`fix`](Self::fix) has every value the hint proposes.
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
        match self.fix().first() {
            Some(first) => Some(first),
            None => self.steps()[0],
        }
    }

    /// Every value the hint proposes, in the order its text names them: those the
    /// setting this error names needs, then those the settings checked after it need,
    /// found by [`ConfigBuilder::build`] with every other setting in view. Applied
    /// together, they make the configuration build, unless a mistake no duration fixes
    /// (a multiplier, an attempt count) stands in the way. Empty where the fix is no
    /// duration.
    ///
    /// ```
    /// use keepalive::{Config, Duration, Setting};
    /// // No ping interval fits a 500 ms path with a 20 s pong timeout: the fix names both.
    /// let err = Config::client()
    ///     .ping_interval(Duration::ZERO)
    ///     .path_idle_limit(Duration::from_millis(500))
    ///     .build()
    ///     .unwrap_err();
    /// let fix: Vec<_> = err.fix().iter().collect();
    /// assert_eq!(fix, [
    ///     (Setting::PingInterval, Duration::from_secs(1)),
    ///     (Setting::PathIdleLimit, Duration::from_secs(21)),
    /// ]);
    /// assert!(err.to_string().ends_with("try 1s (the default is 20s), with path_idle_limit 21s"));
    /// ```
    pub const fn fix(&self) -> Fix {
        match *self {
            carries_fix!(fix) if fix.is_empty() => Fix::of(self.steps()),
            carries_fix!(fix) => fix,
            _ => Fix::NONE,
        }
    }

    /// This error with `fix` in place of its own (where it has one).
    pub(super) fn with_fix(mut self, with: Fix) -> ConfigError {
        if let carries_fix!(fix) = &mut self {
            *fix = with;
        }
        self
    }

    /// What this error alone asks of the settings it names: one value, or two (a pong
    /// timeout and an interval), read from its own fields.
    const fn steps(&self) -> [Option<(Setting, Duration)>; 2] {
        let one = match *self {
            ConfigError::OutOfRange { setting, value, .. } => (setting, nearest(setting, value)),
            ConfigError::SubMillisecond { setting, value, .. } => (setting, whole_ms_up(value)),
            ConfigError::BackoffInverted { max, .. } => (Setting::BackoffInitial, max),
            ConfigError::ExceedsPathLimit { .. } | ConfigError::IdleTimeoutTooShort { .. } => {
                match self.cycle_fix() {
                    CycleFix::Interval(d) => (Setting::PingInterval, d),
                    CycleFix::Both { pong, interval } => {
                        return [
                            Some((Setting::PongTimeout, pong)),
                            Some((Setting::PingInterval, interval)),
                        ]
                    }
                    CycleFix::Limit(d) => (Setting::PathIdleLimit, d),
                    CycleFix::Idle(d) => (Setting::IdleTimeout, d),
                }
            }
            ConfigError::NoDeadPeerDetection { .. } => (Setting::IdleTimeout, SUGGESTED_IDLE),
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
            | ConfigError::NotAClient => return [None, None],
        };
        [Some(one), None]
    }

    /// The value the hint gives `setting`: the fix's, which a later setting's need may
    /// have changed, else `step`, this error's own.
    fn proposed(&self, setting: Setting, step: Duration) -> Duration {
        self.fix().get(setting).unwrap_or(step)
    }

    /// Writes the fix's values for the settings after `named` (those the message names
    /// already): ", with <setting> <value>", more joined by commas and a last "and".
    fn write_rest(&self, f: &mut fmt::Formatter<'_>, named: &[Setting]) -> fmt::Result {
        self.write_rest_after(f, ", with ", named)
    }

    /// Writes the fix's values for the settings other than `named`, after `lead`.
    fn write_rest_after(
        &self,
        f: &mut fmt::Formatter<'_>,
        lead: &str,
        named: &[Setting],
    ) -> fmt::Result {
        let fix = self.fix();
        write_list(f, lead, fix.iter().filter(|(s, _)| !named.contains(s)))
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
                ..
            } => (ping_interval, pong_timeout, limit, false),
            ConfigError::IdleTimeoutTooShort {
                idle_timeout,
                ping_interval,
                pong_timeout,
                ..
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

/// How many settings a [`Fix`] holds: every setting a duration sets (the table's
/// twelve), so that a fix is never cut short for room.
const FIX_MAX: usize = 12;

/// The values a refused configuration needs to build: settings and durations, in the
/// order the hint names them (see [`ConfigError::fix`]). Each setting appears once, in
/// whole milliseconds; zero turns an `or zero for off` setting off.
///
/// `Fix::default()` names none: an error given it (say, one written by hand) proposes
/// what its own fields call for.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Fix {
    /// The settings in order; `None` past the last. (Apart from their values, so that
    /// an error stays small: a setting is a byte, a value four.)
    settings: [Option<Setting>; FIX_MAX],
    /// Each setting's value, in ms.
    ms: [u32; FIX_MAX],
}

impl Fix {
    /// No values.
    pub(super) const NONE: Fix = Fix {
        settings: [None; FIX_MAX],
        ms: [0; FIX_MAX],
    };

    /// The values `steps` names, in order.
    const fn of(steps: [Option<(Setting, Duration)>; 2]) -> Fix {
        let mut fix = Fix::NONE;
        let mut i = 0;
        while i < steps.len() {
            if let Some((setting, value)) = steps[i] {
                fix.settings[i] = Some(setting);
                fix.ms[i] = value.as_millis() as u32;
            }
            i += 1;
        }
        fix
    }

    /// The settings and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Setting, Duration)> + '_ {
        self.settings
            .iter()
            .zip(self.ms)
            .map_while(|(s, ms)| s.map(|s| (s, Duration::from_millis(u64::from(ms)))))
    }

    /// The first setting and its value.
    pub const fn first(&self) -> Option<(Setting, Duration)> {
        match self.settings[0] {
            Some(s) => Some((s, Duration::from_millis(self.ms[0] as u64))),
            None => None,
        }
    }

    /// The value the fix gives `setting`, if it names it.
    pub fn get(&self, setting: Setting) -> Option<Duration> {
        self.iter().find(|(s, _)| *s == setting).map(|(_, d)| d)
    }

    /// Whether it names no setting.
    pub const fn is_empty(&self) -> bool {
        self.settings[0].is_none()
    }

    /// Gives `setting` `value`: in its place if named already, else at the end. False if
    /// the fix is full.
    fn set(&mut self, setting: Setting, value: Duration) -> bool {
        let ms = value.as_millis().min(u128::from(u32::MAX)) as u32;
        let Some(i) = self
            .settings
            .iter()
            .position(|s| s.map_or(true, |s| s == setting))
        else {
            return false;
        };
        self.settings[i] = Some(setting);
        self.ms[i] = ms;
        true
    }
}

/// The fix for `builder`, refused with `error`: applies each refusal's own values to a
/// copy of the settings and builds again, until it builds, a refusal has no duration to
/// propose, or twice as many rounds as there are such settings pass without one (each
/// refusal is one setting out of range or one check across settings; a later refusal
/// may change a value an earlier one proposed: the fix keeps the last).
pub(super) fn repair(builder: ConfigBuilder, error: ConfigError) -> Fix {
    let mut fix = Fix::NONE;
    let mut builder = builder;
    let mut error = error;
    for _ in 0..2 * FIX_MAX {
        for (setting, value) in error.steps().into_iter().flatten() {
            if !builder.given.apply(setting, value) || !fix.set(setting, value) {
                return fix;
            }
        }
        match builder.build_as_given() {
            Ok(_) => break,
            Err(next) => error = next,
        }
    }
    fix
}

/// Writes `values` after `lead`, if any: "<setting> <value>", joined by commas and a
/// last "and".
fn write_list(
    f: &mut fmt::Formatter<'_>,
    lead: &str,
    values: impl Iterator<Item = (Setting, Duration)>,
) -> fmt::Result {
    let mut values = values.peekable();
    let mut first = true;
    while let Some((setting, value)) = values.next() {
        let join = match (first, values.peek().is_some()) {
            (true, _) => lead,
            (false, true) => ", ",
            (false, false) => " and ",
        };
        write!(f, "{join}{setting} ")?;
        write_value(f, setting, value)?;
        first = false;
    }
    Ok(())
}

/// Writes a hint's value: zero for a setting it turns off reads "0ns (off)".
fn write_value(f: &mut fmt::Formatter<'_>, setting: Setting, value: Duration) -> fmt::Result {
    write!(f, "{value:?}")?;
    if value.is_zero() && setting.off_at_zero() {
        f.write_str(" (off)")?;
    }
    Ok(())
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
        use Setting::*;
        match *self {
            ConfigError::OutOfRange { setting, value, .. } => {
                write!(f, "{setting} ({value:?}) must be from {MIN:?} to {MAX:?}")?;
                if setting.off_at_zero() {
                    f.write_str(", or zero for off")?;
                }
                let d = self.proposed(setting, nearest(setting, value));
                write!(f, "; try {d:?} (the default is ")?;
                setting.show_default(f)?;
                f.write_str(")")?;
                self.write_rest(f, &[setting])
            }
            ConfigError::SubMillisecond { setting, value, .. } => {
                let d = self.proposed(setting, whole_ms_up(value));
                write!(
                    f,
                    "{setting} ({value:?}) must be a whole number of milliseconds; try {d:?}"
                )?;
                self.write_rest(f, &[setting])
            }
            ConfigError::BackoffInverted { initial, max, .. } => {
                let d = self.proposed(BackoffInitial, max);
                write!(
                    f,
                    "backoff_initial ({initial:?}) must not exceed backoff_max ({max:?}); try \
                     backoff_initial {d:?} or less"
                )?;
                self.write_rest(f, &[BackoffInitial])
            }
            ConfigError::BadMultiplier { value } => write!(
                f,
                "backoff_multiplier ({value}) must be a number from 1 to 15; try 2"
            ),
            ConfigError::ExceedsPathLimit {
                ping_interval,
                pong_timeout,
                limit,
                ..
            } => {
                write!(
                    f,
                    "ping_interval ({ping_interval:?}) plus pong_timeout ({pong_timeout:?}) must \
                     not exceed the path idle limit ({limit:?}), or a slow pong lets the path cut \
                     a live connection; "
                )?;
                self.write_cycle_fix(f)
            }
            ConfigError::IdleTimeoutTooShort {
                idle_timeout,
                ping_interval,
                pong_timeout,
                ..
            } => {
                let cycle = ping_interval.saturating_add(pong_timeout);
                write!(
                    f,
                    "idle_timeout ({idle_timeout:?}) must be at least ping_interval + \
                     pong_timeout ({cycle:?}), or it closes a live peer whose pong is merely \
                     slow; "
                )?;
                self.write_cycle_fix(f)
            }
            ConfigError::TooManyAttempts { value } => write!(
                f,
                "max_attempts ({value}) must be at most {MAX_ATTEMPTS}; leave it unset to retry \
                 without limit"
            ),
            ConfigError::NoDeadPeerDetection { .. } => {
                write!(
                    f,
                    "ping_policy Never without an idle_timeout never detects a dead peer; set \
                     idle_timeout: for clients that ping every 30s, one missed beat allowed, try \
                     {:?}",
                    self.proposed(IdleTimeout, SUGGESTED_IDLE)
                )?;
                self.write_rest(f, &[IdleTimeout])
            }
            ConfigError::PolicingTooStrict {
                min_ping_interval,
                idle_timeout,
                ..
            } => {
                let d = self.proposed(MinPingInterval, whole_ms(idle_timeout_half(idle_timeout)));
                write!(
                    f,
                    "min_ping_interval ({min_ping_interval:?}) must be at most half of \
                     idle_timeout ({idle_timeout:?}), or a peer that pings often enough to stay \
                     open is closed for pinging too often; try {d:?} or less"
                )?;
                self.write_rest(f, &[MinPingInterval])
            }
            ConfigError::KeepaliveCeiling {
                ping_interval,
                pings: false,
                ..
            } => {
                write!(
                    f,
                    "keepalive_ceiling learns from keepalive pings, and ping_policy Never sends \
                     none (ping_interval {ping_interval:?} is unused); remove keepalive_ceiling, \
                     or ping"
                )?;
                self.write_rest_after_removal(f)
            }
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
                    Some((_, d)) if !d.is_zero() => {
                        write!(f, "try {d:?}")?;
                        self.write_rest(f, &[KeepaliveCeiling])
                    }
                    _ => {
                        f.write_str("no longer one fits: remove keepalive_ceiling")?;
                        self.write_rest_after_removal(f)
                    }
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

impl ConfigError {
    /// Writes the hint of a cycle that does not fit a limit ("try ..."), and the rest of
    /// the fix.
    fn write_cycle_fix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Setting::*;
        match self.cycle_fix() {
            CycleFix::Interval(room) => {
                let room = self.proposed(PingInterval, room);
                write!(f, "try ping_interval {room:?} or less")?;
                self.write_rest(f, &[PingInterval])
            }
            CycleFix::Both { pong, interval } => {
                let pong = self.proposed(PongTimeout, pong);
                let interval = self.proposed(PingInterval, interval);
                write!(
                    f,
                    "try pong_timeout {pong:?} and ping_interval {interval:?} or less"
                )?;
                self.write_rest(f, &[PongTimeout, PingInterval])
            }
            // (Past a path's limit.)
            CycleFix::Limit(need) => {
                let need = self.proposed(PathIdleLimit, need);
                write!(
                    f,
                    "no heartbeat of a second or more fits that limit, and proxies and NATs \
                     cut idle paths after tens of seconds (nginx 60s), so check it; for \
                     these settings, try path_idle_limit {need:?}"
                )?;
                self.write_rest(f, &[PathIdleLimit])
            }
            // (Past `idle_timeout`.)
            CycleFix::Idle(need) => {
                write!(f, "try {:?}", self.proposed(IdleTimeout, need))?;
                self.write_rest(f, &[IdleTimeout])
            }
        }
    }

    /// After "remove keepalive_ceiling": the rest of the fix, as "; then try ...".
    fn write_rest_after_removal(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_rest_after(f, "; then try ", &[Setting::KeepaliveCeiling])
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fix has room for every setting a duration sets.
    #[test]
    fn a_fix_holds_every_duration_setting() {
        let mut given = Given::default();
        let durations = Setting::ALL
            .iter()
            .filter(|s| given.apply(**s, Duration::from_secs(1)))
            .count();
        assert_eq!(durations, FIX_MAX);
        let mut fix = Fix::NONE;
        for (i, s) in Setting::ALL.iter().enumerate() {
            if Given::default().apply(*s, Duration::ZERO) {
                assert!(fix.set(*s, Duration::from_millis(i as u64)), "{s}");
            }
        }
        assert!(!fix.set(Setting::Seed, Duration::ZERO), "full");
        assert!(
            fix.set(Setting::PingInterval, Duration::from_secs(3)),
            "in place"
        );
        assert_eq!(fix.get(Setting::PingInterval), Some(Duration::from_secs(3)));
        assert_eq!(fix.iter().count(), FIX_MAX);
    }
}
