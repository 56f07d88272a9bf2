//! Time without the operating system: [`Instant`] is a number of nanoseconds since an
//! epoch the caller chooses, and every operation on it saturates instead of panicking.
//!
//! The machine never reads a clock. The caller passes `now` into every call, so a test can
//! drive it with a virtual clock and a program can drive it with [`Clock`] (feature `std`).

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time: nanoseconds since an epoch chosen by the caller.
///
/// Only differences between instants of the same epoch mean anything. `u64` nanoseconds
/// cover 584 years, and arithmetic saturates at both ends, so no sequence of values can
/// make the machine panic or wrap around.
///
/// ```
/// use core::time::Duration;
/// use keepalive::Instant;
///
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_millis(2_000));
/// assert_eq!(t - Instant::from_millis(2_000), Duration::ZERO); // saturates at zero
/// assert_eq!(Instant::MAX + Duration::MAX, Instant::MAX); // saturates at the top
/// ```
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant; arithmetic saturates here.
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// An instant `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros.saturating_mul(1_000))
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis.saturating_mul(NS_PER_MS))
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Instant {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }

    /// `self + d`, or `None` past [`Instant::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let n = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(n).map(Instant)
    }
}

/// Nanoseconds per millisecond, the grain of settings and of `HeartbeatSet`'s timer.
pub(crate) const NS_PER_MS: u64 = 1_000_000;

/// Nanoseconds in a duration, saturating at `u64::MAX` (`Duration::MAX` has more).
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`].
    #[inline]
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`].
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(nanos(d)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later than `self`.
    #[inline]
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", Duration::from_nanos(self.0))
    }
}

/// Reads the operating system's monotonic clock as [`Instant`]s (feature `std`).
///
/// The epoch is the moment the clock was created, so instants from two clocks are not
/// comparable: create one per process (or per runtime) and share it.
///
/// ```
/// let clock = keepalive::Clock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// // Back to std, for arming a runtime timer at a machine deadline:
/// let _timer_at: std::time::Instant = clock.to_std(b);
/// ```
#[cfg(feature = "std")]
#[derive(Copy, Clone, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

#[cfg(feature = "std")]
impl Clock {
    /// A clock whose epoch ([`Instant::ZERO`]) is now.
    pub fn new() -> Clock {
        Clock::with_epoch(std::time::Instant::now())
    }

    /// A clock whose epoch is `epoch`: for a runtime whose own clock can be paused (tokio's
    /// test clock), start from its `now` and read it with [`from_std`](Self::from_std).
    pub fn with_epoch(epoch: std::time::Instant) -> Clock {
        Clock { epoch }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.from_std(std::time::Instant::now())
    }

    /// Converts a `std` instant; one before the epoch maps to [`Instant::ZERO`].
    pub fn from_std(&self, t: std::time::Instant) -> Instant {
        Instant(nanos(t.saturating_duration_since(self.epoch)))
    }

    /// Converts back to a `std` instant, for arming a runtime timer. An instant too far in
    /// the future for the platform maps to the latest one `std` can add (about 30 years on).
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        let d = Duration::from_nanos(t.0);
        self.epoch
            .checked_add(d)
            .or_else(|| {
                self.epoch
                    .checked_add(Duration::from_secs(30 * 365 * 86_400))
            })
            .unwrap_or(self.epoch)
    }
}

#[cfg(feature = "std")]
impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn checked_operations_say_when_they_cannot() {
        let (a, b) = (Instant::from_millis(1_500), Instant::from_secs(4));
        assert_eq!(
            b.checked_duration_since(a),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(a.checked_duration_since(b), None);
        assert_eq!(
            a.checked_add(Duration::from_millis(500)),
            Some(Instant::from_secs(2))
        );
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(a.checked_add(Duration::MAX), None, "past u64 nanoseconds");
        // The saturating forms never fail.
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(Instant::MAX + Duration::MAX, Instant::MAX);
        assert_eq!(a - Duration::MAX, Instant::ZERO);
    }

    #[test]
    fn units_and_debug() {
        assert_eq!(Instant::from_micros(3).as_nanos(), 3_000);
        assert_eq!(Instant::from_millis(3).as_nanos(), 3_000_000);
        assert_eq!(Instant::from_secs(3).as_nanos(), 3_000_000_000);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX, "saturates");
        assert_eq!(
            format!("{:?}", Instant::from_millis(1_500)),
            "Instant(1.5s)"
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_clock_counts_from_its_epoch() {
        let epoch = std::time::Instant::now();
        let clock = Clock::with_epoch(epoch);
        let later = epoch + Duration::from_millis(2_250);
        assert_eq!(clock.from_std(later), Instant::from_millis(2_250));
        assert_eq!(clock.to_std(Instant::from_millis(2_250)), later);
        // Before the epoch: its start.
        let past = Clock::with_epoch(later);
        assert_eq!(past.from_std(epoch), Instant::ZERO);
        // Now is at least as late as the time read before it.
        if let Some(second_ago) = epoch.checked_sub(Duration::from_secs(1)) {
            assert!(Clock::with_epoch(second_ago).now() >= Instant::from_secs(1));
        }
    }
}
