//! [`CloseReason`]: the crate's one word for why a connection, or a connection attempt,
//! ended. The machine closes with it, the events report it, the reconnect policy decides
//! by it, the driver's errors carry it and the scenario files write it.

use core::fmt;
use core::time::Duration;

/// Why a connection or a connection attempt ended.
///
/// The same value travels everywhere: in [`Action::Close`](crate::Action::Close) (we
/// close, for this reason), in [`Event::Closed`](crate::Event::Closed) (it ended, for
/// this reason), in [`Action::GiveUp`](crate::Action::GiveUp), in the reconnect
/// [decision](crate::Config::decide), and in the driver's errors. Who ended it follows
/// from where it appears: an action is ours, an event is the peer's or the transport's.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CloseReason {
    /// A ping went unanswered, and nothing else came from the peer, for the pong timeout.
    PongTimeout,
    /// Nothing came from the peer for `idle_timeout`.
    IdleTimeout,
    /// The application asked for it ([`Event::Shutdown`](crate::Event::Shutdown)).
    Shutdown,
    /// Pings came more often than `min_ping_interval` allows, past `max_ping_strikes`
    /// (as an event: the peer closed us for pinging too often, and the next connection
    /// pings half as often).
    TooManyPings,
    /// The transport failed, or vanished without a close frame (an I/O error, a reset,
    /// an attempt that could not connect).
    Transport,
    /// A connection attempt did not complete within `connect_timeout`.
    ConnectTimeout,
    /// The peer's close frame, with its code (1005 when it carried none).
    PeerClosed(u16),
    /// The server refused the WebSocket upgrade with this HTTP status.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` it sent, as a wait ([`CloseReason::refused`] reads the
        /// header).
        retry_after: Option<Duration>,
    },
}

impl CloseReason {
    /// The WebSocket close code (RFC 6455): 1011 for our timeouts (as Python `websockets`
    /// and other peers use), 1000 for a shutdown, 1008 (policy violation) for too many
    /// pings, the peer's own code for [`PeerClosed`](Self::PeerClosed), and 1006
    /// (closed without a close frame) for the rest, which no close frame carries.
    pub const fn code(self) -> u16 {
        match self {
            CloseReason::PongTimeout | CloseReason::IdleTimeout => 1011,
            CloseReason::Shutdown => 1000,
            CloseReason::TooManyPings => 1008,
            CloseReason::PeerClosed(code) => code,
            CloseReason::Transport | CloseReason::ConnectTimeout | CloseReason::Refused { .. } => {
                1006
            }
        }
    }

    /// A short reason text, for a close frame or a log line: `pong timeout`,
    /// `too many pings`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::PongTimeout => "pong timeout",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::Shutdown => "shutdown",
            CloseReason::TooManyPings => "too many pings",
            CloseReason::Transport => "transport failed",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::PeerClosed(_) => "peer closed",
            CloseReason::Refused { .. } => "upgrade refused",
        }
    }

    /// The reason's name as logs, metrics and scenario files write it: `pong_timeout`,
    /// `too_many_pings`, `peer_closed`, ...
    pub const fn name(self) -> &'static str {
        match self {
            CloseReason::PongTimeout => "pong_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Shutdown => "shutdown",
            CloseReason::TooManyPings => "too_many_pings",
            CloseReason::Transport => "transport",
            CloseReason::ConnectTimeout => "connect_timeout",
            CloseReason::PeerClosed(_) => "peer_closed",
            CloseReason::Refused { .. } => "refused",
        }
    }

    /// Whether the heartbeat found the peer silent (a pong or idle timeout).
    pub const fn is_timeout(self) -> bool {
        matches!(self, CloseReason::PongTimeout | CloseReason::IdleTimeout)
    }

    /// The reason for the peer's close frame: its code (`None`: the frame had none, 1005)
    /// and its reason text. A 1008 whose text says "too many pings" (or gRPC's
    /// `too_many_pings`) is [`TooManyPings`](Self::TooManyPings): the peer polices pings,
    /// and a client slows its own down.
    ///
    /// ```
    /// use keepalive::CloseReason;
    /// assert_eq!(CloseReason::from_peer(Some(1008), "Too many pings"), CloseReason::TooManyPings);
    /// assert_eq!(CloseReason::from_peer(Some(1008), "forbidden"), CloseReason::PeerClosed(1008));
    /// assert_eq!(CloseReason::from_peer(None, ""), CloseReason::PeerClosed(1005));
    /// ```
    pub fn from_peer(code: Option<u16>, text: &str) -> CloseReason {
        let code = code.unwrap_or(1005);
        let pings = |t: &str| {
            let t = t.trim().as_bytes();
            let want = b"too many pings";
            t.len() == want.len()
                && t.iter()
                    .zip(want)
                    .all(|(a, b)| a.to_ascii_lowercase() == *b || (*a == b'_' && *b == b' '))
        };
        if code == 1008 && pings(text) {
            CloseReason::TooManyPings
        } else {
            CloseReason::PeerClosed(code)
        }
    }

    /// A refused upgrade: its HTTP `status` and its `Retry-After` header, if any, read as
    /// RFC 9110 (section 10.2.3) says: a number of seconds, or an IMF-fixdate such as
    /// `Sun, 06 Nov 1994 08:49:37 GMT` counted from `now_unix` (seconds since 1970; a
    /// date in the past is no wait). A header it cannot read is left out.
    ///
    /// ```
    /// use keepalive::{CloseReason, Duration};
    /// let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    /// assert_eq!(
    ///     CloseReason::refused(503, Some("Sun, 06 Nov 1994 08:50:07 GMT"), now),
    ///     CloseReason::Refused { status: 503, retry_after: Some(Duration::from_secs(30)) }
    /// );
    /// assert_eq!(
    ///     CloseReason::refused(429, Some("120"), now),
    ///     CloseReason::Refused { status: 429, retry_after: Some(Duration::from_secs(120)) }
    /// );
    /// assert_eq!(CloseReason::refused(503, Some("soon"), now), CloseReason::Refused { status: 503, retry_after: None });
    /// ```
    pub fn refused(status: u16, retry_after: Option<&str>, now_unix: u64) -> CloseReason {
        CloseReason::Refused {
            status,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now_unix)),
        }
    }
}

impl fmt::Display for CloseReason {
    /// The reason text, with the code or status where one came from outside:
    /// `peer closed (1012)`, `upgrade refused (HTTP 503, retry after 2s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        match *self {
            CloseReason::PeerClosed(code) => write!(f, " ({code})"),
            CloseReason::Refused {
                status,
                retry_after: Some(d),
            } => write!(f, " (HTTP {status}, retry after {d:?})"),
            CloseReason::Refused { status, .. } => write!(f, " (HTTP {status})"),
            _ => Ok(()),
        }
    }
}

/// `Retry-After` as a wait from `now_unix`: seconds, or an IMF-fixdate.
fn parse_retry_after(value: &str, now_unix: u64) -> Option<Duration> {
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
