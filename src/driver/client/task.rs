//! [`ClientTask`]: runs a [`Client`](super::Client)'s connections in their own task.
//!
//! It keeps no clock of its own: the machine says when to connect (`Connect` at the end
//! of a wait), when an attempt has taken too long (`AbortConnect`) and when to give up;
//! while no connection is open the task's one timer is the machine's deadline.

use super::setup::Setup;
use super::{lock, Attempt, ConnectError, SendError, SessionEvent, Shared};
use crate::codec::HeartbeatCodec;
use crate::driver::alarm::Alarm;
use crate::driver::error::{Cause, Error, Failure, Refused};
use crate::driver::heartbeat::{Heartbeat, Update};
use crate::driver::trace::{event, Span};
use crate::driver::{Timer, Transport};
use crate::meter::Meter;
use crate::policy::{Decision, Loss};
use crate::{Action, Actions, Clock, Event, HeartbeatMachine, Instant, Stats};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_sink::Sink;
use std::sync::{Arc, Mutex};

/// Where the client's connection is, as the task carries it out.
// `Open` is the state a client spends its life in, and the task lives on the heap
// (spawned) anyway: boxing it would add an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Line<S, C, T, Fut, SetupFut>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    /// The first attempt starts at the first poll (a new machine is connecting).
    Start,
    /// No connection: the machine's deadline says when to connect.
    Waiting,
    /// An attempt under way, and the meter its transport may use.
    Dialing(Pin<Box<Fut>>, Meter),
    /// The connection is open; the on-connect step runs on it.
    Setting(Pin<Box<SetupFut>>, Meter),
    Open(Heartbeat<S, C, T>),
    Done,
}

/// The task that runs a [`Client`](super::Client)'s connections: spawn it on your runtime
/// ([`Client::spawn`](super::Client::spawn) does). It finishes when the client gives up or
/// shuts down.
#[must_use = "the client does nothing until its task is spawned"]
pub struct ClientTask<S, C, T, F, Fut, G>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
    G: Setup<S>,
{
    shared: Arc<Mutex<Shared<C::Message>>>,
    /// The machine, while no connection is open (the open connection's driver has it).
    machine: Option<HeartbeatMachine>,
    clock: Clock,
    codec: C,
    connect: F,
    setup: G,
    line: Line<S, C, T, Fut, G::Future>,
    /// One timer, at the machine's deadline while no connection is open.
    alarm: Alarm<T>,
    /// Attempts started.
    attempts: u32,
    /// What ended the last connection or attempt.
    last_loss: Option<Loss>,
    /// A message of the application's is in the sink, not yet flushed.
    sending: bool,
    stopping: bool,
    /// The task's span (feature `tracing`; nothing otherwise).
    span: Span,
}

impl<S, C, T, F, Fut, G> fmt::Debug for ClientTask<S, C, T, F, Fut, G>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
    G: Setup<S>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTask")
            .field("machine", &self.machine)
            .field("attempts", &self.attempts)
            .field("sending", &self.sending)
            .finish_non_exhaustive()
    }
}

// Only the connect and setup futures are pinned, and they are boxed.
impl<S: Sink<C::Message>, C: HeartbeatCodec, T, F, Fut, G: Setup<S>> Unpin
    for ClientTask<S, C, T, F, Fut, G>
{
}

impl<S, C, T, F, Fut, G> ClientTask<S, C, T, F, Fut, G>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
    T: Timer,
    G: Setup<S>,
{
    pub(super) fn new(
        shared: Arc<Mutex<Shared<C::Message>>>,
        machine: HeartbeatMachine,
        clock: Clock,
        codec: C,
        connect: F,
        setup: G,
    ) -> Self {
        ClientTask {
            shared,
            machine: Some(machine),
            clock,
            codec,
            connect,
            setup,
            last_loss: None,
            line: Line::Start,
            alarm: Alarm::default(),
            attempts: 0,
            sending: false,
            stopping: false,
            span: Span::client(),
        }
    }

    /// Names the peer in the task's span.
    pub(super) fn record_peer(&self, peer: &dyn fmt::Display) {
        self.span.record_peer(peer);
    }
}

impl<S, C, T, F, Fut, CE, G> ClientTask<S, C, T, F, Fut, G>
where
    C: HeartbeatCodec + Clone,
    S: Transport<C::Message>,
    S::Error: std::error::Error + Send + Sync + 'static,
    T: Timer,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<S, CE>>,
    CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    G: Setup<S>,
{
    fn push(&self, event: SessionEvent<C::Message>) {
        lock(&self.shared).push(event);
    }

    fn now(&self) -> Instant {
        Alarm::<T>::now(&self.clock)
    }

    /// The machine's statistics, wherever it is now.
    fn stats(&self) -> Stats {
        match (&self.line, &self.machine) {
            (Line::Open(hb), _) => hb.stats(),
            (_, Some(m)) => m.stats(),
            _ => Stats::default(),
        }
    }

    /// Advances the connection by one step: `Ready(true)` progress, `Ready(false)` done.
    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match &mut self.line {
            Line::Done => Poll::Ready(false),
            Line::Start => {
                self.dial();
                Poll::Ready(true)
            }
            Line::Waiting => self.poll_machine(cx),
            Line::Dialing(attempt, _) => match attempt.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.dialed(outcome.map_err(Failure::new));
                    Poll::Ready(true)
                }
                // The attempt's timeout is the machine's deadline.
                Poll::Pending => self.poll_machine(cx),
            },
            Line::Setting(step, _) => match step.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.set_up(outcome);
                    Poll::Ready(true)
                }
                // The on-connect step counts toward the attempt's timeout.
                Poll::Pending => self.poll_machine(cx),
            },
            Line::Open(hb) => {
                let step = match hb.poll_update(cx) {
                    Poll::Ready(step) => step,
                    Poll::Pending => return Poll::Pending,
                };
                match step {
                    Some(Ok(Update::Message(m))) => self.push(SessionEvent::Message(m)),
                    Some(Ok(Update::PingSent(id))) => self.push(SessionEvent::PingSent(id)),
                    Some(Ok(Update::Pong { rtt, .. })) => self.push(SessionEvent::Pong { rtt }),
                    Some(Err(end)) => self.ended(Some(end)),
                    None => self.ended(None),
                }
                Poll::Ready(true)
            }
        }
    }

    /// No connection is open: tick the machine at its deadline and do what it says.
    fn poll_machine(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let now = self.now();
        let Some(machine) = self.machine.as_mut() else {
            return Poll::Pending;
        };
        if !self
            .alarm
            .due(&self.clock, machine.next_deadline(), now, cx)
        {
            return Poll::Pending;
        }
        let actions = machine.handle(now, Event::Tick);
        self.act(actions, true);
        Poll::Ready(true)
    }

    /// Carries out the machine's word while no connection is open. `timed`: it came
    /// from a deadline (an abandoned attempt then timed out).
    fn act(&mut self, actions: Actions, timed: bool) {
        for action in actions {
            match action {
                Action::Connect => self.dial(),
                Action::AbortConnect => {
                    self.line = Line::Waiting; // drops the attempt
                    if timed {
                        self.last_loss = Some(Loss::ConnectTimeout);
                        self.push(SessionEvent::ConnectFailed(ConnectError::TimedOut));
                    }
                }
                Action::Reconnect { after } => {
                    self.line = Line::Waiting;
                    self.reconnecting(after);
                }
                Action::GiveUp => self.gave_up(),
                _ => {}
            }
        }
    }

    /// The machine gave up: say why.
    fn gave_up(&mut self) {
        self.line = Line::Done;
        let loss = self.last_loss.unwrap_or(Loss::Transport);
        let fatal = self.machine.as_ref().is_some_and(|m| {
            let next = m.stats().attempt.saturating_add(1);
            m.config().decide(loss, next) == Decision::GiveUp
        });
        event!(warn, loss = ?loss, fatal, "gave up");
        self.push(SessionEvent::GaveUp { loss, fatal });
    }

    /// The machine announced a wait.
    fn reconnecting(&mut self, after: core::time::Duration) {
        event!(
            info,
            attempt = self.stats().attempt,
            after_ms = after.as_millis() as u64,
            "reconnecting"
        );
        self.push(SessionEvent::Reconnecting { after });
    }

    /// Starts an attempt.
    fn dial(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        event!(debug, attempt = self.attempts, "connecting");
        let meter = Meter::new();
        let attempt = (self.connect)(Attempt {
            number: self.attempts,
            last_loss: self.last_loss,
            meter: meter.clone(),
        });
        self.line = Line::Dialing(Box::pin(attempt), meter);
    }

    /// Leaves the attempt's stage (dialing or setting up) for waiting; returns the meter
    /// its transport was given.
    fn leave_attempt(&mut self) -> Meter {
        match core::mem::replace(&mut self.line, Line::Waiting) {
            Line::Dialing(_, meter) | Line::Setting(_, meter) => meter,
            _ => Meter::new(),
        }
    }

    /// The attempt ended: run the on-connect step on the new connection, or tell the
    /// machine it failed.
    fn dialed(&mut self, outcome: Result<S, Failure>) {
        let meter = self.leave_attempt();
        match outcome {
            Ok(transport) => {
                self.line = Line::Setting(Box::pin(self.setup.run(transport)), meter);
            }
            Err(e) => {
                let error = match Refused::find(e.get_ref()) {
                    Some(Refused {
                        status,
                        retry_after,
                    }) => ConnectError::Refused {
                        status,
                        retry_after,
                        error: e,
                    },
                    None => ConnectError::Failed(e),
                };
                self.failed(error);
            }
        }
    }

    /// The on-connect step ended: the connection is the application's, or the attempt
    /// failed.
    fn set_up(&mut self, outcome: Result<S, Failure>) {
        let meter = self.leave_attempt();
        let transport = match outcome {
            Ok(transport) => transport,
            Err(e) => return self.failed(ConnectError::Setup(e)),
        };
        let Some(machine) = self.machine.take() else {
            self.line = Line::Done;
            return;
        };
        let hb = Heartbeat::with_machine(transport, self.codec.clone(), machine, self.clock)
            .with_meter(meter);
        self.line = Line::Open(hb);
        self.push(SessionEvent::Connected);
    }

    /// The attempt failed: the machine hears why (a refusal with its status and
    /// `Retry-After`, else a transport failure) and says what comes next.
    fn failed(&mut self, error: ConnectError) {
        let loss = error.loss();
        self.last_loss = Some(loss);
        let event = match loss {
            Loss::Refused {
                status,
                retry_after,
            } => Event::Refused {
                status,
                retry_after,
            },
            _ => Event::ConnectFailed,
        };
        event!(info, error = %error, "connect failed");
        self.push(SessionEvent::ConnectFailed(error));
        self.tell(event);
    }

    /// Tells the machine `event` while no connection is open (it is here, not with a
    /// connection's driver), and does what it says.
    fn tell(&mut self, event: Event) {
        let now = self.now();
        if let Some(machine) = self.machine.as_mut() {
            let actions = machine.handle(now, event);
            self.act(actions, false);
        }
    }

    /// The open connection ended: take the machine back; it says what comes next.
    fn ended(&mut self, end: Option<Error<S::Error>>) {
        let cause = end.as_ref().map_or(Cause::Error, Error::cause);
        self.last_loss = Some(end.as_ref().map_or(Loss::Transport, Error::loss));
        if let Some(end) = end {
            self.push(SessionEvent::Closed(end.map_source(Failure::new)));
        }
        if self.sending {
            self.sending = false;
            lock(&self.shared).settle(Err(SendError::Unconfirmed(cause)));
        }
        let Line::Open(hb) = core::mem::replace(&mut self.line, Line::Waiting) else {
            return;
        };
        let follow_up = hb.follow_up();
        self.machine = Some(hb.into_machine());
        match follow_up {
            // The wait is the machine's deadline; its tick says Connect.
            Some(Action::Reconnect { after }) => self.reconnecting(after),
            Some(Action::GiveUp) => self.gave_up(),
            _ => self.line = Line::Done,
        }
    }

    /// Pause, Resume or NetworkChanged, from the application.
    fn signal(&mut self, event: Event) {
        if let Line::Open(hb) = &mut self.line {
            match event {
                Event::Pause => hb.pause(),
                Event::Resume => hb.resume(),
                _ => hb.network_changed(),
            }
            return;
        }
        self.tell(event);
    }

    fn shut_down(&mut self) {
        match &mut self.line {
            Line::Open(hb) => hb.shut_down(),
            Line::Done => {}
            _ => {
                let now = self.now();
                if let Some(m) = self.machine.as_mut() {
                    let _ = m.handle(now, Event::Shutdown);
                }
                self.line = Line::Done;
            }
        }
    }

    /// Moves the application's message along: into the sink, then flushed.
    fn poll_send(&mut self, cx: &mut Context<'_>) {
        let Line::Open(hb) = &mut self.line else {
            let mut s = lock(&self.shared);
            if let Some(m) = s.outbox.take() {
                let e = if self.stopping {
                    SendError::Stopped(m)
                } else {
                    SendError::NotConnected(m)
                };
                s.settle(Err(e));
            }
            return;
        };
        let mut hb = Pin::new(hb);
        if !self.sending {
            let mut s = lock(&self.shared);
            if s.outbox.is_none() {
                return;
            }
            match hb.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(m) = s.outbox.take() {
                        match hb.as_mut().start_send(m) {
                            Ok(()) => self.sending = true,
                            Err(e) => s.settle(Err(SendError::Unconfirmed(e.cause()))),
                        }
                    }
                }
                Poll::Ready(Err(_)) => {
                    if let Some(m) = s.outbox.take() {
                        s.settle(Err(SendError::NotConnected(m)));
                    }
                }
                Poll::Pending => return,
            }
        }
        if self.sending {
            if let Poll::Ready(result) = hb.poll_flush(cx) {
                self.sending = false;
                lock(&self.shared).settle(result.map_err(|e| SendError::Unconfirmed(e.cause())));
            }
        }
    }
}

impl<S, C, T, F, Fut, CE, G> Future for ClientTask<S, C, T, F, Fut, G>
where
    C: HeartbeatCodec + Clone,
    S: Transport<C::Message>,
    S::Error: std::error::Error + Send + Sync + 'static,
    T: Timer,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<S, CE>>,
    CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    G: Setup<S>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        loop {
            let stats = this.stats();
            let (shutdown, full, signals) = {
                let mut s = lock(&this.shared);
                s.task = Some(cx.waker().clone());
                s.stats = stats;
                let signals = core::mem::take(&mut s.signals);
                let full = !s.detached && s.events.len() >= s.capacity;
                (s.shutdown, full, signals)
            };
            for event in signals {
                this.signal(event);
            }
            if shutdown && !this.stopping {
                this.stopping = true;
                this.shut_down();
            }
            this.poll_send(cx);
            if full {
                return Poll::Pending; // the application takes an event, then wakes us
            }
            match this.poll_line(cx) {
                Poll::Ready(true) => continue,
                Poll::Ready(false) => {
                    let mut s = lock(&this.shared);
                    s.finished = true;
                    if let Some(m) = s.outbox.take() {
                        s.settle(Err(SendError::Stopped(m)));
                    }
                    s.wake_app();
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
