//! [`Heartbeat`]: drives one connection's heartbeat over any [`Transport`].

use super::alarm::Alarm;
use super::error::{Cause, Error};
use super::outbox::Outbox;
use super::trace::{event, Span};
use super::unheard::Unheard;
use super::{Timer, Transport};
use crate::codec::{HeartbeatCodec, Inbound};
use crate::meter::Meter;
use crate::{
    Action, Actions, Clock, CloseReason, Config, Event, HeartbeatMachine, Instant, PingId, Stats,
};
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use futures_core::Stream;
use futures_sink::Sink;
use std::string::{String, ToString};

/// Inbound messages handled in one poll before yielding to the runtime, so a peer that
/// floods pings cannot starve the other tasks of a thread.
const BUDGET: u32 = 64;

/// What [`Heartbeat::poll_update`] reports: the application's messages, and the
/// heartbeat's own traffic for those who want to show it.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Update<M> {
    /// A message for the application.
    Message(M),
    /// A ping with this id has left (it was flushed past anything of ours ahead of it).
    PingSent(PingId),
    /// A pong acknowledged the ping in flight, `rtt` after the ping left.
    Pong {
        /// The id it echoed (`None` for application-level pongs).
        id: Option<PingId>,
        /// The measured round trip.
        rtt: Duration,
    },
}

/// How far the driver has carried out the end of the connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Stage {
    Open,
    /// Our close (or the peer's) is under way. `linger`: wait for the peer's close before
    /// dropping the transport (a clean shutdown); otherwise drop once ours is flushed.
    Closing {
        cause: Cause,
        code: Option<u16>,
        linger: bool,
    },
    Ended {
        cause: Cause,
        code: Option<u16>,
    },
}

type TransportError<S, M> = <S as Sink<M>>::Error;
type Step<S, M> = Poll<Option<Result<Update<M>, Error<TransportError<S, M>>>>>;

/// One connection with its heartbeat: a `Stream` of the application's messages and a
/// `Sink` for them, over any [`Transport`] (a `Stream + Sink` of messages, such as a
/// tokio-tungstenite or async-tungstenite `WebSocketStream`).
///
/// It reports every message to its [`HeartbeatMachine`], sends the pings and pongs the
/// machine asks for, keeps one timer at the machine's deadline, and closes the
/// connection when the machine says so. The stream's last item is an [`Error`] saying
/// why the connection ended.
///
/// # Bytes, not only messages
///
/// Give it the [`Meter`] of the byte stream under the WebSocket
/// ([`with_meter`](Self::with_meter)) and bytes count as life: a large message that takes
/// minutes to arrive over a slow link keeps the peer alive while its bytes arrive, an
/// upload keeps it alive while the peer takes its bytes, and the pong timeout runs from
/// when the ping has actually left. Without a meter the heartbeat sees complete messages
/// only: a message that takes longer than `ping_interval + pong_timeout` to cross can
/// look like silence.
///
/// # What you must keep doing
///
/// The heartbeat runs while the stream is polled (`next()`, or `poll_update` /
/// `poll_next`, or a pending `send`/`flush`/`close`): that is when pings go out, pongs are
/// answered and silence is measured. A `Heartbeat` left unpolled answers no pings, so
/// the *peer* may time it out after its own bound; it never makes *this* side call a live
/// peer dead, because every message waiting in the transport is read (and proves the
/// peer alive) before any deadline is checked. A `send` keeps our pings and pongs going
/// out and tells the machine of deliveries, but checks no deadline (it reads nothing). So:
///
/// - poll it in a loop (for example in `select!` with your other work), or split it
///   (`StreamExt::split`) and read from one task while another sends; or
/// - hand slow work to another task; or
/// - use [`Client`](super::Client), which drives the connection from its own task.
///
/// A message is sent only when a `send` (or `flush`) completes; a send on a connection
/// that ended fails with the cause. Messages that arrive after you called `close` are
/// discarded.
pub struct Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    transport: Option<S>,
    codec: C,
    machine: HeartbeatMachine,
    clock: Clock,
    /// One timer, at the machine's deadline.
    alarm: Alarm<T>,
    outbox: Outbox<C::Message>,
    unheard: Unheard,
    meter: Option<Meter>,
    stage: Stage,
    /// A ping that left, not yet reported as an update.
    ping_sent: Option<PingId>,
    end: Option<Error<S::Error>>,
    follow_up: Option<Action>,
    /// This connection's span (feature `tracing`; nothing otherwise).
    span: Span,
}

// Nothing is ever pinned through a `Heartbeat`: the transport is polled as `Pin<&mut S>`
// with `S: Unpin`, the rest is plain data.
impl<S: Sink<C::Message>, C: HeartbeatCodec, T> Unpin for Heartbeat<S, C, T> {}

impl<S, C, T> fmt::Debug for Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("stage", &self.stage)
            .field("machine", &self.machine)
            .field("meter", &self.meter)
            .field("wake", &self.alarm.at())
            .finish_non_exhaustive()
    }
}

impl<S, C, T> Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Transport<C::Message>,
    T: Timer,
{
    /// Drives `transport`, which is open now, with a new machine for `config` (use
    /// `Config::server()` on the accepting side).
    pub fn new(transport: S, codec: C, config: Config) -> Self {
        let clock = Clock::with_epoch(T::now());
        let machine = HeartbeatMachine::new(config, Alarm::<T>::now(&clock));
        Heartbeat::with_machine(transport, codec, machine, clock)
    }

    /// Drives `transport`, which is open now, with an existing `machine` (reported
    /// [`Event::Connected`] here) whose times come from `clock`. A reconnecting client
    /// passes the same machine from connection to connection, so the backoff carries on.
    pub fn with_machine(
        transport: S,
        codec: C,
        mut machine: HeartbeatMachine,
        clock: Clock,
    ) -> Self {
        let actions = machine.handle(Alarm::<T>::now(&clock), Event::Connected);
        let span = Span::connection(machine.config().role());
        let mut hb = Heartbeat {
            transport: Some(transport),
            codec,
            alarm: Alarm::default(),
            machine,
            clock,
            outbox: Outbox::default(),
            unheard: Unheard::default(),
            meter: None,
            stage: Stage::Open,
            ping_sent: None,
            end: None,
            follow_up: None,
            span,
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
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The machine, for its state, round-trip time and statistics.
    pub fn machine(&self) -> &HeartbeatMachine {
        &self.machine
    }

    /// Counters and round trips (pings, pongs, timeouts, the last and smoothed RTT),
    /// while the connection runs: for a service's metrics.
    pub fn stats(&self) -> Stats {
        self.machine.stats()
    }

    /// The clock the machine's times come from.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The byte meter, if one was given.
    pub fn meter(&self) -> Option<&Meter> {
        self.meter.as_ref()
    }

    /// The transport, until the connection ends.
    pub fn get_ref(&self) -> Option<&S> {
        self.transport.as_ref()
    }

    /// What the machine asked for when the connection ended: `Reconnect { after }` or
    /// `GiveUp` for a client, `None` for a server or after a shutdown.
    pub fn follow_up(&self) -> Option<Action> {
        self.follow_up
    }

    /// Takes the machine back (for the next connection of a reconnecting client).
    pub fn into_machine(self) -> HeartbeatMachine {
        self.machine
    }

    /// Whether the connection has ended (the stream has yielded, or is about to yield,
    /// its final error).
    pub fn is_ended(&self) -> bool {
        matches!(self.stage, Stage::Ended { .. })
    }

    /// Drives the connection and returns its next update: a message, or the heartbeat's
    /// own traffic. The last item is the [`Error`] that ended the connection.
    ///
    /// Each pass: **transmit** our pings, pongs and close; the **timer**, if it fired
    /// while the peer keeps talking; **receive** everything the peer sent; and only when
    /// nothing more is there, the **deadline**, by the clock.
    pub fn poll_update(&mut self, cx: &mut Context<'_>) -> Step<S, C::Message> {
        let span = self.span.clone();
        let _entered = span.enter();
        if self.span.first() {
            event!(info, "connected");
        }
        let mut budget = BUDGET;
        loop {
            if let Some(id) = self.ping_sent.take() {
                return Poll::Ready(Some(Ok(Update::PingSent(id))));
            }
            if let Stage::Ended { .. } = self.stage {
                return Poll::Ready(self.end.take().map(Err));
            }
            self.transmit(cx);
            if self.ping_sent.is_some() {
                continue; // a ping left: say so first
            }
            if self.timer(cx) {
                continue;
            }
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
        // A close for a timeout: the close frame goes out if the transport takes it now
        // (it usually does); nobody waits for a peer that is gone, so the transport is
        // dropped at once either way.
        if let Stage::Closing { linger: false, .. } = self.stage {
            self.finish(true);
        }
    }

    /// 2. The timer, polled on every pass without reading the clock: a peer that floods
    ///    us (the transport never runs dry) must not hold back our keepalive pings. When
    ///    it fired and the peer has sent something since the machine last heard, that
    ///    goes first, and the deadline is looked at: no pong deadline can pass then, so
    ///    this never closes; it only lets pings out. Returns whether it ticked.
    fn timer(&mut self, cx: &mut Context<'_>) -> bool {
        self.alarm.aim(&self.clock, self.machine.next_deadline()); // a compare unless it moved
        if !self.alarm.poll_fired(cx) || !self.unheard.peer_spoke(self.meter.as_ref()) {
            return false;
        }
        self.alarm.looked();
        let now = self.now();
        self.feed(now, Event::Tick);
        true
    }

    /// 3. One message from the peer: `Ready(Some)` for the application, `Ready(None)`
    ///    when it was the heartbeat's own (or the end), `Pending` when nothing is there.
    fn receive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Update<C::Message>>> {
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

    /// 4. Nothing more to read: tell the machine what it has not heard, then tick if its
    ///    deadline has passed by the clock; otherwise the timer waits for it. Returns
    ///    whether it ticked.
    fn deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.now();
        self.report(now);
        let deadline = self.machine.next_deadline();
        if !self.alarm.due(&self.clock, deadline, now, cx) {
            return false;
        }
        self.feed(now, Event::Tick);
        true
    }

    // ----- telling the machine, carrying out what it says -----

    fn now(&self) -> Instant {
        Alarm::<T>::now(&self.clock)
    }

    /// Tells the machine the traffic it has not heard of, at `now`.
    fn report(&mut self, now: Instant) {
        for event in self.unheard.take(self.meter.as_ref()) {
            let actions = self.machine.handle(now, event);
            self.apply(actions, None);
        }
    }

    /// Tells the machine `event` at `now`, after the traffic it has not heard of, and
    /// carries out what it says.
    fn feed(&mut self, now: Instant, event: Event) {
        self.report(now);
        let actions = self.machine.handle(now, event);
        self.apply(actions, None);
    }

    /// A ping has left.
    fn ping_left(&mut self, id: PingId) {
        event!(debug, id = id.get(), "ping sent");
        let now = self.now();
        self.feed(now, Event::PingWritten(id));
        if self.stage == Stage::Open {
            self.ping_sent = Some(id);
        }
    }

    fn inbound(&mut self, message: C::Message, cx: &mut Context<'_>) -> Option<Update<C::Message>> {
        let kind = self.codec.classify(&message);
        if kind == Inbound::Data {
            self.unheard.data_in();
            return match self.stage {
                Stage::Closing { linger: true, .. } => None,
                _ => Some(Update::Message(message)),
            };
        }
        let now = self.now();
        self.report(now);
        match kind {
            Inbound::Ping => {
                // Transports that answer pings themselves (tungstenite) send on a flush.
                self.outbox.needs_flush();
                let actions = self.machine.handle(now, Event::PingReceived);
                self.apply(actions, Some(&message));
                None
            }
            Inbound::Pong(id) => {
                let before = self.machine.stats().pongs_received;
                let actions = self.machine.handle(now, Event::PongReceived(id));
                self.apply(actions, None);
                let stats = self.machine.stats();
                let rtt = stats.rtt.unwrap_or_default();
                if stats.pongs_received == before {
                    return None;
                }
                event!(debug, rtt_us = rtt.as_micros() as u64, "pong");
                Some(Update::Pong { id, rtt })
            }
            Inbound::Close(code) => {
                // Let the transport send its answer if it queued one, then we are done.
                if let Some(t) = self.transport.as_mut() {
                    let _ = Pin::new(t).poll_flush(cx);
                }
                let reason = self.codec.close_reason(&message).map(str::to_string);
                self.peer_closed(code, reason);
                None
            }
            Inbound::Data => None, // handled above
        }
    }

    /// Carries out what the machine said. `ping` is the message being answered.
    fn apply(&mut self, actions: Actions, ping: Option<&C::Message>) {
        for action in actions {
            match action {
                Action::SendPing(id) if self.stage == Stage::Open => {
                    let message = self.codec.ping(id);
                    self.outbox.ping(id, message);
                }
                Action::SendPong if self.stage == Stage::Open => {
                    if let Some(pong) = ping.and_then(|p| self.codec.pong(p)) {
                        self.outbox.pong(pong);
                    }
                }
                Action::Close(reason) => self.begin_close(reason),
                Action::ForceClose => self.finish(false),
                Action::Reconnect { .. } | Action::GiveUp => self.follow_up = Some(action),
                _ => {}
            }
        }
    }

    fn begin_close(&mut self, reason: CloseReason) {
        if self.stage != Stage::Open {
            return;
        }
        if reason == CloseReason::Shutdown {
            event!(info, "closing (shutdown)");
        } else {
            event!(
                warn,
                reason = reason.as_str(),
                silence_ms = (self.now() - self.machine.last_heard()).as_millis() as u64,
                bound_ms = self.machine.config().dead_peer_bound().as_millis() as u64,
                "the peer is silent: closing"
            );
        }
        // Nothing more goes out on this connection but the close.
        let close = self.codec.close(reason);
        let has_close = close.is_some();
        self.outbox.close(close);
        self.stage = Stage::Closing {
            cause: reason.into(),
            code: Some(reason.code()),
            // A clean shutdown waits for the peer's close (bounded by close_timeout), so
            // our close is not lost to a reset; a dead peer is not waited for.
            linger: reason == CloseReason::Shutdown && has_close,
        };
    }

    /// The connection is over. `disconnected`: tell the machine (not after a
    /// `ForceClose`, which it already counted).
    fn finish(&mut self, disconnected: bool) {
        let (cause, code) = match self.stage {
            Stage::Ended { .. } => return,
            Stage::Closing { cause, code, .. } => (cause, code),
            Stage::Open => (Cause::PeerClosed, None),
        };
        let event = disconnected.then_some(Event::Disconnected);
        self.end_with(event, Error::new(cause, code, None));
    }

    /// The peer's close frame arrived, with this code and reason: the end of the
    /// connection, its cause for the machine (while open), or the answer to our close.
    fn peer_closed(&mut self, code: Option<u16>, reason: Option<String>) {
        match self.stage {
            Stage::Open => {
                // 1005: a close frame without a code (RFC 6455, 7.1.5).
                let event = Event::CloseReceived(code.unwrap_or(1005));
                let end = Error::new(Cause::PeerClosed, code, None).with_reason(reason);
                self.end_with(Some(event), end);
            }
            _ => self.finish(true),
        }
    }

    /// The transport failed.
    fn failed(&mut self, e: S::Error) {
        match self.stage {
            // An error while closing (a reset after our close) ends the close.
            Stage::Closing { .. } => self.finish(true),
            Stage::Open => self.end_with(
                Some(Event::Disconnected),
                Error::new(Cause::Error, None, Some(e)),
            ),
            Stage::Ended { .. } => {}
        }
    }

    /// Ends the connection with `end`, telling the machine `event` (none after a
    /// `ForceClose`, which it already counted).
    fn end_with(&mut self, event: Option<Event>, end: Error<S::Error>) {
        event!(
            info,
            cause = end.cause().as_str(),
            code = end.code(),
            reason = end.reason(),
            "connection closed"
        );
        if let Some(event) = event {
            self.feed(self.now(), event);
        }
        self.stage = Stage::Ended {
            cause: end.cause(),
            code: end.code(),
        };
        self.end = Some(end);
        self.transport = None;
        self.outbox.clear();
        self.alarm.aim(&self.clock, None);
    }

    // ----- the application's signals -----

    /// The application goes to the background (or the OS throttles it): no pings, no
    /// deadlines, until [`resume`](Self::resume). A close under way still completes.
    pub fn pause(&mut self) {
        self.notify(Event::Pause);
    }

    /// Back from a pause: the peer is probed at once (one ping, a fresh
    /// `pong_timeout`). The ping goes out on the next poll.
    pub fn resume(&mut self) {
        self.notify(Event::Resume);
    }

    /// The network path changed (Wi-Fi to cellular, a new address): the peer is probed at
    /// once, on the next poll.
    pub fn network_changed(&mut self) {
        self.notify(Event::NetworkChanged);
    }

    fn notify(&mut self, event: Event) {
        let span = self.span.clone();
        let _entered = span.enter();
        if self.stage == Stage::Open {
            self.feed(self.now(), event);
        }
    }

    /// Starts a clean close (code 1000); the stream ends when it completes.
    pub(crate) fn shut_down(&mut self) {
        self.notify(Event::Shutdown);
    }

    // ----- the application's sends -----

    /// The error for a send that cannot be made, when the connection is closing or over.
    fn refused(&self) -> Option<Error<S::Error>> {
        match self.stage {
            Stage::Open => None,
            Stage::Closing { cause, code, .. } | Stage::Ended { cause, code } => {
                Some(Error::new(cause, code, None))
            }
        }
    }

    /// The error for a send on a connection that is closing or over.
    fn gone(&self) -> Error<S::Error> {
        self.refused()
            .unwrap_or_else(|| Error::new(Cause::Error, None, None))
    }

    /// A sink operation's outcome: a transport error ends the connection, and the send
    /// fails with the cause (the error itself goes to the stream's final item).
    fn sink_outcome(
        &mut self,
        outcome: Poll<Result<(), S::Error>>,
    ) -> Poll<Result<(), Error<S::Error>>> {
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

impl<S, C, T> Stream for Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Transport<C::Message>,
    T: Timer,
{
    type Item = Result<C::Message, Error<S::Error>>;

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

impl<S, C, T> Sink<C::Message> for Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Transport<C::Message>,
    T: Timer,
{
    type Error = Error<S::Error>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        // Our pings and pongs go before the application's next message.
        this.transmit(cx);
        if let Some(e) = this.refused() {
            return Poll::Ready(Err(e));
        }
        if this.outbox.has_control() {
            return Poll::Pending; // the sink wakes us when it has room
        }
        match this.transport.as_mut() {
            Some(t) => {
                let outcome = Pin::new(t).poll_ready(cx);
                this.sink_outcome(outcome)
            }
            None => Poll::Ready(Err(this.gone())),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: C::Message) -> Result<(), Self::Error> {
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
        this.unheard.data_out(); // told at the next clock read (this flush at the latest)
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        if let Stage::Ended { .. } = this.stage {
            return Poll::Ready(Err(this.gone()));
        }
        // A flush runs when the socket has room again: the moment to tell the machine of
        // data handed over and bytes the peer took.
        if this.unheard.any(this.meter.as_ref()) {
            let now = this.now();
            this.report(now);
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
        this.sink_outcome(outcome)
    }

    /// Closes with [`CloseReason::Shutdown`] (code 1000), waits for the peer's close
    /// (at most `close_timeout`), and completes. The stream then yields the final
    /// [`Error`] (cause [`Cause::Shutdown`]) and ends.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.shut_down();
        loop {
            match this.poll_update(cx) {
                Poll::Ready(Some(Ok(_))) => continue, // after close: discarded
                Poll::Ready(Some(Err(end))) => {
                    this.end = Some(end); // kept for the stream
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
