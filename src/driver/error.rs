//! How a driven connection ends ([`Error`], [`Cause`]), and errors that travel in events
//! ([`Failure`], [`Refused`]).

use crate::event::CloseReason;
use crate::policy::Loss;
use core::fmt;
use core::time::Duration;
use std::string::{String, ToString};
use std::sync::Arc;

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
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Error<E> {
    cause: Cause,
    code: Option<u16>,
    reason: Option<String>,
    source: Option<E>,
}

impl<E> Error<E> {
    pub(crate) fn new(cause: Cause, code: Option<u16>, source: Option<E>) -> Error<E> {
        Error {
            cause,
            code,
            reason: None,
            source,
        }
    }

    pub(crate) fn with_reason(mut self, reason: Option<String>) -> Error<E> {
        self.reason = reason.filter(|r| !r.is_empty());
        self
    }

    /// The same end with another source type (for events, which carry a [`Failure`]).
    pub(crate) fn map_source<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        Error {
            cause: self.cause,
            code: self.code,
            reason: self.reason,
            source: self.source.map(f),
        }
    }

    /// The close frame's reason text, when the peer closed with one.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// What ended it, as the reconnect policy sees it.
    pub fn loss(&self) -> Loss {
        match (self.cause, self.code) {
            (Cause::PongTimeout | Cause::IdleTimeout, _) => Loss::Timeout,
            (Cause::PeerClosed, Some(code)) => Loss::PeerClose(code),
            _ => Loss::Transport,
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
                write!(f, "the peer closed the connection (code {code}")?;
                match &self.reason {
                    Some(r) => write!(f, ": {r})"),
                    None => f.write_str(")"),
                }
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

/// An error that travels in events: cloneable and comparable (by its message), with its
/// chain of sources intact. Wraps the connect function's, the on-connect step's or the
/// transport's own error.
#[derive(Clone)]
pub struct Failure(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Failure {
    /// Wraps any error (or message).
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Failure {
        Failure(Arc::from(e.into()))
    }

    /// The error inside, to downcast to its type.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Failure {}

/// The server refused the WebSocket upgrade. Return it (or any error whose chain holds
/// it) from a connect function on a stack the client does not know, and the refusal
/// reaches the reconnect policy with its status and `Retry-After`. (A
/// `tungstenite::Error::Http` is recognised by itself.)
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The `Retry-After` it sent, as a wait.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server refused the upgrade with HTTP {}",
            self.status
        )?;
        if let Some(d) = self.retry_after {
            write!(f, " (retry after {d:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// The refusal somewhere in `error`'s chain: a [`Refused`]; an HTTP response in place
    /// of the upgrade (feature `tungstenite`, with its `Retry-After`); tokio-websockets'
    /// "did not switch protocols" (feature `tokio-websockets`, the status only).
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
        let mut e = Some(error);
        while let Some(err) = e {
            if let Some(r) = err.downcast_ref::<Refused>() {
                return Some(*r);
            }
            #[cfg(feature = "tungstenite")]
            if let Some(tungstenite::Error::Http(response)) =
                err.downcast_ref::<tungstenite::Error>()
            {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::policy::parse_retry_after(v, now));
                return Some(Refused {
                    status: response.status().as_u16(),
                    retry_after,
                });
            }
            // tokio-websockets keeps the status only.
            #[cfg(feature = "tokio-websockets")]
            if let Some(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status)) =
                err.downcast_ref::<tokio_websockets::upgrade::Error>()
            {
                return Some(Refused {
                    status: *status,
                    retry_after: None,
                });
            }
            e = err.source();
        }
        None
    }
}
