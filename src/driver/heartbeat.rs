//! [`Heartbeat`]: drives one connection's heartbeat over any [`Transport`].

use super::alarm::Alarm;
use super::error::Error;
use super::meter::Meter;
use super::metrics;
use super::outbox::Outbox;
use super::trace::{event, Span};
use super::{Runtime, Transport};
use crate::codec::{HeartbeatCodec, Inbound};
use crate::link::{self, Before, Counts, Driven, Kernel, Link};
use crate::{
    Action, Actions, Clock, CloseReason, Config, Event, HeartbeatMachine, Instant, PathMemory,
    PingId, Stats,
};
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use futures_core::Stream;
use futures_sink::Sink;
use std::collections::VecDeque;

/// Inbound messages handled in one poll before yielding to the runtime, so a peer that
/// floods cannot starve the other tasks of a thread.
const BUDGET: u32 = 64;

/// After our close, what the peer may still send before the transport is dropped
/// anyway: messages, and (with a meter) bytes. A live peer's close answer comes well
/// within it; a peer that keeps writing cannot hold the connection open.
const DRAIN_MESSAGES: u32 = 4096;

/// At the end of a connection, at most this many messages the transport had already
/// read are still handed to the application (see [`Heartbeat::end_with`]).
const LEFTOVERS: usize = 4096;
const DRAIN_BYTES: u64 = 1 << 20;

/// What [`Heartbeat::poll_update`] reports: the application's messages, and the
/// heartbeat's own traffic (the client shows it as session events).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Update<M> {
    /// A message for the application.
    Message(M),
    /// A ping with this id has left (it was flushed past anything of ours ahead of it).
    PingSent(PingId),
    /// A pong acknowledged the ping in flight, `rtt` after the ping left.
    Pong(Duration),
}

/// How far the driver has carried out the end of the connection (open: not begun).
#[derive(Clone, PartialEq, Eq, Debug)]
enum Ending {
    Open,
    /// Our close (or the peer's) is under way. `linger`: read and discard what the peer
    /// still sends until its close (or `close_timeout`, or the drain's budget), so that
    /// our close frame is read before the transport goes (dropping it with unread bytes
    /// makes the kernel answer with a reset, which can destroy our close on its way);
    /// otherwise (a timeout: the peer is gone) drop once ours is handed over.
    /// `drained`: messages discarded so far, and the meter's count of received bytes
    /// when the close began.
    Closing {
        reason: CloseReason,
        linger: bool,
        drained: u32,
        bytes_at_close: u64,
    },
    /// Over; `reported`: the stream has yielded it.
    Ended {
        end: Error,
        reported: bool,
    },
}

type Step<M> = Poll<Option<Result<Update<M>, Error>>>;

/// One connection with its heartbeat: a `Stream` of the application's messages and a
/// `Sink` for them, over any [`Transport`] (tokio-tungstenite's and async-tungstenite's
/// `WebSocketStream`, axum's `WebSocket`, tokio-websockets' `WebSocketStream`, or your
/// own), on any [`Runtime`].
///
/// It reports every message to its [`HeartbeatMachine`], sends the pings and pongs the
/// machine asks for, keeps one timer at the machine's deadline, and closes the connection
/// when the machine says so. The stream's last item is an [`Error`] saying why the
/// connection ended.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use keepalive::codec::WsCodec;
/// use keepalive::driver::Heartbeat;
/// use keepalive::meter::Meter;
/// use keepalive::tokio::Tokio;
/// use keepalive::Config;
///
/// async fn serve(tcp: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
///     let meter = Meter::new();
///     let ws = tokio_tungstenite::accept_async(meter.tcp(tcp)).await?; // bytes count as life
///     let mut conn = Heartbeat::new(Tokio, ws, WsCodec, Config::server().build()?).with_meter(meter);
///     while let Some(message) = conn.next().await {
///         match message {
///             Ok(m) => conn.send(m).await?, // echo
///             Err(end) => println!("{end}"), // pong timeout (sent 1011), peer closed, ...
///         }
///     }
///     Ok(())
/// }
/// ```
///
/// # Bytes, not only messages
///
/// Give it the [`Meter`] of the byte stream under the WebSocket
/// ([`with_meter`](Self::with_meter)) and bytes count as life: a large message that takes
/// minutes to arrive over a slow link keeps the peer alive while its bytes arrive; the
/// pong timeout runs from when the ping has actually left, and while an upload holds it
/// back behind our own data (the path taking our bytes proves only that the path moves,
/// never that the peer lives: a hung peer's kernel takes them too); (Linux) the kernel's
/// round-trip estimate sets the floor under it. Without a meter the heartbeat sees
/// complete messages only.
///
/// # What you must keep doing
///
/// The heartbeat runs while the stream is polled (`next()`, or a pending
/// `send`/`flush`/`close`): that is when pings go out, pongs are answered and silence is
/// measured. A `Heartbeat` left unpolled answers no pings, so the *peer* may time it out
/// after its own bound; it never makes *this* side call a live peer dead, because every
/// message waiting in the transport is read (and proves the peer alive) before any
/// deadline is checked. A `send` keeps our pings and pongs going out and tells the
/// machine of deliveries; with a [meter](Self::with_meter), while it waits for the
/// transport, the deadlines run too (on the kernel's record of what arrived, as it reads
/// nothing), so a send to a dead or hung peer fails within the bound instead of
/// hanging. Poll the stream in a loop (for example in
/// `select!` with your other work), split it (`StreamExt::split`), or use
/// [`Client`](super::Client), which drives the connection from its own task.
///
/// While a pong it owes cannot be flushed (the peer does not read), it reads nothing
/// more: a ping flood cannot grow the transport's write buffer.
///
/// A message is sent only when a `send` (or `flush`) completes; a send on a connection
/// that ended fails with the reason. When the connection ends, the messages the
/// transport had already read (and those the kernel hands over at once) come before the
/// final error, at most 4,096; messages that arrive after you called `close`, or after
/// we closed a peer for pinging too often, are discarded.
pub struct Heartbeat<S, C, R>
where
    S: Transport,
    R: Runtime,
{
    transport: Option<S>,
    codec: C,
    machine: HeartbeatMachine,
    clock: Clock,
    /// One timer, at the machine's deadline.
    alarm: Alarm<R>,
    outbox: Outbox<S::Message>,
    /// The evidence and the judgement beside the machine (the meter's and the kernel's
    /// records, reads held for the application, reads before judging).
    link: Link,
    meter: Option<Meter>,
    ending: Ending,
    /// A ping that left, not yet reported as an update.
    ping_sent: Option<PingId>,
    /// The task reading the stream, and the one whose send waits: split halves run in
    /// two tasks, and the timer wakes one. The end wakes both; a send that completes
    /// gives the timer back to the reader.
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// A waiting send holds the timer.
    timer_lent: bool,
    /// The peer's "too many pings" slowed our pings down (the machine said so).
    slowed_down: bool,
    /// Messages the transport had read when the connection ended, still the
    /// application's: yielded before the end.
    leftovers: VecDeque<S::Message>,
    follow_up: Option<Action>,
    /// This connection's span (feature `tracing`; nothing otherwise).
    span: Span,
    /// Counted among the open connections (feature `metrics`; nothing otherwise).
    open: metrics::Open,
}

// Nothing is ever pinned through a `Heartbeat`: the transport is polled as `Pin<&mut S>`
// with `S: Unpin`, the rest is plain data.
impl<S: Transport, C, R: Runtime> Unpin for Heartbeat<S, C, R> {}

impl<S: Transport, C, R: Runtime> fmt::Debug for Heartbeat<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("ending", &self.ending)
            .field("machine", &self.machine)
            .field("meter", &self.meter)
            .field("wake", &self.alarm.at())
            .finish_non_exhaustive()
    }
}

impl<S, C, R> Heartbeat<S, C, R>
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    /// Drives `transport`, which is open now, on `runtime`, with a new machine for
    /// `config` (`Config::server()` on the accepting side; a client's config makes a
    /// connection that ends where a reconnect would begin: see
    /// [`Client`](super::Client) for one that comes back).
    pub fn new(runtime: R, transport: S, codec: C, config: Config) -> Self {
        let clock = Clock::with_epoch(runtime.now());
        let machine = HeartbeatMachine::new(config, clock.from_std(runtime.now()));
        Heartbeat::with_machine(runtime, transport, codec, machine, clock)
    }

    /// Drives `transport`, which is open now, with an existing `machine` (reported
    /// [`Event::Connected`] here) whose times come from `clock`: a reconnecting client
    /// passes the same machine from connection to connection, so the backoff carries on.
    pub(crate) fn with_machine(
        runtime: R,
        transport: S,
        codec: C,
        mut machine: HeartbeatMachine,
        clock: Clock,
    ) -> Self {
        let alarm = Alarm::new(runtime);
        let actions = machine.handle(alarm.now(&clock), Event::Connected);
        let role = machine.config().role();
        let span = Span::connection(role);
        let mut hb = Heartbeat {
            transport: Some(transport),
            codec,
            alarm,
            machine,
            clock,
            outbox: Outbox::default(),
            link: Link::default(),
            meter: None,
            ending: Ending::Open,
            ping_sent: None,
            reader: None,
            writer: None,
            timer_lent: false,
            slowed_down: false,
            leftovers: VecDeque::new(),
            follow_up: None,
            span,
            open: metrics::Open::new(role),
        };
        hb.apply(actions, None);
        hb
    }

    /// Names the peer (an address, a URL) in this connection's `tracing` span
    /// (feature `tracing`; without it, nothing).
    pub fn with_peer(self, peer: impl fmt::Display) -> Self {
        self.span.record_peer(&peer);
        self
    }

    /// Counts the bytes `meter` sees as signs of the peer (see [Bytes, not only
    /// messages](Self#bytes-not-only-messages)). The meter is the one of the byte stream
    /// under this transport: [`Meter::tcp`] at connect or accept time.
    ///
    /// A meter that wraps no stream (its [`Meter::tcp`] or [`Meter::wrap`] was never
    /// called) counts nothing, and is ignored: the heartbeat then sees messages only.
    pub fn with_meter(mut self, meter: Meter) -> Self {
        if meter.is_attached() {
            self.link.start(meter.counts(), meter.kernel());
            self.meter = Some(meter);
        }
        self
    }

    /// The machine: its state, the last round trip, the values in force.
    pub fn machine(&self) -> &HeartbeatMachine {
        &self.machine
    }

    /// The runtime the driver's timer runs on.
    pub(crate) fn runtime(&self) -> &R {
        self.alarm.runtime()
    }

    /// Counters, round trips and the timeouts in force (pings, pongs, timeouts, the
    /// smoothed RTT, the dead-peer bound), while the connection runs: for a service's
    /// metrics.
    pub fn stats(&self) -> Stats {
        self.machine.stats()
    }

    /// The transport, until the connection ends.
    pub fn get_ref(&self) -> Option<&S> {
        self.transport.as_ref()
    }

    /// Whether the connection has ended (the stream has yielded, or is about to yield,
    /// its final error).
    pub fn is_ended(&self) -> bool {
        matches!(self.ending, Ending::Ended { .. })
    }

    /// What the machine asked for when the connection ended: `Reconnect { after }` or
    /// `GiveUp` for a client, `None` for a server or after a shutdown.
    pub(crate) fn follow_up(&self) -> Option<Action> {
        self.follow_up
    }

    /// Whether the peer's "too many pings" slowed our pings down for the next connection.
    pub(crate) fn slowed_down(&self) -> bool {
        self.slowed_down
    }

    /// Whether the connection is open: messages read now are the application's. (While
    /// closing, what arrives is discarded.)
    pub(crate) fn is_open(&self) -> bool {
        self.ending == Ending::Open
    }

    /// A ping left and the application has not been told yet (`poll_update` says so).
    pub(crate) fn has_update(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// The application is behind (`true`): the owner reads nothing meanwhile, and the
    /// judgement of the peer waits with the reads, unless the kernel can vouch for it:
    /// with a metered TCP stream (Linux), while our receive window is open, the peer's
    /// bytes (a pong included) show in the kernel's view even unread, so pings and
    /// deadlines go on ([`poll_held`](Self::poll_held)) and a dead peer is still found
    /// within the bound. Otherwise nothing is pinged or timed out until the owner reads
    /// again; then what waited is read before any deadline is looked at, and a deadline
    /// long past probes the peer (one ping, a fresh pong timeout) instead of closing.
    pub(crate) fn hold(&mut self, held: bool) {
        self.link.hold(held);
        link::reads(self);
    }

    /// Whether the owner holds the reads ([`hold`](Self::hold)).
    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        self.link.is_held()
    }

    /// While held: our pings and pongs go out, and the deadlines run where the kernel
    /// can vouch for the peer (see [`hold`](Self::hold)); the timer wakes the task.
    pub(crate) fn poll_held(&mut self, cx: &mut Context<'_>) {
        remember(&mut self.reader, cx);
        self.transmit(cx);
        while self.deadline(cx) {
            self.transmit(cx);
        }
    }

    /// What the meter counted so far (nothing without one).
    fn counts(&self) -> Counts {
        self.meter
            .as_ref()
            .map_or_else(Counts::default, Meter::counts)
    }

    /// Takes the machine back (for the next connection of a reconnecting client).
    pub(crate) fn into_machine(self) -> HeartbeatMachine {
        self.machine
    }

    /// Drives the connection and returns its next update: a message, or the heartbeat's
    /// own traffic. The last item is the [`Error`] that ended the connection.
    ///
    /// Each pass: **transmit** our pings, pongs and close; the **timer**, if it fired
    /// while the peer keeps talking; **receive** everything the peer sent (unless a pong
    /// we owe cannot be flushed); and only when nothing more is there, the **deadline**,
    /// by the clock.
    pub(crate) fn poll_update(&mut self, cx: &mut Context<'_>) -> Step<S::Message> {
        let span = self.span.clone();
        let _entered = span.enter();
        link::begin(self, self.now());
        if self.span.first() {
            event!(info, "connected");
        }
        remember(&mut self.reader, cx);
        let mut budget = BUDGET;
        loop {
            if let Some(id) = self.ping_sent.take() {
                return Poll::Ready(Some(Ok(Update::PingSent(id))));
            }
            if let Some(m) = self.leftovers.pop_front() {
                return Poll::Ready(Some(Ok(Update::Message(m))));
            }
            if let Ending::Ended { end, reported } = &mut self.ending {
                return Poll::Ready(
                    (!core::mem::replace(reported, true)).then(|| Err(end.clone())),
                );
            }
            self.transmit(cx);
            if self.ping_sent.is_some() {
                continue; // a ping left: say so first
            }
            if self.timer(cx) {
                continue;
            }
            // Backpressure: while a pong we owe cannot be flushed, read nothing more; the
            // peer's bytes the kernel records meanwhile (a pong among them) answer our
            // ping, as while the application is behind.
            let blocked = self.outbox.owes_pong();
            self.link.owe_pong(blocked);
            link::reads(self);
            if !blocked {
                match self.receive(cx) {
                    Poll::Ready(Some(update)) => return Poll::Ready(Some(Ok(update))),
                    Poll::Ready(None) => {
                        budget -= 1;
                        if budget == 0 {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if self.deadline(cx) {
                continue;
            }
            return Poll::Pending;
        }
    }

    // ----- the four steps -----

    /// 1. Our control messages go first: a pong must not wait behind anything. A ping
    ///    whose flush completes has left: the machine hears `PingWritten`.
    fn transmit(&mut self, cx: &mut Context<'_>) {
        let Some(transport) = self.transport.as_mut() else {
            return;
        };
        match self.outbox.poll_send(transport, cx) {
            Ok(Some(id)) => self.ping_left(id),
            Ok(None) => {}
            Err(e) => return self.failed(e),
        }
        // A close of ours that is not a clean shutdown: the close frame goes out if the
        // transport takes it now (it usually does); nobody waits for a peer that is gone
        // or misbehaves, so the transport is dropped at once either way.
        if let Ending::Closing { linger: false, .. } = self.ending {
            self.finish(true);
        }
    }

    /// 2. The timer, polled on every pass without reading the clock: a peer that floods
    ///    us (the transport never runs dry) must not hold back our keepalive pings. When
    ///    it fired and the peer has sent something since the machine last heard, that
    ///    goes first, and the deadline is looked at: no pong deadline can pass then, so
    ///    this never closes; it only lets pings out. Returns whether it ticked.
    fn timer(&mut self, cx: &mut Context<'_>) -> bool {
        if self.link.is_held() {
            return false; // the owner reads nothing: poll_held judges
        }
        let wake = self.link.wake(self.machine.next_deadline());
        self.alarm.aim(&self.clock, wake); // a compare unless it moved
        if !self.alarm.poll_fired(cx) || !self.link.peer_spoke(self.counts()) {
            return false;
        }
        self.alarm.looked();
        link::tick(self, self.now());
        true
    }

    /// 3. The next message from the peer: `Ready(Some)` for the application, `Ready(None)`
    ///    when it was the heartbeat's own (or the end), `Pending` when nothing is there.
    fn receive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Update<S::Message>>> {
        let Some(transport) = self.transport.as_mut() else {
            self.finish(true);
            return Poll::Ready(None);
        };
        match Pin::new(transport).poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => Poll::Ready(self.inbound(message, cx)),
            Poll::Ready(Some(Err(e))) => {
                self.failed(e);
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// 4. Nothing more to read: tell the machine what it has not heard, then, if its
    ///    deadline has passed by the clock, the kernel's record, and a tick, unless
    ///    reads get a while first (a late wake of ours, or bytes the kernel holds
    ///    unread: see [`link::at_deadline`]); otherwise the timer waits for it. Returns
    ///    whether it did anything.
    fn deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.now();
        match link::before_deadline(self, now) {
            Before::Wait => return false,
            Before::Acted => return true,
            Before::Timer => {}
        }
        let wake = self.link.wake(self.machine.next_deadline());
        if !self.alarm.due(&self.clock, wake, now, cx) {
            return false;
        }
        link::at_deadline(self, now);
        true
    }

    // ----- telling the machine, carrying out what it says -----

    fn now(&self) -> Instant {
        self.alarm.now(&self.clock)
    }

    /// Tells the machine `event` at `now`, carries out what it says, and returns whether
    /// a pong counted.
    fn tell_pong(&mut self, now: Instant, event: Event) -> bool {
        let actions = self.machine.handle(now, event);
        let counted = actions.pong_counted();
        self.apply(actions, None);
        counted
    }

    /// Tells the machine `event` at `now`, after the traffic it has not heard of, and
    /// carries out what it says.
    fn feed(&mut self, now: Instant, event: Event) {
        link::report(self, now, false);
        link::tell(self, now, [event].into_iter());
    }

    /// A ping has left.
    fn ping_left(&mut self, id: PingId) {
        event!(debug, id = id.get(), "ping sent");
        let role = self.machine.config().role();
        metrics::ping_sent(role, self.machine.ping_interval());
        let now = self.now();
        link::ping_left(self, now, id);
        if self.ending == Ending::Open {
            self.ping_sent = Some(id);
        }
    }

    fn inbound(&mut self, message: S::Message, cx: &mut Context<'_>) -> Option<Update<S::Message>> {
        let kind = self.codec.classify(&message);
        if let Ending::Closing {
            linger: true,
            drained,
            bytes_at_close,
            ..
        } = &mut self.ending
        {
            // Draining after our close: discarded, within the budget; the peer's close
            // (below) ends it.
            *drained += 1;
            let bytes = self.meter.as_ref().map_or(0, Meter::bytes_read);
            if *drained > DRAIN_MESSAGES || bytes.saturating_sub(*bytes_at_close) > DRAIN_BYTES {
                self.finish(true);
                return None;
            }
        }
        if kind == Inbound::Data {
            self.link.data_in();
            return match self.ending {
                Ending::Open => Some(Update::Message(message)),
                _ => None,
            };
        }
        let now = self.now();
        link::report(self, now, kind != Inbound::Data);
        match kind {
            Inbound::Ping => {
                let role = self.machine.config().role();
                metrics::peer_ping(role);
                let actions = self.machine.handle(now, Event::PingReceived);
                if actions.struck() {
                    metrics::strike(role);
                }
                self.apply(actions, Some(&message));
                None
            }
            Inbound::Pong(id) => {
                if !self.tell_pong(now, Event::PongReceived(id)) {
                    return None;
                }
                let rtt = self.machine.rtt().unwrap_or_default();
                event!(debug, rtt_us = rtt.as_micros() as u64, "pong");
                metrics::pong(self.machine.config().role(), self.machine.rtt());
                Some(Update::Pong(rtt))
            }
            Inbound::Close(code) => {
                // Let the transport send its answer if it queued one, then we are done.
                if let Some(t) = self.transport.as_mut() {
                    let _ = Pin::new(t).poll_flush(cx);
                }
                let text = self.codec.close_text(&message).unwrap_or("");
                self.peer_closed(CloseReason::from_peer(code, text), text);
                None
            }
            Inbound::Data => None, // handled above
        }
    }

    /// Carries out what the machine said. `ping` is the message being answered.
    fn apply(&mut self, actions: Actions, ping: Option<&S::Message>) {
        self.slowed_down |= actions.slowed_down();
        for action in actions {
            match action {
                Action::SendPing(id) if self.ending == Ending::Open => {
                    let message = self.codec.ping(id);
                    self.outbox.ping(id, message);
                }
                Action::SendPong if self.ending == Ending::Open => {
                    if let Some(ping) = ping {
                        // Ours to send, or queued by the transport itself: owed either way.
                        let pong = self.codec.pong(ping);
                        self.outbox.owe_pong(pong);
                    }
                }
                Action::Close(reason) => self.begin_close(reason),
                Action::ForceClose => self.finish(false),
                Action::Reconnect { .. } | Action::GiveUp { .. } => self.follow_up = Some(action),
                _ => {}
            }
        }
    }

    fn begin_close(&mut self, reason: CloseReason) {
        if self.ending != Ending::Open {
            return;
        }
        // Counted when decided: the close is ours whatever its handshake does next, and
        // an application that drops the connection while it closes still sees it.
        self.count_close(reason);
        match reason {
            CloseReason::Shutdown => {
                event!(info, "closing (shutdown)");
            }
            CloseReason::TooManyPings => {
                event!(
                    warn,
                    strikes = self.machine.config().max_ping_strikes() + 1,
                    "the peer pings too often: closing"
                );
            }
            #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
            _ => {
                // The bound is the machine's; the close comes when the timer fired, a
                // little after it (the runtime's lateness), and the log says how much.
                let silence = self.now() - self.machine.last_heard();
                let bound = self.machine.stats().dead_peer_bound;
                event!(
                    warn,
                    reason = reason.as_str(),
                    silence_ms = silence.as_millis() as u64,
                    bound_ms = bound.as_millis() as u64,
                    late_ms = silence.saturating_sub(bound).as_millis() as u64,
                    "the peer is silent: closing"
                );
            }
        }
        // Nothing more goes out on this connection but the close.
        let close = self.codec.close(reason);
        let has_close = close.is_some();
        self.outbox.close(close);
        self.ending = Ending::Closing {
            reason,
            // A peer that is alive (a shutdown, its pings policed) may still be writing:
            // drain until its close (bounded by close_timeout and the drain's budget), so
            // our close is not lost to a reset. A peer found silent is not waited for.
            linger: !reason.is_timeout() && has_close,
            drained: 0,
            bytes_at_close: self.meter.as_ref().map_or(0, Meter::bytes_read),
        };
    }

    /// Counts a close for `reason`, with how long the peer had been silent when it is a
    /// close for silence.
    fn count_close(&self, reason: CloseReason) {
        let silence = reason
            .is_timeout()
            .then(|| self.now() - self.machine.last_heard());
        metrics::closed(self.machine.config().role(), reason, silence);
    }

    /// The connection is over. `disconnected`: tell the machine (not after a
    /// `ForceClose`, which it already counted).
    fn finish(&mut self, disconnected: bool) {
        let end = match &self.ending {
            Ending::Ended { .. } => return,
            Ending::Closing { reason, .. } => Error::new(*reason),
            // The peer vanished without a close frame.
            Ending::Open => Error::new(CloseReason::Transport),
        };
        self.end_with(disconnected.then_some(Event::Disconnected), end);
    }

    /// The peer's close frame arrived, for `reason` with its text: the end of the
    /// connection, its reason for the machine (while open), or the answer to our close.
    fn peer_closed(&mut self, reason: CloseReason, text: &str) {
        match self.ending {
            Ending::Open => {
                let end = Error::from_peer(reason, Some(text));
                self.end_with(Some(Event::Closed(reason)), end);
            }
            _ => self.finish(true),
        }
    }

    /// The transport failed.
    fn failed(&mut self, e: <S as Sink<S::Message>>::Error) {
        match self.ending {
            // An error while closing (a reset after our close) ends the close.
            Ending::Closing { .. } => self.finish(true),
            Ending::Open => self.end_with(
                Some(Event::Disconnected),
                Error::new(CloseReason::Transport).with_source(e),
            ),
            Ending::Ended { .. } => {}
        }
    }

    /// Ends the connection with `end`, telling the machine `event` (none after a
    /// `ForceClose`, which it already counted).
    fn end_with(&mut self, event: Option<Event>, end: Error) {
        event!(
            info,
            reason = end.reason().name(),
            code = end.code(),
            text = end.text(),
            "connection closed"
        );
        if let Some(event) = event {
            self.feed(self.now(), event);
        }
        // Our own close was counted when decided (`begin_close`).
        if self.ending == Ending::Open {
            self.count_close(end.reason());
        }
        self.open.end();
        // What the transport already read is the application's, unless we closed on
        // purpose (a shutdown, a peer policed): the end comes after it.
        let keep = match self.ending {
            Ending::Open => true,
            Ending::Closing { reason, .. } => reason.is_timeout(),
            Ending::Ended { .. } => false,
        };
        if let (true, Some(transport)) = (keep, self.transport.as_mut()) {
            self.leftovers = read_already(transport, &mut self.codec);
        }
        self.ending = Ending::Ended {
            end,
            reported: false,
        };
        self.transport = None;
        self.outbox.clear();
        self.alarm.aim(&self.clock, None);
        // Either may be waiting on a transport that is gone.
        for waiting in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            waiting.wake();
        }
    }

    // ----- the application's signals -----

    /// The application goes to the background (or the OS throttles it): no pings, no
    /// deadlines, until [`resume`](Self::resume). A close under way still completes.
    pub fn pause(&mut self) {
        self.notify(Event::Pause);
    }

    /// Back from a pause: the peer is probed at once (one ping, a fresh pong timeout).
    /// The ping goes out on the next poll.
    pub fn resume(&mut self) {
        self.notify(Event::Resume);
    }

    /// The network path changed (Wi-Fi to cellular, a new address): the peer is probed at
    /// once, on the next poll.
    pub fn network_changed(&mut self) {
        self.notify(Event::NetworkChanged);
    }

    /// The path moved to another network, with what was learned there (see
    /// [`HeartbeatMachine::moved_to`]): the traffic the machine has not heard of first.
    pub(crate) fn moved_to(&mut self, memory: Option<PathMemory>) {
        let now = self.now();
        if self.ending == Ending::Open {
            link::begin(self, now);
            link::report(self, now, false);
        }
        let actions = self.machine.moved_to(now, memory);
        if self.ending == Ending::Open {
            self.apply(actions, None);
        }
    }

    pub(crate) fn notify(&mut self, event: Event) {
        let span = self.span.clone();
        let _entered = span.enter();
        if self.ending == Ending::Open {
            link::begin(self, self.now());
            self.feed(self.now(), event);
        }
    }

    // ----- the application's sends -----

    /// The error for a send that cannot be made, when the connection is closing or over.
    fn refused(&self) -> Option<Error> {
        match &self.ending {
            Ending::Open => None,
            Ending::Closing { reason, .. } => Some(Error::new(*reason)),
            Ending::Ended { end, .. } => Some(end.clone()),
        }
    }

    /// A send waits for the transport. With a meter the deadlines still run meanwhile,
    /// so a dead peer fails the send within the bound instead of hanging it: nothing is
    /// read, but the meter sees what the path takes and, on Linux, the kernel's record
    /// of what arrived. Without one, a pong waiting unread could not be told
    /// from silence, so the deadlines wait for the stream to be polled.
    fn stuck(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        remember(&mut self.writer, cx);
        while self.meter.is_some() && self.deadline(cx) {
            self.transmit(cx);
        }
        self.timer_lent = true;
        match self.refused() {
            Some(end) => self.sent(Poll::Ready(Err(end))),
            None => Poll::Pending,
        }
    }

    /// A sink operation completes: the timer goes back to the reading task.
    fn sent(&mut self, outcome: Poll<Result<(), Error>>) -> Poll<Result<(), Error>> {
        if outcome.is_ready() && core::mem::take(&mut self.timer_lent) {
            if let Some(reader) = &self.reader {
                // (One task doing both has the timer already.)
                if !self.writer.as_ref().is_some_and(|w| w.will_wake(reader)) {
                    reader.wake_by_ref();
                }
            }
        }
        outcome
    }

    /// The error for a send on a connection that is closing or over.
    fn gone(&self) -> Error {
        self.refused()
            .unwrap_or_else(|| Error::new(CloseReason::Transport))
    }

    /// A sink operation's outcome: a transport error ends the connection, and the send
    /// fails with it.
    fn sink_outcome(
        &mut self,
        outcome: Poll<Result<(), <S as Sink<S::Message>>::Error>>,
    ) -> Poll<Result<(), Error>> {
        match outcome {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.failed(e);
                Poll::Ready(Err(self.gone()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S, C, R> Driven for Heartbeat<S, C, R>
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    fn parts(&mut self) -> (&mut HeartbeatMachine, &mut Link) {
        (&mut self.machine, &mut self.link)
    }
    fn counts(&self) -> Counts {
        Heartbeat::counts(self)
    }
    fn kernel(&self) -> Option<Kernel> {
        self.meter.as_ref().and_then(Meter::kernel)
    }
    fn carry_out(&mut self, actions: Actions) {
        self.apply(actions, None);
    }
}

impl<S, C, R> Stream for Heartbeat<S, C, R>
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    type Item = Result<S::Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return match this.poll_update(cx) {
                Poll::Ready(Some(Ok(Update::Message(m)))) => Poll::Ready(Some(Ok(m))),
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

impl<S, C, R> Sink<S::Message> for Heartbeat<S, C, R>
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        link::begin(this, this.now());
        // Our pings and pongs go before the application's next message.
        this.transmit(cx);
        if let Some(e) = this.refused() {
            return Poll::Ready(Err(e));
        }
        if this.outbox.has_control() {
            return this.stuck(cx); // the sink wakes us when it has room
        }
        match this.transport.as_mut() {
            Some(t) => {
                let outcome = Pin::new(t).poll_ready(cx);
                match this.sink_outcome(outcome) {
                    Poll::Pending => this.stuck(cx),
                    ready => this.sent(ready),
                }
            }
            None => Poll::Ready(Err(this.gone())),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: S::Message) -> Result<(), Error> {
        let this = self.get_mut();
        if let Some(e) = this.refused() {
            return Err(e);
        }
        let outcome = match this.transport.as_mut() {
            Some(t) => Pin::new(t).start_send(item),
            None => return Err(this.gone()),
        };
        if let Poll::Ready(Err(e)) = this.sink_outcome(Poll::Ready(outcome)) {
            return Err(e);
        }
        this.link.data_out(); // told at the next clock read (this flush at the latest)
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        link::begin(this, this.now());
        if let Ending::Ended { end, .. } = &this.ending {
            return Poll::Ready(Err(end.clone()));
        }
        // A flush runs when the socket has room again: the moment to tell the machine of
        // data handed over and bytes the path took.
        if this.link.any(this.counts()) {
            let now = this.now();
            link::report(this, now, false);
            if this.link.look_due(now) {
                link::look(this, now);
            }
        }
        this.transmit(cx);
        let outcome = match this.transport.as_mut() {
            Some(t) => Pin::new(t).poll_flush(cx),
            None => return Poll::Ready(Err(this.gone())),
        };
        if let Poll::Ready(Ok(())) = outcome {
            if let Some(id) = this.outbox.flushed() {
                this.ping_left(id);
            }
        }
        match this.sink_outcome(outcome) {
            Poll::Pending => this.stuck(cx),
            ready => this.sent(ready),
        }
    }

    /// Closes with [`CloseReason::Shutdown`] (code 1000), waits for the peer's close
    /// (at most `close_timeout`), and completes. The stream then yields the final
    /// [`Error`] (reason [`CloseReason::Shutdown`]) and ends.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.notify(Event::Shutdown);
        loop {
            match this.poll_update(cx) {
                Poll::Ready(Some(Ok(_))) => continue, // after close: discarded
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                    if let Ending::Ended { reported, .. } = &mut this.ending {
                        *reported = false; // kept for the stream
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The data messages `transport` yields without waiting (frames it already read, and
/// whatever the socket still hands over at once), at most [`LEFTOVERS`]: what a
/// connection that ends leaves to its application. Control frames are no longer anyone's.
fn read_already<S, C>(transport: &mut S, codec: &mut C) -> VecDeque<S::Message>
where
    S: Transport,
    C: HeartbeatCodec<S::Message>,
{
    let mut cx = Context::from_waker(super::nobody());
    let mut read = VecDeque::new();
    while read.len() < LEFTOVERS {
        match Pin::new(&mut *transport).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(m))) if codec.classify(&m) == Inbound::Data => read.push_back(m),
            Poll::Ready(Some(Ok(_))) => {}
            _ => break,
        }
    }
    read
}

/// Keeps the waker of the task polling now, unless it is the one kept already.
fn remember(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}
