//! [`Outbox`]: the heartbeat's own messages on their way to the sink.

use crate::PingId;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_sink::Sink;

/// The control messages waiting for the sink (at most one of each), and what was handed
/// to it but not yet flushed. A pong goes first: it must not wait behind anything of
/// ours; the close goes last.
#[derive(Debug)]
pub(crate) struct Outbox<M> {
    pong: Option<M>,
    ping: Option<(PingId, M)>,
    close: Option<M>,
    /// Something was handed to the sink and not flushed yet (ours, or a pong the
    /// transport queued itself).
    unflushed: bool,
    /// The ping handed to the sink, until a flush completes: then it has left.
    ping_unflushed: Option<PingId>,
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Outbox {
            pong: None,
            ping: None,
            close: None,
            unflushed: false,
            ping_unflushed: None,
        }
    }
}

impl<M> Outbox<M> {
    pub(crate) fn ping(&mut self, id: PingId, message: M) {
        self.ping = Some((id, message));
    }

    pub(crate) fn pong(&mut self, message: M) {
        self.pong = Some(message);
    }

    /// The close replaces whatever else waits: nothing more goes out but the close.
    pub(crate) fn close(&mut self, message: Option<M>) {
        self.ping = None;
        self.pong = None;
        self.close = message;
    }

    /// The transport queued something itself (tungstenite answers pings on its next
    /// flush): flush soon.
    pub(crate) fn needs_flush(&mut self) {
        self.unflushed = true;
    }

    /// Whether a ping or a pong still waits for the sink (the application's next
    /// message waits behind it).
    pub(crate) fn has_control(&self) -> bool {
        self.pong.is_some() || self.ping.is_some()
    }

    /// Nothing more will go out (the connection ended).
    pub(crate) fn clear(&mut self) {
        *self = Outbox::default();
    }

    /// A flush of the sink completed (ours or the application's): everything handed
    /// over has left; returns the ping among it.
    pub(crate) fn flushed(&mut self) -> Option<PingId> {
        self.unflushed = false;
        self.ping_unflushed.take()
    }

    /// Hands what waits to the sink as far as it takes it, then flushes. Returns the
    /// ping that has left, if a flush just completed with one in it.
    pub(crate) fn poll_send<S: Sink<M> + Unpin>(
        &mut self,
        sink: &mut S,
        cx: &mut Context<'_>,
    ) -> Result<Option<PingId>, S::Error> {
        let mut sink = Pin::new(sink);
        while self.pong.is_some() || self.ping.is_some() || self.close.is_some() {
            match sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                // The sink wakes us when it has room.
                Poll::Pending => return Ok(None),
            }
            if let Some(pong) = self.pong.take() {
                sink.as_mut().start_send(pong)?;
            } else if let Some((id, ping)) = self.ping.take() {
                sink.as_mut().start_send(ping)?;
                self.ping_unflushed = Some(id);
            } else if let Some(close) = self.close.take() {
                sink.as_mut().start_send(close)?;
            }
            self.unflushed = true;
        }
        if self.unflushed {
            match sink.poll_flush(cx) {
                Poll::Ready(Ok(())) => return Ok(self.flushed()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(None)
    }
}
