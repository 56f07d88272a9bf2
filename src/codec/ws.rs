//! [`WsCodec`]: WebSocket control frames (RFC 6455), for the messages of tungstenite
//! (feature `tungstenite`), axum (feature `axum`) and tokio-websockets (feature
//! `tokio-websockets`).

use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;

/// WebSocket ping/pong frames (RFC 6455), for every WebSocket stack the crate knows:
/// `tungstenite::Message` (tokio-tungstenite, async-tungstenite), axum's
/// `extract::ws::Message`, and `tokio_websockets::Message`.
///
/// Pings carry the 8-byte [`PingId`], which RFC 6455 peers echo in their pong. Text and
/// binary messages are data. Pongs are left to the stack, which answers every ping on its
/// next write or flush (the driver flushes as soon as it reads a ping). Close frames
/// carry [`CloseReason::code`] and [`CloseReason::as_str`].
///
/// ```
/// # #[cfg(feature = "tungstenite")] {
/// use keepalive::codec::{HeartbeatCodec, Inbound, WsCodec};
/// use keepalive::{CloseReason, PingId};
/// use tungstenite::Message;
///
/// let ping: Message = WsCodec.ping(PingId::new(3));
/// assert_eq!(ping, Message::Ping(PingId::new(3).to_bytes().to_vec().into()));
/// let echoed = Message::Pong(PingId::new(3).to_bytes().to_vec().into());
/// assert_eq!(WsCodec.classify(&echoed), Inbound::Pong(Some(PingId::new(3))));
/// let close: Message = WsCodec.close(CloseReason::TooManyPings).unwrap();
/// assert_eq!(WsCodec.classify(&close), Inbound::Close(Some(1008)));
/// # }
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WsCodec;

#[cfg(feature = "tungstenite")]
impl HeartbeatCodec<tungstenite::Message> for WsCodec {
    fn classify(&mut self, message: &tungstenite::Message) -> Inbound {
        use tungstenite::Message;
        match message {
            Message::Ping(_) => Inbound::Ping,
            Message::Pong(payload) => Inbound::Pong(PingId::from_bytes(payload)),
            Message::Close(frame) => Inbound::Close(frame.as_ref().map(|f| u16::from(f.code))),
            Message::Text(_) | Message::Binary(_) | Message::Frame(_) => Inbound::Data,
        }
    }

    fn ping(&mut self, id: PingId) -> tungstenite::Message {
        tungstenite::Message::Ping(id.to_bytes().to_vec().into())
    }

    fn pong(&mut self, _ping: &tungstenite::Message) -> Option<tungstenite::Message> {
        None // tungstenite queues the pong itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<tungstenite::Message> {
        use tungstenite::protocol::frame::coding::CloseCode;
        Some(tungstenite::Message::Close(Some(
            tungstenite::protocol::CloseFrame {
                code: CloseCode::from(reason.code()),
                reason: reason.as_str().into(),
            },
        )))
    }

    fn close_text<'m>(&self, message: &'m tungstenite::Message) -> Option<&'m str> {
        match message {
            tungstenite::Message::Close(Some(frame)) => Some(frame.reason.as_str()),
            _ => None,
        }
    }
}

#[cfg(feature = "axum")]
impl HeartbeatCodec<axum::extract::ws::Message> for WsCodec {
    fn classify(&mut self, message: &axum::extract::ws::Message) -> Inbound {
        use axum::extract::ws::Message;
        match message {
            Message::Ping(_) => Inbound::Ping,
            Message::Pong(payload) => Inbound::Pong(PingId::from_bytes(payload)),
            Message::Close(frame) => Inbound::Close(frame.as_ref().map(|f| f.code)),
            Message::Text(_) | Message::Binary(_) => Inbound::Data,
        }
    }

    fn ping(&mut self, id: PingId) -> axum::extract::ws::Message {
        axum::extract::ws::Message::Ping(id.to_bytes().to_vec().into())
    }

    fn pong(&mut self, _ping: &axum::extract::ws::Message) -> Option<axum::extract::ws::Message> {
        None // axum (tungstenite underneath) queues the pong itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<axum::extract::ws::Message> {
        Some(axum::extract::ws::Message::Close(Some(
            axum::extract::ws::CloseFrame {
                code: reason.code(),
                reason: reason.as_str().into(),
            },
        )))
    }

    fn close_text<'m>(&self, message: &'m axum::extract::ws::Message) -> Option<&'m str> {
        match message {
            axum::extract::ws::Message::Close(Some(frame)) => Some(frame.reason.as_str()),
            _ => None,
        }
    }
}

#[cfg(feature = "tokio-websockets")]
impl HeartbeatCodec<tokio_websockets::Message> for WsCodec {
    fn classify(&mut self, message: &tokio_websockets::Message) -> Inbound {
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

    fn ping(&mut self, id: PingId) -> tokio_websockets::Message {
        tokio_websockets::Message::ping(id.to_bytes().to_vec())
    }

    fn pong(&mut self, _ping: &tokio_websockets::Message) -> Option<tokio_websockets::Message> {
        None // tokio-websockets queues the pong itself
    }

    fn close(&mut self, reason: CloseReason) -> Option<tokio_websockets::Message> {
        // 1000, 1008 and 1011 are valid codes to send.
        let code = tokio_websockets::CloseCode::try_from(reason.code()).ok();
        Some(tokio_websockets::Message::close(code, reason.as_str()))
    }

    fn close_text<'m>(&self, message: &'m tokio_websockets::Message) -> Option<&'m str> {
        message.as_close().map(|(_, reason)| reason)
    }
}
