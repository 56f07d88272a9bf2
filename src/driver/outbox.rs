//! [`Outbox`]: the heartbeat's own messages on their way to the sink. What goes next
//! and what a flush settles are plain data ([`Outbox::next`], [`Outbox::flushed`]);
//! [`Outbox::poll_send`] is the one loop that moves them into the sink.

use crate::PingId;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_sink::Sink;

/// The control messages waiting for the sink (at most one of each), and what was handed
/// to it but not yet flushed. A pong goes first: it must not wait behind anything of
/// ours; the close goes last.
///
/// A pong is *owed* from the moment a ping is read until a flush completes after its
/// answer went to the sink (ours, or the one the transport queues itself): while one is
/// owed and the flush cannot complete, the driver reads nothing more, so a peer that
/// pings and never reads cannot make the transport's write buffer grow.
#[derive(Debug)]
pub(crate) struct Outbox<M> {
    /// The latest ping's answer, if we make it (a newer ping replaces it).
    pong: Option<M>,
    ping: Option<(PingId, M)>,
    close: Option<M>,
    /// Something was handed to the sink and not flushed yet (ours, or a pong the
    /// transport queued itself).
    unflushed: bool,
    /// A ping was read and its pong has not been flushed yet.
    owed: bool,
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
            owed: false,
            ping_unflushed: None,
        }
    }
}

impl<M> Outbox<M> {
    pub(crate) fn ping(&mut self, id: PingId, message: M) {
        self.ping = Some((id, message));
    }

    /// A ping was read: it is owed a pong, ours (`Some`) or the transport's (`None`: the
    /// transport queued it, and sends it on the next flush).
    pub(crate) fn owe_pong(&mut self, ours: Option<M>) {
        if ours.is_some() {
            self.pong = ours; // only the latest ping needs an answer
        }
        self.owed = true;
        self.unflushed = true;
    }

    /// The close replaces whatever else waits: nothing more goes out but the close.
    pub(crate) fn close(&mut self, message: Option<M>) {
        self.ping = None;
        self.pong = None;
        self.close = message;
    }

    /// Whether a ping or a pong still waits for the sink (the application's next
    /// message waits behind it).
    pub(crate) fn has_control(&self) -> bool {
        self.pong.is_some() || self.ping.is_some()
    }

    /// Whether a pong is owed and not flushed: read nothing more until it is.
    pub(crate) fn owes_pong(&self) -> bool {
        self.owed
    }

    /// Nothing more will go out (the connection ended).
    pub(crate) fn clear(&mut self) {
        *self = Outbox::default();
    }

    /// A flush of the sink completed (ours or the application's): everything handed
    /// over has left, the owed pong included; returns the ping among it.
    pub(crate) fn flushed(&mut self) -> Option<PingId> {
        self.unflushed = false;
        if self.pong.is_none() {
            self.owed = false;
        }
        self.ping_unflushed.take()
    }

    /// The next message for the sink, in order (the pong, the ping, the close), taken:
    /// it counts as handed over, unflushed.
    pub(crate) fn next(&mut self) -> Option<M> {
        let m = if let Some(pong) = self.pong.take() {
            pong
        } else if let Some((id, ping)) = self.ping.take() {
            self.ping_unflushed = Some(id);
            ping
        } else {
            self.close.take()?
        };
        self.unflushed = true;
        Some(m)
    }

    /// Whether a flush is due: something was handed over and not flushed yet.
    pub(crate) fn unflushed(&self) -> bool {
        self.unflushed
    }

    /// Hands what waits to the sink as far as it takes it, then flushes. Returns the
    /// ping that has left, if a flush just completed with one in it.
    pub(crate) fn poll_send<S: Sink<M> + Unpin>(
        &mut self,
        sink: &mut S,
        cx: &mut Context<'_>,
    ) -> Result<Option<PingId>, S::Error> {
        let mut sink = Pin::new(sink);
        while self.has_control() || self.close.is_some() {
            match sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                // The sink wakes us when it has room.
                Poll::Pending => return Ok(None),
            }
            if let Some(m) = self.next() {
                sink.as_mut().start_send(m)?;
            }
        }
        if self.unflushed() {
            match sink.poll_flush(cx) {
                Poll::Ready(Ok(())) => return Ok(self.flushed()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pong_goes_first_the_close_last_and_the_ping_leaves_with_a_flush() {
        let mut o = Outbox::default();
        o.ping(PingId::new(1), "ping");
        o.owe_pong(Some("pong 1"));
        o.owe_pong(Some("pong 2")); // only the latest ping needs an answer
        assert!(o.has_control() && o.owes_pong());
        assert_eq!(o.next(), Some("pong 2"));
        assert_eq!(o.next(), Some("ping"));
        assert_eq!(o.next(), None);
        assert!(
            o.unflushed() && o.owes_pong(),
            "owed until a flush completes"
        );
        assert_eq!(o.flushed(), Some(PingId::new(1)), "the ping has left");
        assert!(!o.owes_pong() && !o.unflushed());
        assert_eq!(o.flushed(), None);
    }

    #[test]
    fn a_pong_the_transport_queues_is_owed_until_a_flush() {
        let mut o: Outbox<&str> = Outbox::default();
        o.owe_pong(None);
        assert!(o.owes_pong() && o.unflushed() && !o.has_control());
        assert_eq!(o.next(), None);
        assert_eq!(o.flushed(), None);
        assert!(!o.owes_pong());
    }

    #[test]
    fn the_close_replaces_what_waits() {
        let mut o = Outbox::default();
        o.ping(PingId::new(2), "ping");
        o.owe_pong(Some("pong"));
        o.close(Some("close"));
        assert!(!o.has_control());
        assert_eq!(o.next(), Some("close"));
        assert_eq!(o.next(), None);
        o.clear();
        assert!(!o.unflushed() && !o.owes_pong());
    }
}
