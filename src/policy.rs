//! What a client does after a connection or an attempt ended: [`Decision`], the default
//! table (stated for readers in [`rules`](crate::rules#reconnecting-client)), and the
//! overrides a config may carry, as data.

use crate::reason::CloseReason;
use core::time::Duration;

/// What to do after a connection or an attempt ended, as
/// [`Config::decide`](crate::Config::decide) says.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Decision {
    /// Back off as usual: `backoff_initial` times `backoff_multiplier` per attempt,
    /// capped at `backoff_max`, jittered.
    Backoff,
    /// Come back soon: one first step of jitter (from `backoff_initial` up to the next
    /// step), whatever the streak. For planned restarts.
    Soon,
    /// Come back later: from half of `backoff_max` to `backoff_max`, whatever the
    /// streak. For a server that says it is overloaded.
    Later,
    /// Not before this long (capped at `retry_after_max`), and not before the usual
    /// backoff either, plus up to a quarter more.
    NotBefore(Duration),
    /// Stop: retrying cannot succeed. The machine says
    /// [`GiveUp`](crate::Action::GiveUp) with `fatal: true`.
    GiveUp,
}

/// The default table: what retrying can and cannot fix.
pub(crate) const fn table(reason: CloseReason) -> Decision {
    match reason {
        CloseReason::PeerClosed(code) => match code {
            1001 | 1012 => Decision::Soon,
            1013 => Decision::Later,
            1002 | 1003 | 1007 | 1008 | 1010 => Decision::GiveUp,
            _ => Decision::Backoff,
        },
        CloseReason::Refused {
            status,
            retry_after,
        } => match status {
            429 | 503 => match retry_after {
                Some(d) => Decision::NotBefore(d),
                None => Decision::Backoff,
            },
            408 | 500..=599 => Decision::Backoff,
            _ => Decision::GiveUp,
        },
        // Timeouts, transport failures, too many pings (the next connection pings less).
        _ => Decision::Backoff,
    }
}

/// How many overrides a config holds.
pub(crate) const MAX_OVERRIDES: usize = 4;

/// What an override matches.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Key {
    /// The peer's close code.
    Close(u16),
    /// The HTTP status of a refused upgrade.
    Status(u16),
}

impl Key {
    /// The reason this key matches (a refusal's `Retry-After` is no part of the key).
    pub(crate) fn reason(self) -> CloseReason {
        match self {
            Key::Close(code) => CloseReason::PeerClosed(code),
            Key::Status(status) => CloseReason::Refused {
                status,
                retry_after: None,
            },
        }
    }

    fn matches(self, reason: CloseReason) -> bool {
        match (self, reason) {
            (Key::Close(c), CloseReason::PeerClosed(code)) => c == code,
            (Key::Status(s), CloseReason::Refused { status, .. }) => s == status,
            _ => false,
        }
    }
}

/// A config's overrides of the table: data, so that two configs with the same overrides
/// are equal, and a scenario or a fuzz input can write them down. Eight bytes an entry:
/// the key, and the decision with its wait in whole milliseconds.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct Overrides {
    entries: [Entry; MAX_OVERRIDES],
}

/// One override, packed: `kind` 0 is an empty slot.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
struct Entry {
    kind: u8,
    decision: u8,
    code: u16,
    wait_ms: u32,
}

impl Entry {
    fn pack(key: Key, decision: Decision) -> Entry {
        let (kind, code) = match key {
            Key::Close(c) => (1, c),
            Key::Status(s) => (2, s),
        };
        let (decision, wait_ms) = match decision {
            Decision::Backoff => (0, 0),
            Decision::Soon => (1, 0),
            Decision::Later => (2, 0),
            Decision::GiveUp => (3, 0),
            Decision::NotBefore(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                (4, u32::try_from(ms).unwrap_or(u32::MAX))
            }
        };
        Entry {
            kind,
            decision,
            code,
            wait_ms,
        }
    }

    fn unpack(self) -> Option<(Key, Decision)> {
        let key = match self.kind {
            1 => Key::Close(self.code),
            2 => Key::Status(self.code),
            _ => return None,
        };
        let decision = match self.decision {
            0 => Decision::Backoff,
            1 => Decision::Soon,
            2 => Decision::Later,
            3 => Decision::GiveUp,
            _ => Decision::NotBefore(Duration::from_millis(u64::from(self.wait_ms))),
        };
        Some((key, decision))
    }
}

impl Overrides {
    /// Sets the decision for `key` (replacing an earlier one); `false` when full.
    pub(crate) fn set(&mut self, key: Key, decision: Decision) -> bool {
        let slot = self
            .entries
            .iter()
            .position(|e| e.unpack().is_some_and(|(k, _)| k == key))
            .or_else(|| self.entries.iter().position(|e| e.kind == 0));
        match slot {
            Some(i) => {
                self.entries[i] = Entry::pack(key, decision);
                true
            }
            None => false,
        }
    }

    /// The decision for `reason`: the override that matches it, else the table's.
    pub(crate) fn decide(&self, reason: CloseReason) -> Decision {
        self.iter()
            .find(|(k, _)| k.matches(reason))
            .map_or(table(reason), |(_, d)| d)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, Decision)> + '_ {
        self.entries.iter().filter_map(|e| e.unpack())
    }
}
