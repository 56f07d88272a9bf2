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
    extern crate std;
    use super::*;
    use core::time::Duration;
    use std::vec::Vec;

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
    fn mix_is_splitmix64() {
        // SplitMix64's first outputs from state 0 (the reference generator's): each call
        // adds the golden gamma and finalises.
        let gamma = 0x9e37_79b9_7f4a_7c15u64;
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix(gamma), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(mix(gamma.wrapping_mul(2)), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn each_attempt_draws_anew_whatever_the_entropy() {
        // From attempt 6 on, full jitter spreads over the same range (0 to the cap): the
        // draws must still differ from attempt to attempt, for any entropy, all bits set
        // or none.
        let c = cfg(Jitter::Full);
        for entropy in [0, u64::MAX, 0x5555_5555_5555_5555] {
            let draws: Vec<u64> = (6..16).map(|a| delay_nanos(&c, a, entropy)).collect();
            let mut distinct = draws.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert!(distinct.len() >= 8, "entropy {entropy:#x}: {draws:?}");
        }
    }

    /// The draws of `wait` over attempts 1..=12 and three entropies, for seeds with no
    /// bit set, every bit set, and some: each seed and entropy must spread them.
    fn spreads(wait: impl Fn(&Config, u32, u64) -> u64) {
        for seed in [0, u64::MAX, 0x0123_4567_89ab_cdef] {
            let c = Config::client()
                .backoff_initial(Duration::from_secs(1))
                .backoff_max(Duration::from_secs(30))
                .seed(seed)
                .build()
                .unwrap();
            for entropy in [0, u64::MAX, 0x5555_5555_5555_5555] {
                let mut draws: Vec<u64> = (1..=12).map(|a| wait(&c, a, entropy)).collect();
                draws.sort_unstable();
                draws.dedup();
                assert!(
                    draws.len() >= 10,
                    "seed {seed:#x}, entropy {entropy:#x}: {draws:?}"
                );
            }
        }
    }

    #[test]
    fn later_waits_from_half_the_cap_to_the_cap_and_spreads() {
        let c = cfg(Jitter::Equal);
        let (half, max) = (15_000 * NS_PER_MS, 30_000 * NS_PER_MS);
        let draws: Vec<u64> = (0..400)
            .map(|e| wait_nanos(&c, Decision::Later, 1, e))
            .collect();
        assert!(draws.iter().all(|d| (half..=max).contains(d)), "{draws:?}");
        // Spread over the whole range: some in each tenth of it.
        for tenth in 0..10 {
            let lo = half + (max - half) * tenth / 10;
            let hi = half + (max - half) * (tenth + 1) / 10;
            assert!(
                draws.iter().any(|d| (lo..=hi).contains(d)),
                "none in {lo}..={hi}"
            );
        }
        spreads(|c, a, e| wait_nanos(c, Decision::Later, a, e));
        // A cap equal to the first step: exactly the cap.
        let fixed = Config::client()
            .backoff_initial(Duration::from_secs(5))
            .backoff_max(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(wait_nanos(&fixed, Decision::Later, 3, 9), 5_000 * NS_PER_MS);
    }

    #[test]
    fn not_before_waits_at_least_that_long_and_at_most_a_quarter_more() {
        let c = cfg(Jitter::Equal);
        let after = Duration::from_secs(60);
        for attempt in 1..6 {
            for e in 0..100 {
                let d = wait_nanos(&c, Decision::NotBefore(after), attempt, e);
                let floor = (60_000 * NS_PER_MS).max(delay_nanos(&c, attempt, e));
                assert!((floor..=floor + floor / 4).contains(&d), "{d} from {floor}");
            }
        }
        spreads(|c, a, e| wait_nanos(c, Decision::NotBefore(after), a, e));
        // Soon is the first step's jitter, whatever the streak.
        let first = (1_000 * NS_PER_MS)..=(2_000 * NS_PER_MS);
        assert!(first.contains(&wait_nanos(&c, Decision::Soon, 9, 4)));
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
