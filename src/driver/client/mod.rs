//! [`Client`]: a connection that comes back. Connects with a timeout, keeps the heartbeat
//! from its own task, reconnects when the machine says, and reports each step as a
//! [`SessionEvent`] on its one [`Events`] stream; any number of [`Client`] handles send.

mod handle;
mod task;

pub use handle::{Client, ClientBuilder, Events};

use super::error::{Error, SendError};
use super::lock;
use crate::driver::meter::Meter;
use crate::{CloseReason, Event, PathMemory, PingId, Stats};
use core::task::Waker;
use core::time::Duration;
use std::collections::VecDeque;
use std::vec::Vec;

/// Messages buffered for the application by default before the client stops reading.
const DEFAULT_CAPACITY: usize = 64;

/// One step in a client's life, from its [`Events`] stream.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionEvent<M> {
    /// A connection is open (TCP, handshake and on-connect step done): sends go through.
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
    /// The connection ended: why ([`Error::reason`]), with which close code and text,
    /// and the transport's error as its source.
    Closed(Error),
    /// A connection attempt failed: it timed out ([`CloseReason::ConnectTimeout`]), the
    /// server refused the upgrade ([`CloseReason::Refused`], with its status and
    /// `Retry-After`), or the connect function or the on-connect step failed (the source).
    ConnectFailed(Error),
    /// The next attempt starts `after` from now (the client waits by itself).
    Reconnecting {
        /// The wait, as the reconnect decision made it.
        after: Duration,
    },
    /// The server closed us for pinging too often ([`CloseReason::TooManyPings`]): from
    /// the next connection on, the client pings every `ping_interval` (twice as long).
    SlowingDown {
        /// The ping interval in force now.
        ping_interval: Duration,
    },
    /// The client stopped for good.
    GaveUp {
        /// What ended the last connection or attempt.
        reason: CloseReason,
        /// Retrying cannot fix it (a 401, a close 1008); otherwise `max_attempts`
        /// attempts failed in a row.
        fatal: bool,
    },
}

/// One connection attempt, as the client's connect function sees it.
///
/// ```no_run
/// # async fn doc(attempt: keepalive::driver::Attempt) -> Result<(), tokio_tungstenite::tungstenite::Error> {
/// // Inside `Client::builder(config, WsCodec, |attempt: Attempt| async move { ... })`:
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
/// let tcp = attempt.meter().tcp(tcp); // bytes count as life on this connection
/// let (ws, _) = tokio_tungstenite::client_async("ws://127.0.0.1:9001", tcp).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Attempt {
    number: u32,
    last_reason: Option<CloseReason>,
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
    pub fn last_reason(&self) -> Option<CloseReason> {
        self.last_reason
    }

    /// The meter for this attempt's connection: wrap the TCP stream in it
    /// ([`Meter::tcp`]) and the heartbeat counts bytes as life, not only messages.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }
}

/// What the application's handles and the task share. The task takes the lock for
/// moments, never across the transport's I/O.
struct Inner<M> {
    /// Events for the application, in order: messages (at most `capacity`: then the
    /// task stops reading), and news of the heartbeat and the connections, which never
    /// wait for room (see [`Inner::push`]).
    events: VecDeque<SessionEvent<M>>,
    /// How many of `events` are messages.
    messages: usize,
    capacity: usize,
    /// Events dropped for an application that did not keep up.
    dropped: u64,
    /// The machine's statistics and path memory as of the task's last pass.
    stats: Stats,
    memory: PathMemory,
    /// Messages the handles want sent, in order, by ticket; and the outcomes of those
    /// the task took.
    sends: VecDeque<(u64, M)>,
    next_ticket: u64,
    settled: Vec<(u64, Result<(), SendError<M>>)>,
    /// A connection is open.
    open: bool,
    /// Pause, Resume, NetworkChanged from the application, not yet applied.
    signals: VecDeque<Event>,
    shutdown: bool,
    finished: bool,
    /// `Client` handles alive, and whether the `Events` stream is.
    clients: usize,
    listening: bool,
    task: Option<Waker>,
    /// The `Events` stream's consumer.
    reader: Option<Waker>,
    /// Handles waiting: for room to send, an outcome, or the connection.
    waiters: Vec<Waker>,
}

impl<M> Inner<M> {
    fn new(capacity: usize) -> Inner<M> {
        Inner {
            events: VecDeque::new(),
            messages: 0,
            capacity: capacity.max(1),
            dropped: 0,
            stats: Stats::default(),
            memory: PathMemory::new(),
            sends: VecDeque::new(),
            next_ticket: 0,
            settled: Vec::new(),
            open: false,
            signals: VecDeque::new(),
            shutdown: false,
            finished: false,
            clients: 1,
            listening: true,
            task: None,
            reader: None,
            waiters: Vec::new(),
        }
    }

    /// Queues `event` for the application. A message always fits: the task reads one
    /// only while [`behind`](Self::behind) is false. The heartbeat's news never waits:
    /// a ping sent or a pong is dropped (and counted) once the buffer holds `capacity`
    /// events; a connection's news (connected, closed, reconnecting, gave up) is kept,
    /// and past twice `capacity` the oldest news makes room for it, a ping or a pong
    /// first. So the newest ending is always there, and the buffer stays bounded.
    fn push(&mut self, event: SessionEvent<M>) {
        if !self.listening {
            return;
        }
        let chatter = |e: &SessionEvent<M>| {
            matches!(e, SessionEvent::PingSent(_) | SessionEvent::Pong { .. })
        };
        match &event {
            SessionEvent::Message(_) => self.messages += 1,
            e if chatter(e) && self.events.len() >= self.capacity => {
                self.dropped += 1;
                return;
            }
            // News past twice the capacity (messages, which are never dropped, aside).
            _ if self.events.len().saturating_sub(self.messages) >= 2 * self.capacity => {
                let oldest = self.events.iter().position(chatter).or_else(|| {
                    self.events
                        .iter()
                        .position(|e| !matches!(e, SessionEvent::Message(_)))
                });
                if let Some(i) = oldest {
                    self.events.remove(i);
                    self.dropped += 1;
                }
            }
            _ => {}
        }
        self.events.push_back(event);
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// The application is behind on messages: the task reads nothing more, and the
    /// heartbeat holds its judgement of the peer, until it catches up.
    fn behind(&self) -> bool {
        self.listening && self.messages >= self.capacity
    }

    /// The next event for the application.
    fn pop(&mut self) -> Option<SessionEvent<M>> {
        let event = self.events.pop_front()?;
        if let SessionEvent::Message(_) = event {
            self.messages -= 1;
        }
        Some(event)
    }

    fn settle(&mut self, ticket: u64, outcome: Result<(), SendError<M>>) {
        self.settled.push((ticket, outcome));
        self.wake_handles();
    }

    /// Fails every message still waiting for the task: none was sent.
    fn refuse_all(&mut self, stopped: bool) {
        while let Some((ticket, m)) = self.sends.pop_front() {
            let e = if stopped {
                SendError::Stopped(m)
            } else {
                SendError::NotConnected(m)
            };
            self.settle(ticket, Err(e));
        }
    }

    /// Forgets a send whose caller went away: taken back if the task has not taken it.
    fn withdraw(&mut self, ticket: u64) {
        self.sends.retain(|(t, _)| *t != ticket);
        self.settled.retain(|(t, _)| *t != ticket);
    }

    fn set_open(&mut self, open: bool) {
        self.open = open;
        self.wake_handles();
    }

    fn wake_handles(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    fn wake_task(&mut self) {
        if let Some(w) = self.task.take() {
            w.wake();
        }
    }

    /// Shuts down when nobody can send or listen any more.
    fn abandoned(&mut self) {
        if self.clients == 0 && !self.listening {
            self.shutdown = true;
            self.wake_task();
        }
    }
}
