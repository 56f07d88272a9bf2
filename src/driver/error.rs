//! How a driven connection ends: [`Error`] and its [`Cause`].

use crate::event::CloseReason;
use core::fmt;

/// Why a connection ended.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Cause {
    /// A ping went unanswered, and nothing else arrived, for `pong_timeout`. We closed
    /// with 1011.
    PongTimeout,
    /// Nothing arrived for `idle_timeout`. We closed with 1011.
    IdleTimeout,
    /// The application closed the connection (1000).
    Shutdown,
    /// The peer closed the connection (with its close frame's code, if any).
    PeerClosed,
    /// The transport failed (an I/O or protocol error).
    Error,
}

impl Cause {
    /// A short snake_case name: `pong_timeout`, `idle_timeout`, `shutdown`,
    /// `peer_closed`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::PongTimeout => "pong_timeout",
            Cause::IdleTimeout => "idle_timeout",
            Cause::Shutdown => "shutdown",
            Cause::PeerClosed => "peer_closed",
            Cause::Error => "error",
        }
    }
}

impl From<CloseReason> for Cause {
    fn from(reason: CloseReason) -> Cause {
        match reason {
            CloseReason::PongTimeout => Cause::PongTimeout,
            CloseReason::IdleTimeout => Cause::IdleTimeout,
            CloseReason::Shutdown => Cause::Shutdown,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The end of a driven connection: why, with which close code, and the transport's error
/// if there was one.
///
/// The driver's stream yields it once, as its last item. A send on a connection that has
/// ended (or is closing) fails with the same cause and code, without the source: the
/// message was not sent.
#[derive(Debug)]
pub struct Error<E> {
    cause: Cause,
    code: Option<u16>,
    source: Option<E>,
}

impl<E> Error<E> {
    pub(crate) fn new(cause: Cause, code: Option<u16>, source: Option<E>) -> Error<E> {
        Error {
            cause,
            code,
            source,
        }
    }

    /// Why the connection ended.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The close code: the one we sent for our own closes (1011 timeouts, 1000
    /// shutdown), the peer's for [`Cause::PeerClosed`]; `None` when no close frame went
    /// either way (an error, or a peer that vanished).
    pub fn code(&self) -> Option<u16> {
        self.code
    }

    /// Whether the connection ended because the heartbeat found the peer silent.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, Cause::PongTimeout | Cause::IdleTimeout)
    }

    /// The transport's error, for [`Cause::Error`].
    pub fn transport_error(&self) -> Option<&E> {
        self.source.as_ref()
    }

    /// Takes the transport's error.
    pub fn into_transport_error(self) -> Option<E> {
        self.source
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.cause, self.code, &self.source) {
            (Cause::PeerClosed, Some(code), _) => {
                write!(f, "the peer closed the connection (code {code})")
            }
            (Cause::PeerClosed, None, _) => {
                f.write_str("the peer closed the connection without a close frame")
            }
            (Cause::Error, _, Some(e)) => write!(f, "the transport failed: {e}"),
            (Cause::Error, _, None) => f.write_str("the transport failed"),
            (cause, Some(code), _) => write!(
                f,
                "connection closed: {} (sent close code {code})",
                cause.as_str().replace('_', " ")
            ),
            (cause, None, _) => {
                write!(f, "connection closed: {}", cause.as_str().replace('_', " "))
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
