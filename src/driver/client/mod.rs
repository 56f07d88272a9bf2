//! [`Client`]: a connection that comes back. Connects with a timeout, keeps the heartbeat
//! from its own task, reconnects when the machine says, and reports each step as a
//! [`SessionEvent`] on its one [`Events`] stream; any number of [`Client`] handles send.

mod handle;
mod inbox;
mod ledger;
mod relay;
mod task;

pub use handle::{Client, ClientBuilder, Events};

use super::error::{Error, SendError};
use super::lock;
use crate::driver::meter::Meter;
use crate::{CloseReason, Event, PathMemory, PingId, Stats};
use core::task::Waker;
use core::time::Duration;
use inbox::Inbox;
use ledger::{Ledger, Ticket};
use relay::Relay;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
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

/// A handle's way to the open connection, past the task.
trait Direct<M>: Send + Sync {
    /// Sends `m` on the connection, now, if nothing stands in the way: waits for the
    /// task to finish its pass (it holds the connection only while polling it), then,
    /// under `shared`'s lock and only if no send is queued or in flight (so sends keep
    /// their order), hands `m` to the transport and flushes it with a waker that wakes
    /// nobody. A flush that cannot complete at once the sender retries once after a
    /// yield ([`flush`](Self::flush)); whatever else cannot complete is the task's to
    /// finish (it is woken), so the transport only ever waits for the task.
    fn send(&self, m: M, shared: &Mutex<Inner<M>>) -> Result<Begun, SendError<M>>;

    /// Takes the connection's step, now, as the task would, in its stead: reads what the
    /// connection has into the inbox (a few batches at most; the rest is the task's, which
    /// is woken), or, while the application is behind, the held step; polled with `relay` (the relay's waker), so the
    /// connection's readiness and timer wake whoever they should next, and without
    /// charging the caller's runtime budget ([`Runtime::unbudgeted`]: the task's work,
    /// bounded). Not once the connection is closing (`false`): that stays the task's.
    /// An end found here waits in [`Inner::end`] for the task, which is woken.
    ///
    /// [`Runtime::unbudgeted`]: crate::driver::Runtime::unbudgeted
    fn read(&self, shared: &Mutex<Inner<M>>, relay: &Waker) -> bool;

    /// Finishes the flush a direct send left pending ([`Begun::Flushing`]), now, if it
    /// can: under both locks, with a waker that wakes nobody. Still pending, or failed, it
    /// is the task's to finish (it is woken, and polls with its own waker).
    fn flush(&self, shared: &Mutex<Inner<M>>);
}

/// How a handle's direct send went.
enum Tried<M> {
    /// Flushed: the kernel has it. `wake`: the task has news to report (a ping of ours
    /// left with it).
    Sent { wake: bool },
    /// Handed to the transport, flush pending: the copy, for the task to settle.
    Handed(M),
    /// The connection has no room now: not taken; queue it.
    Busy(M),
    /// Failed; the connection is ending.
    Failed(SendError<M>),
}

/// What the application's handles and the task share: plain bookkeeping
/// ([`Inbox`], [`Ledger`]) and the wakers. Locked for moments; a handle's direct send
/// holds it across one non-blocking write (see [`Direct::send`]), the task never
/// holds it across the transport's I/O.
struct Inner<M> {
    /// Events for the application.
    inbox: Inbox<M>,
    /// Sends, from the handles' calls to their outcomes.
    ledger: Ledger<M>,
    /// The machine's statistics and path memory as of the task's last pass.
    stats: Stats,
    memory: PathMemory,
    /// The open connection, for sends that need not wait for the task.
    direct: Option<Arc<dyn Direct<M>>>,
    /// A connection is open.
    open: bool,
    /// Pause, Resume, a network change from the application, not yet applied.
    signals: VecDeque<Signal>,
    shutdown: bool,
    finished: bool,
    /// `Client` handles alive.
    clients: usize,
    /// Where the connection's wake-ups go, and its waker: every read of the connection
    /// polls with it (the task's, and a handle's [`Direct::read`]). It keeps the task's
    /// waker ([`wake_task`](Self::wake_task)).
    relay: Arc<Relay>,
    relay_waker: Waker,
    /// The end of the connection a handle's read found, for the task to carry out.
    end: Option<Option<Error>>,
    /// The `Events` stream's consumer.
    reader: Option<Waker>,
    /// Handles waiting: for room to send, an outcome, or the connection.
    waiters: Vec<Waker>,
}

/// Begins sending `m` from a handle: fails at once when no connection is open; goes
/// straight to the transport when nothing is queued or in flight before it; otherwise
/// queues it for the task.
fn begin<M>(shared: &Mutex<Inner<M>>, m: M) -> Result<Begun, SendError<M>> {
    let direct = {
        let mut s = lock(shared);
        let m = s.may_send(m)?;
        match s.direct.clone().filter(|_| s.ledger.idle()) {
            Some(direct) => (direct, m),
            None => return Ok(s.queue(m)),
        }
    };
    direct.0.send(direct.1, shared)
}

/// What the application tells a running client.
#[derive(Clone, Copy, Debug)]
enum Signal {
    /// Pause, Resume or NetworkChanged.
    Event(Event),
    /// Moved to a network, with what was learned there.
    MovedTo(Option<PathMemory>),
}

/// How a send began.
enum Begun {
    /// It went straight to the transport and was flushed.
    Sent,
    /// Its outcome comes with this ticket.
    Waiting(Ticket),
    /// Handed to the transport, the flush pending and nobody told: the sender yields once
    /// and finishes it ([`Direct::flush`]). Most such flushes are not a full socket: the
    /// runtime's budget for the caller's turn ran out (tokio's cooperative scheduling
    /// answers every resource with `Pending`, with no system call, after 128 in one
    /// turn), and a turn later the flush goes through. Handing each to the task cost a
    /// round trip to another worker per 128 sends on a multi-thread runtime.
    Flushing(Ticket),
}

impl<M> Inner<M> {
    fn new(capacity: usize) -> Inner<M> {
        let (relay, relay_waker) = Relay::new();
        Inner {
            relay,
            relay_waker,
            inbox: Inbox::new(capacity),
            ledger: Ledger::new(capacity),
            stats: Stats::default(),
            memory: PathMemory::new(),
            direct: None,
            open: false,
            signals: VecDeque::new(),
            shutdown: false,
            finished: false,
            clients: 1,
            end: None,
            reader: None,
            waiters: Vec::new(),
        }
    }

    /// Queues `event` for the application (see [`Inbox`]).
    fn push(&mut self, event: SessionEvent<M>) {
        let dropped = self.inbox.dropped();
        let kept = self.inbox.push(event);
        super::metrics::dropped(self.inbox.dropped() - dropped);
        if kept {
            if let Some(w) = self.reader.take() {
                w.wake();
            }
        }
    }

    /// Whether a send may begin: fails it at once (with its message) when the client
    /// stopped or no connection is open.
    fn may_send(&self, m: M) -> Result<M, SendError<M>> {
        if self.finished || self.shutdown {
            return Err(SendError::Stopped(m));
        }
        if !self.open {
            return Err(SendError::NotConnected(m));
        }
        Ok(m)
    }

    /// Queues `m` for the task.
    fn queue(&mut self, m: M) -> Begun {
        let ticket = self.ledger.queue(m);
        self.wake_task();
        Begun::Waiting(ticket)
    }

    /// A send the task must finish: wakes it if anything it took is still in flight
    /// (a flush the sender left, or gave up on).
    fn owe_flush(&mut self) {
        if self.ledger.in_flight() > 0 {
            self.wake_task();
        }
    }

    /// What a direct send's outcome means for the handle.
    fn tried(&mut self, tried: Tried<M>) -> Result<Begun, SendError<M>> {
        match tried {
            Tried::Sent { wake } => {
                if wake {
                    self.wake_task();
                }
                Ok(Begun::Sent)
            }
            Tried::Busy(m) => Ok(self.queue(m)),
            Tried::Handed(copy) => {
                let ticket = self.ledger.ticket();
                self.ledger.handed(ticket, copy);
                Ok(Begun::Flushing(ticket)) // the sender finishes it, or tells the task
            }
            Tried::Failed(e) => {
                self.wake_task(); // the connection is ending
                Err(e)
            }
        }
    }

    /// Room for a send: there is, or there is no connection to wait for (the send then
    /// fails at once).
    fn has_room(&self) -> bool {
        !self.open || !self.ledger.full() || self.shutdown || self.finished
    }

    fn set_open(&mut self, open: bool) {
        self.open = open;
        if !open {
            self.direct = None;
        }
        self.wake_handles();
    }

    /// A flush of what was in flight completed: sent, or (the connection ends) handed
    /// back as unconfirmed; the handles waiting on it are woken.
    fn flushed(&mut self, result: &Result<(), Error>) {
        match result {
            Ok(()) => self.ledger.flushed(),
            Err(e) => self.ledger.unconfirmed(e.reason()),
        }
        self.wake_handles();
    }

    fn wake_handles(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    /// Carries out a wake-up owed to a send (see [`Relay`]), or the reads the
    /// application's catching up resumes: the connection's step as the task would take
    /// it (reads, or the held step while the application is behind); what is not a
    /// handle's to do (the connection closing or gone, sends queued, or in flight,
    /// unless the caller `flushes` its own send next, which settles it) goes to the task.
    fn read_owed(shared: &Mutex<Inner<M>>, flushes: bool) {
        let (direct, relay) = {
            let s = lock(shared);
            (s.direct.clone(), s.relay_waker.clone())
        };
        let read = direct.is_some_and(|direct| direct.read(shared, &relay));
        let s = lock(shared);
        if !read || s.ledger.queued() > 0 || (s.ledger.in_flight() > 0 && !flushes) {
            s.wake_task();
        }
    }

    fn wake_task(&self) {
        self.relay.wake_task();
    }

    /// Shuts down when nobody can send or listen any more.
    fn abandoned(&mut self) {
        if self.clients == 0 && !self.inbox.is_listening() {
            self.shutdown = true;
            self.wake_task();
        }
    }
}
