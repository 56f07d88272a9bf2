//! [`Client`]: a connection that comes back. Connects with a timeout, keeps the heartbeat
//! from its own task ([`ClientTask`]), reconnects when the machine says, and reports each
//! step as a [`SessionEvent`].

mod handle;
mod setup;
mod task;

pub use handle::{Built, Client, ClientBuilder, SendFuture};
pub use setup::{NoSetup, Setup, Step, StepFuture};
pub use task::ClientTask;

use super::error::{Cause, Error, Failure};
use crate::meter::Meter;
use crate::policy::Loss;
use crate::{Event, PingId, Stats};
use core::fmt;
use core::task::Waker;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// Events buffered for the application by default before the client stops reading.
pub const DEFAULT_CAPACITY: usize = 64;

/// One step in a client's life, from [`Client`]'s stream.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionEvent<M> {
    /// A connection is open (TCP and handshake done).
    Connected,
    /// A message from the peer.
    Message(M),
    /// A keepalive ping has left.
    PingSent(PingId),
    /// A pong acknowledged our ping, `rtt` after the ping left.
    Pong {
        /// The measured round trip.
        rtt: Duration,
    },
    /// The connection ended: why ([`Error::cause`], [`Error::loss`]), with which close
    /// code and reason, and the transport's error as its source.
    Closed(Error<Failure>),
    /// A connection attempt failed.
    ConnectFailed(ConnectError),
    /// The next attempt starts `after` from now (the client waits by itself).
    Reconnecting {
        /// The wait, as the reconnect policy decided it.
        after: Duration,
    },
    /// The client stopped for good.
    GaveUp {
        /// What ended the last connection or attempt.
        loss: Loss,
        /// The reconnect policy said retrying cannot fix it (a 401, a close 1008);
        /// otherwise `max_attempts` attempts failed in a row.
        fatal: bool,
    },
}

/// Why a connection attempt failed.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ConnectError {
    /// Neither connected nor failed within `connect_timeout` (for example a server that
    /// accepts TCP but never completes the handshake).
    TimedOut,
    /// The server refused the WebSocket upgrade with this HTTP status.
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its `Retry-After`, as a wait.
        retry_after: Option<Duration>,
        /// The connect function's error.
        error: Failure,
    },
    /// The connect function failed (an unreachable host, a TLS error, ...).
    Failed(Failure),
    /// The connection opened, but the on-connect step failed (authentication,
    /// subscriptions): the attempt counts as failed.
    Setup(Failure),
}

impl ConnectError {
    /// What ended the attempt, as the reconnect policy sees it.
    pub fn loss(&self) -> Loss {
        match self {
            ConnectError::TimedOut => Loss::ConnectTimeout,
            ConnectError::Refused {
                status,
                retry_after,
                ..
            } => Loss::Refused {
                status: *status,
                retry_after: *retry_after,
            },
            ConnectError::Failed(_) | ConnectError::Setup(_) => Loss::Transport,
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TimedOut => f.write_str("connect timed out"),
            ConnectError::Refused { status, error, .. } => {
                write!(f, "connect refused with HTTP {status}: {error}")
            }
            ConnectError::Failed(e) => write!(f, "connect failed: {e}"),
            ConnectError::Setup(e) => write!(f, "the on-connect step failed: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::TimedOut => None,
            ConnectError::Refused { error, .. }
            | ConnectError::Failed(error)
            | ConnectError::Setup(error) => Some(error),
        }
    }
}

/// A message that was not sent, and why. Every variant that can return the message does.
#[non_exhaustive]
#[derive(PartialEq, Eq)]
pub enum SendError<M> {
    /// No connection is open (connecting, or waiting to reconnect): try again after
    /// [`SessionEvent::Connected`].
    NotConnected(M),
    /// The client has stopped (shut down or gave up).
    Stopped(M),
    /// The message was handed to the transport, but the connection ended before it was
    /// flushed: it may or may not have arrived.
    Unconfirmed(Cause),
}

impl<M> SendError<M> {
    /// The message, when it was certainly not sent.
    pub fn into_message(self) -> Option<M> {
        match self {
            SendError::NotConnected(m) | SendError::Stopped(m) => Some(m),
            SendError::Unconfirmed(_) => None,
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str("NotConnected(..)"),
            SendError::Stopped(_) => f.write_str("Stopped(..)"),
            SendError::Unconfirmed(c) => write!(f, "Unconfirmed({c:?})"),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str(
                "not sent: no connection is open; send again after the next Connected event",
            ),
            SendError::Stopped(_) => f.write_str("not sent: the client has stopped"),
            SendError::Unconfirmed(c) => write!(
                f,
                "unconfirmed: the connection ended ({c}) before the message was flushed"
            ),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

/// One connection attempt, as the client's connect function sees it.
///
/// ```no_run
/// # async fn doc(attempt: keepalive::driver::Attempt) -> Result<(), tokio_tungstenite::tungstenite::Error> {
/// // Inside `Client::spawn(Tokio, config, WsCodec, |attempt: Attempt| async move { ... })`:
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
/// let tcp = attempt.meter().tcp(tcp); // bytes count as life on this connection
/// let (ws, _) = tokio_tungstenite::client_async("ws://127.0.0.1:9001", tcp).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Attempt {
    number: u32,
    last_loss: Option<Loss>,
    meter: Meter,
}

impl Attempt {
    /// Which attempt this is, from 1 for the first, over the client's life (rotate
    /// endpoints with it).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// What ended the previous connection or attempt (`None` for the first): for
    /// example, add a resume token after a restart, or a fresh credential after a 401.
    pub fn last_loss(&self) -> Option<Loss> {
        self.last_loss
    }

    /// The meter for this attempt's connection: wrap the TCP stream in it
    /// ([`Meter::tcp`]) and the heartbeat counts bytes as life, not only messages.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }
}

/// What the application's handle and the task share.
struct Shared<M> {
    events: VecDeque<SessionEvent<M>>,
    /// The machine's statistics as of the task's last pass.
    stats: Stats,
    capacity: usize,
    /// A message the application wants sent, and then the outcome.
    outbox: Option<M>,
    outcome: Option<Result<(), SendError<M>>>,
    /// Pause, Resume, NetworkChanged from the application, not yet applied.
    signals: VecDeque<Event>,
    shutdown: bool,
    /// The application dropped its handle: events go nowhere.
    detached: bool,
    finished: bool,
    task: Option<Waker>,
    app: Option<Waker>,
}

impl<M> Shared<M> {
    fn new(capacity: usize) -> Shared<M> {
        Shared {
            events: VecDeque::new(),
            stats: Stats::default(),
            capacity: capacity.max(1),
            outbox: None,
            outcome: None,
            signals: VecDeque::new(),
            shutdown: false,
            detached: false,
            finished: false,
            task: None,
            app: None,
        }
    }

    fn push(&mut self, event: SessionEvent<M>) {
        if !self.detached {
            self.events.push_back(event);
            self.wake_app();
        }
    }

    fn settle(&mut self, outcome: Result<(), SendError<M>>) {
        self.outcome = Some(outcome);
        self.wake_app();
    }

    fn wake_app(&mut self) {
        if let Some(w) = self.app.take() {
            w.wake();
        }
    }

    fn wake_task(&mut self) {
        if let Some(w) = self.task.take() {
            w.wake();
        }
    }
}

fn lock<M>(shared: &Mutex<Shared<M>>) -> MutexGuard<'_, Shared<M>> {
    // A panic elsewhere while holding the lock leaves plain data: keep going.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
