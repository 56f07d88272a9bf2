//! [`AxumCodec`]: WebSocket control frames for axum's `Message` (feature `axum`).

use super::text::TextMessage;
use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;
use axum::extract::ws::{CloseFrame, Message};

/// WebSocket ping/pong frames (RFC 6455) for `axum::extract::ws::Message`, the messages of
/// the `WebSocket` an axum upgrade hands to its handler.
///
/// Pings carry the 8-byte [`PingId`]; pongs are left to axum (tungstenite underneath
/// answers every ping on its next write or flush; the driver flushes as soon as it reads
/// one). Close frames carry [`CloseReason::code`] and [`CloseReason::as_str`].
///
/// ```
/// use axum::extract::ws::Message;
/// use keepalive::codec::{AxumCodec, HeartbeatCodec, Inbound};
/// use keepalive::PingId;
///
/// let ping = AxumCodec.ping(PingId::new(3));
/// let echoed = match ping {
///     Message::Ping(payload) => Message::Pong(payload),
///     _ => unreachable!(),
/// };
/// assert_eq!(AxumCodec.classify(&echoed), Inbound::Pong(Some(PingId::new(3))));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AxumCodec;

impl HeartbeatCodec for AxumCodec {
    type Message = Message;

    fn classify(&mut self, message: &Message) -> Inbound {
        match message {
            Message::Ping(_) => Inbound::Ping,
            Message::Pong(payload) => Inbound::Pong(PingId::from_bytes(payload)),
            Message::Close(frame) => Inbound::Close(frame.as_ref().map(|f| f.code)),
            Message::Text(_) | Message::Binary(_) => Inbound::Data,
        }
    }

    fn ping(&mut self, id: PingId) -> Message {
        Message::Ping(id.to_bytes().to_vec().into())
    }

    fn pong(&mut self, _ping: &Message) -> Option<Message> {
        None // axum answers pings itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<Message> {
        Some(Message::Close(Some(CloseFrame {
            code: reason.code(),
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
/// meaning.
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
        AxumCodec.classify(self)
    }
    fn close_message(reason: CloseReason) -> Option<Self> {
        AxumCodec.close(reason)
    }
    fn close_reason(&self) -> Option<&str> {
        AxumCodec.close_reason(self)
    }
}
