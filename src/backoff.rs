//! Reconnect delays: capped exponential steps, spread by a seeded PRNG (no_std, no state).
//!
//! The jitter is a pure function of the seed, the attempt, the reconnect count and the
//! time of the draw, so a replay with the same seed and times gives the same delays, and
//! devices that share a seed still drift apart as soon as their clocks differ.

use crate::config::{Config, Jitter};
use crate::policy::Decision;
use crate::time::NS_PER_MS;

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash, good enough for spreading
/// retries (not for anything secret).
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The un-jittered step of attempt `n` (from 1), in ms: `min(max, initial × m^(n-1))`.
fn step_ms(cfg: &Config, n: u32) -> u64 {
    let r = &cfg.reconnect;
    let max = u64::from(r.backoff_max);
    let m = u64::from(r.backoff_multiplier);
    let mut v = u64::from(r.backoff_initial);
    if m > 16 {
        // Each round grows by at least 1 ms and at least 1/16, so this ends within a few
        // hundred rounds even for the largest settings.
        for _ in 1..n {
            if v >= max {
                break;
            }
            v = (v * m / 16).max(v + 1);
        }
    }
    v.min(max)
}

/// The delay before reconnect attempt `attempt` (from 1), in nanoseconds, within
/// `[backoff_initial, backoff_max]`. `entropy` varies per draw (time, count).
pub(crate) fn delay_nanos(cfg: &Config, attempt: u32, entropy: u64) -> u64 {
    let (lo, hi) = match cfg.reconnect.jitter {
        Jitter::None => {
            let s = step_ms(cfg, attempt);
            (s, s)
        }
        Jitter::Full => (
            u64::from(cfg.reconnect.backoff_initial),
            step_ms(cfg, attempt.saturating_add(1)),
        ),
        Jitter::Equal => (
            step_ms(cfg, attempt),
            step_ms(cfg, attempt.saturating_add(1)),
        ),
    };
    let (lo, hi) = (lo * NS_PER_MS, hi * NS_PER_MS);
    let span = hi - lo; // hi >= lo: steps never shrink
    if span == 0 {
        return lo;
    }
    let r = mix(cfg.timing.seed ^ mix(entropy ^ u64::from(attempt)));
    lo + r % (span + 1)
}

/// The wait before attempt `attempt` (from 1) that `decision` asks for, in nanoseconds:
/// never below `backoff_initial`, at most the larger of `backoff_max` and
/// `retry_after_max`, plus a quarter.
pub(crate) fn wait_nanos(cfg: &Config, decision: Decision, attempt: u32, entropy: u64) -> u64 {
    let r = mix(cfg.timing.seed ^ mix(entropy ^ u64::from(attempt)).rotate_left(17));
    let rc = &cfg.reconnect;
    let spread = |lo: u64, hi: u64| lo + r % (hi - lo + 1);
    match decision {
        Decision::Soon => delay_nanos(cfg, 1, entropy),
        Decision::Later => {
            let max = u64::from(rc.backoff_max) * NS_PER_MS;
            let initial = u64::from(rc.backoff_initial) * NS_PER_MS;
            spread((max / 2).max(initial), max)
        }
        Decision::NotBefore(d) => {
            let floor = crate::time::nanos(d)
                .min(u64::from(rc.retry_after_max) * NS_PER_MS)
                .max(delay_nanos(cfg, attempt, entropy));
            spread(floor, floor + floor / 4)
        }
        Decision::Backoff | Decision::GiveUp => delay_nanos(cfg, attempt, entropy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn cfg(j: Jitter) -> Config {
        Config::client()
            .backoff_initial(Duration::from_secs(1))
            .backoff_max(Duration::from_secs(30))
            .jitter(j)
            .seed(1)
            .build()
            .unwrap()
    }

    #[test]
    fn steps_double_then_cap() {
        let c = cfg(Jitter::None);
        let steps: [u64; 7] = core::array::from_fn(|i| step_ms(&c, i as u32 + 1));
        assert_eq!(steps, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(step_ms(&c, u32::MAX), 30000);
    }

    #[test]
    fn equal_jitter_stays_between_this_step_and_the_next() {
        let c = cfg(Jitter::Equal);
        for attempt in 1..40 {
            for e in 0..50 {
                let d = delay_nanos(&c, attempt, e);
                let lo = step_ms(&c, attempt) * NS_PER_MS;
                let hi = step_ms(&c, attempt + 1) * NS_PER_MS;
                assert!(
                    (lo..=hi).contains(&d),
                    "attempt {attempt}: {d} not in {lo}..={hi}"
                );
            }
        }
    }

    #[test]
    fn first_retry_is_spread() {
        let c = cfg(Jitter::Equal);
        let a = delay_nanos(&c, 1, 1);
        let b = delay_nanos(&c, 1, 2);
        assert_ne!(a, b);
    }

    #[test]
    fn multiplier_of_one_is_constant() {
        let c = Config::client()
            .backoff_multiplier(1.0)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        assert_eq!(delay_nanos(&c, 1000, 0), 1_000_000_000);
    }

    #[test]
    fn smallest_multiplier_still_terminates_and_caps() {
        let c = Config::client()
            .backoff_initial(Duration::from_millis(1))
            .backoff_max(Duration::from_secs(86_400))
            .backoff_multiplier(1.0625)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        assert_eq!(step_ms(&c, u32::MAX), 86_400_000);
    }
}
