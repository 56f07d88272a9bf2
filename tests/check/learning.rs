//! The smart keepalive's rules (`PathMemory`'s docs), restated for the oracle: what a
//! silent gap's answer or loss teaches, and the interval in force that follows.

use keepalive::{Config, Duration};

/// Successes in a row before a step up; successes at a settled interval before the gap
/// that failed is probed again.
const STEP_AFTER: u32 = 3;
const REPROBE_AFTER: u32 = 1_000;

/// What the connections of one machine learned, in ms.
#[derive(Clone, Debug)]
pub struct Learning {
    on: bool,
    floor: u64,
    ceiling: u64,
    interval: u64,
    /// The gap that failed twice (0: none), and the successes since.
    limit: u64,
    since: u32,
    successes: u32,
    losses: u32,
    stale: bool,
}

impl Learning {
    /// What `memory` says (its byte form is the documented one: a version, whether
    /// stale, successes, losses, the interval and the settled gap in ms, the successes
    /// since it settled).
    pub fn remembered(cfg: &Config, memory: &keepalive::PathMemory) -> Learning {
        let b = memory.to_bytes();
        let u32_at = |i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
        let mut l = Learning::new(cfg);
        l.stale = b[1] == 1;
        l.successes = u32::from(b[2]);
        l.losses = u32::from(b[3]);
        if u32_at(4) != 0 {
            l.interval = u32_at(4).clamp(l.floor, l.ceiling);
        }
        l.limit = u32_at(8);
        l.since = u32::from(u16::from_le_bytes([b[12], b[13]]));
        l
    }

    pub fn new(cfg: &Config) -> Learning {
        let ms = |d: Duration| d.as_millis() as u64;
        let floor = ms(cfg.ping_interval());
        let mut ceiling = cfg.keepalive_ceiling().map_or(floor, ms).max(floor);
        if let Some(limit) = cfg.path_idle_limit() {
            ceiling = ceiling.min(ms(limit.saturating_sub(cfg.pong_timeout())));
        }
        Learning {
            on: cfg.keepalive_ceiling().is_some(),
            floor,
            ceiling: ceiling.max(floor),
            interval: floor,
            limit: 0,
            since: 0,
            successes: 0,
            losses: 0,
            stale: false,
        }
    }

    /// The keepalive interval in force: the one learned, in whole ms.
    pub fn interval(&self, cfg: &Config) -> Duration {
        match self.on {
            true => Duration::from_millis(self.interval),
            false => cfg.ping_interval(),
        }
    }

    /// The gap that failed twice, while it is not to be probed again.
    pub fn settled_below(&self) -> Option<u64> {
        (self.limit != 0).then_some(self.limit)
    }

    /// A keepalive ping after a silent gap was answered.
    pub fn held(&mut self) {
        if !self.on {
            return;
        }
        self.losses = 0;
        self.successes += 1;
        if self.limit != 0 {
            self.since += 1;
            if self.since >= REPROBE_AFTER {
                self.limit = 0;
                self.since = 0;
            }
            return;
        }
        if self.successes >= STEP_AFTER {
            self.successes = 0;
            self.interval = (self.interval + (self.interval / 4).max(1)).min(self.ceiling);
        }
    }

    /// The connection was lost right after a silent gap.
    pub fn lost(&mut self) {
        if !self.on {
            return;
        }
        self.successes = 0;
        if self.stale {
            *self = Learning {
                interval: self.floor,
                limit: 0,
                since: 0,
                losses: 0,
                stale: false,
                ..self.clone()
            };
            return;
        }
        self.losses += 1;
        if self.losses >= 2 {
            self.limit = self.interval;
            self.interval = (self.interval - self.interval / 5).max(self.floor);
            self.losses = 0;
            self.since = 0;
        }
    }

    pub fn network_changed(&mut self) {
        self.stale = true;
    }

    /// The invariants, of the machine's interval in force (`interval`, without a
    /// slowdown) and its memory's settled gap (`settled`): within [floor, ceiling], and
    /// below a gap that failed twice until it is probed again.
    pub fn check(
        &self,
        interval: Duration,
        settled: Option<Duration>,
    ) -> Result<(), (&'static str, String)> {
        let ms = interval.as_millis() as u64;
        if self.on && !(self.floor..=self.ceiling).contains(&ms) {
            return Err((
                "the keepalive interval stays within [ping_interval, keepalive_ceiling]",
                format!(
                    "{interval:?}, not in [{} ms, {} ms]",
                    self.floor, self.ceiling
                ),
            ));
        }
        if let Some(limit) = settled {
            if interval >= limit && ms > self.floor {
                return Err((
                    "a gap that failed twice is not probed again before the re-probe",
                    format!("{interval:?}, settled below {limit:?}"),
                ));
            }
        }
        Ok(())
    }
}
