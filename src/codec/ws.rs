//! [`WsCodec`]: WebSocket control frames, for `tungstenite::Message` (feature `tungstenite`).

use super::text::TextMessage;
use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

/// WebSocket ping/pong frames (RFC 6455) for `tungstenite::Message`, as used by
/// tokio-tungstenite and async-tungstenite.
///
/// Pings carry the 8-byte [`PingId`], which RFC 6455 peers echo in their pong. Text and
/// binary messages are data. Pongs are left to tungstenite, which answers every ping on
/// its next write or flush (the driver flushes as soon as it reads a ping). Close frames
/// carry [`CloseReason::code`] and [`CloseReason::as_str`].
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound, WsCodec};
/// use keepalive::{CloseReason, PingId};
/// use tungstenite::Message;
///
/// let ping = WsCodec.ping(PingId::new(3));
/// assert_eq!(ping, Message::Ping(PingId::new(3).to_bytes().to_vec().into()));
/// let echoed = Message::Pong(PingId::new(3).to_bytes().to_vec().into());
/// assert_eq!(WsCodec.classify(&echoed), Inbound::Pong(Some(PingId::new(3))));
/// let close = WsCodec.close(CloseReason::PongTimeout).unwrap();
/// assert_eq!(WsCodec.classify(&close), Inbound::Close(Some(1011)));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WsCodec;

impl HeartbeatCodec for WsCodec {
    type Message = Message;

    fn classify(&mut self, message: &Message) -> Inbound {
        match message {
            Message::Ping(_) => Inbound::Ping,
            Message::Pong(payload) => Inbound::Pong(PingId::from_bytes(payload)),
            Message::Close(frame) => Inbound::Close(frame.as_ref().map(|f| u16::from(f.code))),
            Message::Text(_) | Message::Binary(_) | Message::Frame(_) => Inbound::Data,
        }
    }

    fn ping(&mut self, id: PingId) -> Message {
        Message::Ping(id.to_bytes().to_vec().into())
    }

    fn pong(&mut self, _ping: &Message) -> Option<Message> {
        None // tungstenite queues the pong itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<Message> {
        Some(Message::Close(Some(CloseFrame {
            code: CloseCode::from(reason.code()),
            reason: reason.as_str().into(),
        })))
    }

    fn close_reason<'m>(&self, message: &'m Message) -> Option<&'m str> {
        match message {
            Message::Close(Some(frame)) => Some(frame.reason.as_str()),
            _ => None,
        }
    }
}

/// Text frames carry the application's heartbeats; control frames keep their WebSocket
/// meaning (pings answered by tungstenite, pongs and closes recognised).
impl TextMessage for Message {
    fn text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
    fn from_text(text: &str) -> Self {
        Message::text(text)
    }
    fn classify_other(&self) -> Inbound {
        WsCodec.classify(self)
    }
    fn close_message(reason: CloseReason) -> Option<Self> {
        WsCodec.close(reason)
    }
    fn close_reason(&self) -> Option<&str> {
        WsCodec.close_reason(self)
    }
}
