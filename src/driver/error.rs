//! How a driven connection, or a connection attempt, ended ([`Error`]), and a message
//! that was not sent ([`SendError`]).

use crate::CloseReason;
use core::fmt;
use std::sync::Arc;

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a connection, or a connection attempt, ended: the [`CloseReason`], the peer's
/// close text when it sent one, and the underlying error (the transport's, the connect
/// function's or the on-connect step's) as its [`source`](std::error::Error::source).
///
/// A [`Heartbeat`](super::Heartbeat) yields it as its stream's last item; a
/// [`Client`](super::Client) reports it in [`SessionEvent::Closed`](super::SessionEvent::Closed)
/// and [`SessionEvent::ConnectFailed`](super::SessionEvent::ConnectFailed). Cloneable and
/// comparable (the source by its message), so events can carry it.
#[derive(Clone)]
pub struct Error {
    reason: CloseReason,
    /// The peer closed (its close frame, or its refusal), rather than we.
    by_peer: bool,
    text: Option<Arc<str>>,
    source: Option<Source>,
}

impl Error {
    pub(crate) fn new(reason: CloseReason) -> Error {
        Error {
            reason,
            by_peer: matches!(
                reason,
                CloseReason::PeerClosed(_) | CloseReason::Refused { .. }
            ),
            text: None,
            source: None,
        }
    }

    /// The peer's close frame, with its reason text.
    pub(crate) fn from_peer(reason: CloseReason, text: Option<&str>) -> Error {
        Error {
            by_peer: true,
            text: text.filter(|t| !t.is_empty()).map(Arc::from),
            ..Error::new(reason)
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Why it ended.
    pub fn reason(&self) -> CloseReason {
        self.reason
    }

    /// The close code: the peer's for its close frame, the one we sent for our own
    /// closes (1011 timeouts, 1000 shutdown, 1008 too many pings); `None` when no close
    /// frame went either way (the transport failed, an attempt did not connect).
    pub fn code(&self) -> Option<u16> {
        match self.reason {
            CloseReason::Transport | CloseReason::ConnectTimeout | CloseReason::Refused { .. } => {
                None
            }
            reason => Some(reason.code()),
        }
    }

    /// The peer's close reason text, when its close frame had one.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// Whether the peer ended it (its close frame, its refusal), rather than we (a
    /// timeout, a shutdown, its pings policed) or the transport.
    pub fn by_peer(&self) -> bool {
        self.by_peer
    }

    /// Whether the heartbeat found the peer silent (a pong or idle timeout).
    pub fn is_timeout(&self) -> bool {
        self.reason.is_timeout()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.reason;
        match r {
            CloseReason::Transport => f.write_str("the transport failed")?,
            CloseReason::ConnectTimeout => f.write_str("the connection attempt timed out")?,
            CloseReason::Refused { .. } => write!(f, "the server refused: {r}")?,
            CloseReason::PeerClosed(code) => {
                write!(f, "the peer closed the connection ({code}")?;
                if let Some(t) = &self.text {
                    write!(f, ": {t}")?;
                }
                f.write_str(")")?;
            }
            _ if self.by_peer => write!(f, "the peer closed the connection: {r} ({})", r.code())?,
            _ => write!(f, "closed: {r} (sent close code {})", r.code())?,
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("reason", &self.reason);
        if self.by_peer {
            d.field("by_peer", &true);
        }
        if let Some(t) = &self.text {
            d.field("text", t);
        }
        if let Some(s) = &self.source {
            d.field("source", &format_args!("{s}"));
        }
        d.finish()
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        let source = |e: &Error| e.source.as_ref().map(|s| s.to_string());
        (self.reason, self.by_peer, &self.text) == (other.reason, other.by_peer, &other.text)
            && source(self) == source(other)
    }
}

impl Eq for Error {}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// The on-connect step failed: its error, said so.
#[derive(Debug)]
pub(crate) struct SetupFailed(pub(crate) Box<dyn std::error::Error + Send + Sync + 'static>);

impl fmt::Display for SetupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the on-connect step failed: {}", self.0)
    }
}

impl std::error::Error for SetupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A message that was not sent, or not confirmed, and why. Every variant hands the
/// message back ([`into_message`](Self::into_message)): retrying needs no copy of your
/// own.
#[non_exhaustive]
#[derive(PartialEq, Eq)]
pub enum SendError<M> {
    /// No connection is open (connecting, waiting to reconnect, or the connection ended
    /// before the message was handed to it): it was certainly not sent, and nothing is
    /// queued behind your back. Wait for [`Client::connected`](super::Client::connected),
    /// or the next [`SessionEvent::Connected`](super::SessionEvent::Connected), and send
    /// it again.
    NotConnected(M),
    /// The client has stopped (shut down or gave up): certainly not sent.
    Stopped(M),
    /// The message was handed to the transport, but the connection ended, for this
    /// reason, before it was flushed: it may or may not have arrived. A protocol that
    /// must not lose or repeat a message needs the peer's acknowledgement either way.
    Unconfirmed(M, CloseReason),
}

impl<M> SendError<M> {
    /// The message, handed back.
    pub fn into_message(self) -> M {
        match self {
            SendError::NotConnected(m) | SendError::Stopped(m) | SendError::Unconfirmed(m, _) => m,
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str("NotConnected(..)"),
            SendError::Stopped(_) => f.write_str("Stopped(..)"),
            SendError::Unconfirmed(_, r) => write!(f, "Unconfirmed(.., {r:?})"),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str(
                "not sent: no connection is open; send it again once connected \
                 (Client::connected)",
            ),
            SendError::Stopped(_) => f.write_str("not sent: the client has stopped"),
            SendError::Unconfirmed(_, r) => write!(
                f,
                "unconfirmed: the connection ended ({r}) before the message was flushed; it \
                 may or may not have arrived"
            ),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

/// The peer's refusal of the upgrade, found in a connect error's chain: an HTTP
/// response in place of the upgrade (feature `tungstenite`, with its `Retry-After`),
/// tokio-websockets' "did not switch protocols" (feature `tokio-websockets`, the status
/// only), or an [`Error`] whose reason is a refusal (any other stack: return one).
pub(crate) fn refusal(error: &(dyn std::error::Error + 'static)) -> Option<CloseReason> {
    let mut e = Some(error);
    while let Some(err) = e {
        if let Some(ours) = err.downcast_ref::<Error>() {
            if let r @ CloseReason::Refused { .. } = ours.reason {
                return Some(r);
            }
        }
        #[cfg(feature = "tungstenite")]
        if let Some(tungstenite::Error::Http(response)) = err.downcast_ref::<tungstenite::Error>() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok());
            return Some(CloseReason::refused(
                response.status().as_u16(),
                retry_after,
                now,
            ));
        }
        #[cfg(feature = "tokio-websockets")]
        if let Some(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status)) =
            err.downcast_ref::<tokio_websockets::upgrade::Error>()
        {
            return Some(CloseReason::Refused {
                status: *status,
                retry_after: None,
            });
        }
        e = err.source();
    }
    None
}

impl Error {
    /// A refused upgrade, for a connect function on a stack the client does not know
    /// (`reason` from [`CloseReason::refused`], which reads the `Retry-After` header):
    /// return it, or any error whose chain holds it, and the refusal reaches the
    /// reconnect decision with its status and wait. (tungstenite's and
    /// tokio-websockets' refusals are recognised by themselves.)
    pub fn refused(reason: CloseReason) -> Error {
        Error::new(reason)
    }
}
