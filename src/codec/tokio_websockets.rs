//! [`TokioWebsocketsCodec`]: WebSocket control frames for tokio-websockets' `Message`
//! (feature `tokio-websockets`).

use super::text::TextMessage;
use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;
use tokio_websockets::{CloseCode, Message};

/// WebSocket ping/pong frames (RFC 6455) for `tokio_websockets::Message`, the messages of
/// its `WebSocketStream` (client and server alike).
///
/// Pings carry the 8-byte [`PingId`]; pongs are left to tokio-websockets, which queues
/// one for every ping it reads and sends it on the next flush (the driver flushes as soon
/// as it reads a ping). Close frames carry [`CloseReason::code`] and
/// [`CloseReason::as_str`].
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound, TokioWebsocketsCodec};
/// use keepalive::PingId;
/// use tokio_websockets::Message;
///
/// let ping = TokioWebsocketsCodec.ping(PingId::new(3));
/// let echoed = Message::pong(ping.into_payload());
/// assert_eq!(TokioWebsocketsCodec.classify(&echoed), Inbound::Pong(Some(PingId::new(3))));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TokioWebsocketsCodec;

impl HeartbeatCodec for TokioWebsocketsCodec {
    type Message = Message;

    fn classify(&mut self, message: &Message) -> Inbound {
        if message.is_ping() {
            Inbound::Ping
        } else if message.is_pong() {
            Inbound::Pong(PingId::from_bytes(message.as_payload()))
        } else if let Some((code, _)) = message.as_close() {
            Inbound::Close(Some(u16::from(code)))
        } else {
            Inbound::Data
        }
    }

    fn ping(&mut self, id: PingId) -> Message {
        Message::ping(id.to_bytes().to_vec())
    }

    fn pong(&mut self, _ping: &Message) -> Option<Message> {
        None // tokio-websockets answers pings itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<Message> {
        // 1000 and 1011 are valid codes to send.
        let code = CloseCode::try_from(reason.code()).ok();
        Some(Message::close(code, reason.as_str()))
    }

    fn close_reason<'m>(&self, message: &'m Message) -> Option<&'m str> {
        message.as_close().map(|(_, reason)| reason)
    }
}

/// Text frames carry the application's heartbeats; control frames keep their WebSocket
/// meaning.
impl TextMessage for Message {
    fn text(&self) -> Option<&str> {
        // Received text was validated as UTF-8 by tokio-websockets.
        self.as_text()
    }
    fn from_text(text: &str) -> Self {
        Message::text(text.to_string())
    }
    fn classify_other(&self) -> Inbound {
        TokioWebsocketsCodec.classify(self)
    }
    fn close_message(reason: CloseReason) -> Option<Self> {
        TokioWebsocketsCodec.close(reason)
    }
    fn close_reason(&self) -> Option<&str> {
        TokioWebsocketsCodec.close_reason(self)
    }
}
