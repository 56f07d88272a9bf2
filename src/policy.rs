//! Reconnects that follow the cause: what ended a connection ([`Loss`]), what to do about
//! it ([`Decision`]), and the default table.
//!
//! # The default policy
//!
//! | what ended it | decision | why |
//! |---|---|---|
//! | the transport failed, a pong or idle timeout, a connect timeout | back off | the network or the peer failed; it may come back |
//! | close 1000 (normal), 1005 (a close frame without a code) | back off | the server ended the session on purpose, and most clients (feeds, chats) want it back; if yours does not, [`end_on_normal_close`] |
//! | close 1001 (going away), 1012 (service restart) | soon | a planned restart: come back after one first step of jitter (from `backoff_initial` to twice it), so a fleet is spread, not stampeding |
//! | close 1013 (try again later) | later | the server is overloaded and shedding clients: wait from half of `backoff_max` to `backoff_max` |
//! | close 1002, 1003, 1007, 1008, 1010 (protocol error, unsupported or invalid data, policy violation, missing extension) | give up | RFC 6455: the same client sending the same thing is refused again; a person must fix it |
//! | close 1009 (message too big), 1011, 1014, and any other | back off | the next connection can go better (a smaller message, a recovered server) |
//! | HTTP 401, 403 (the upgrade refused) | give up | credentials or permissions do not fix themselves (refresh them in the connect function, and say so with a policy) |
//! | HTTP 400, 404, 405, 410, 426, any other 4xx, 3xx | give up | the request or the address is wrong (RFC 9110): retrying repeats it |
//! | HTTP 408, any 5xx but 503 | back off | the server may recover |
//! | HTTP 429, 503 | not before `Retry-After` | RFC 9110: the server said when; never sooner, up to `retry_after_max` (default 10 min), plus up to a quarter more so that clients told the same moment do not all come back in it. Without `Retry-After`: back off |
//!
//! Every decision but giving up counts as an attempt, so `max_attempts` still ends a
//! streak of planned restarts, and a server that closes every connection at once still
//! sees growing waits. [`ConfigBuilder::reconnect_policy`](crate::ConfigBuilder::reconnect_policy)
//! replaces the table, case by case:
//!
//! ```
//! use keepalive::policy::{Decision, Loss};
//! use keepalive::{Config, Duration};
//!
//! /// Our server closes with 4001 when a session is taken over elsewhere: stop then.
//! fn ours(loss: Loss, _attempt: u32) -> Decision {
//!     match loss {
//!         Loss::PeerClose(4001) => Decision::GiveUp,
//!         Loss::Refused { status: 401, .. } => Decision::Backoff, // the connect function refreshes the token
//!         _ => Decision::Default,
//!     }
//! }
//! let config = Config::client().reconnect_policy(ours).build()?;
//! assert_eq!(config.decide(Loss::PeerClose(4001), 1), Decision::GiveUp);
//! assert_eq!(config.decide(Loss::PeerClose(1012), 1), Decision::Soon);
//! # Ok::<(), keepalive::ConfigError>(())
//! ```

use core::time::Duration;

/// What ended a connection, or a connection attempt: what the reconnect policy decides
/// from.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Loss {
    /// The transport failed or closed without a close frame, or an attempt failed
    /// before the server answered ([`Event::Disconnected`], [`Event::ConnectFailed`]).
    ///
    /// [`Event::Disconnected`]: crate::Event::Disconnected
    /// [`Event::ConnectFailed`]: crate::Event::ConnectFailed
    Transport,
    /// We closed the connection for a pong or idle timeout.
    Timeout,
    /// An attempt did not complete within `connect_timeout`.
    ConnectTimeout,
    /// The peer closed the connection with this close code (1005: its close frame had
    /// none) ([`Event::CloseReceived`](crate::Event::CloseReceived)).
    PeerClose(u16),
    /// The server refused the WebSocket upgrade with this HTTP status, and asked to be
    /// left alone this long (`Retry-After`) ([`Event::Refused`](crate::Event::Refused)).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` it sent, if any.
        retry_after: Option<Duration>,
    },
}

/// What to do about a [`Loss`].
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Decision {
    /// What the default table says (from a policy: "not my case").
    Default,
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
    /// Stop: retrying cannot succeed. The machine says [`GiveUp`](crate::Action::GiveUp).
    GiveUp,
}

/// A reconnect policy: from what ended the connection and the number of the attempt
/// that would follow (from 1), a decision; [`Decision::Default`] defers to the table.
pub type Policy = fn(Loss, u32) -> Decision;

/// The default table (see the [module](self)).
pub const fn default_decision(loss: Loss) -> Decision {
    match loss {
        Loss::Transport | Loss::Timeout | Loss::ConnectTimeout => Decision::Backoff,
        Loss::PeerClose(code) => match code {
            1001 | 1012 => Decision::Soon,
            1013 => Decision::Later,
            1002 | 1003 | 1007 | 1008 | 1010 => Decision::GiveUp,
            _ => Decision::Backoff,
        },
        Loss::Refused {
            status,
            retry_after,
        } => match status {
            429 | 503 => match retry_after {
                Some(d) => Decision::NotBefore(d),
                None => Decision::Backoff,
            },
            408 => Decision::Backoff,
            500..=599 => Decision::Backoff,
            _ => Decision::GiveUp,
        },
    }
}

/// A policy for sessions that a normal close (1000) ends for good: everything else as
/// the default table says.
///
/// ```
/// use keepalive::policy::{end_on_normal_close, Decision, Loss};
/// let config = keepalive::Config::client().reconnect_policy(end_on_normal_close).build()?;
/// assert_eq!(config.decide(Loss::PeerClose(1000), 1), Decision::GiveUp);
/// # Ok::<(), keepalive::ConfigError>(())
/// ```
pub fn end_on_normal_close(loss: Loss, _attempt: u32) -> Decision {
    match loss {
        Loss::PeerClose(1000) => Decision::GiveUp,
        _ => Decision::Default,
    }
}

/// `Retry-After` (RFC 9110, section 10.2.3) as a wait from `now_unix` (seconds since
/// 1970): a number of seconds, or an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`
/// (a date in the past is no wait). `None` for anything else.
///
/// ```
/// use keepalive::policy::parse_retry_after;
/// use keepalive::Duration;
/// assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
/// let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    imf_fixdate(value).map(|at| Duration::from_secs(at.saturating_sub(now_unix)))
}

/// Seconds since 1970 of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn imf_fixdate(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: core::ops::Range<usize>| -> Option<u64> {
        s.get(r)?.bytes().try_fold(0u64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
        })
    };
    let day = num(5..7)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| s.get(8..11) == Some(*m))? as u64 + 1;
    let year = num(12..16)?;
    let (h, m, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    // Days from 1970-01-01 to the date (proleptic Gregorian; Howard Hinnant's formula).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3_600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdates_read_as_unix_seconds() {
        assert_eq!(imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            imf_fixdate("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        assert_eq!(imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(imf_fixdate("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 100),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn the_table_gives_up_only_where_retrying_cannot_help() {
        for code in [1002, 1003, 1007, 1008, 1010] {
            assert_eq!(default_decision(Loss::PeerClose(code)), Decision::GiveUp);
        }
        for status in [400, 401, 403, 404, 405, 410, 426, 301] {
            let loss = Loss::Refused {
                status,
                retry_after: None,
            };
            assert_eq!(default_decision(loss), Decision::GiveUp, "{status}");
        }
        let busy = Loss::Refused {
            status: 503,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            default_decision(busy),
            Decision::NotBefore(Duration::from_secs(2))
        );
    }
}
