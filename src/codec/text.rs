//! [`TextCodec`]: application-level heartbeats in text messages, such as
//! `{"type":"ping"}` / `{"type":"pong"}` (browsers cannot send WebSocket ping frames).

use super::json::type_field;
use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;
use alloc::string::{String, ToString};
use core::fmt;
use core::marker::PhantomData;

/// A message type that can carry text: what [`TextCodec`] needs of a transport.
///
/// Implemented for `String` (line protocols, channels) and, with feature `tungstenite`,
/// for `tungstenite::Message` (text frames; WebSocket control frames keep their meaning).
pub trait TextMessage: Sized {
    /// The text, when this is a text message.
    fn text(&self) -> Option<&str>;
    /// A text message.
    fn from_text(text: &str) -> Self;
    /// What a message without text is (default: data).
    fn classify_other(&self) -> Inbound {
        Inbound::Data
    }
    /// The transport's own close message, if it has one (default: none).
    fn close_message(reason: CloseReason) -> Option<Self> {
        let _ = reason;
        None
    }
    /// The reason text of the transport's close message, if this is one with a reason
    /// (default: none).
    fn close_reason(&self) -> Option<&str> {
        None
    }
}

impl TextMessage for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
    fn from_text(text: &str) -> Self {
        text.to_string()
    }
}

/// Application-level heartbeats: a text ping, answered by a text pong.
///
/// The default sends `{"type":"ping"}` and answers `{"type":"pong"}`. When a configured
/// text is a JSON object with a string `"type"`, messages are matched by that type, so
/// `{"type": "pong"}` (Python's `json.dumps`) and `{"type":"pong","ts":17}` count too;
/// any other text must match exactly. Text pongs carry no id: they acknowledge the ping
/// in flight ([`Event::PongReceived(None)`](crate::Event::PongReceived)).
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound, TextCodec};
/// use keepalive::PingId;
///
/// let mut codec = TextCodec::<String>::default();
/// let ping = codec.ping(PingId::new(1));
/// assert_eq!(ping, r#"{"type":"ping"}"#);
/// assert_eq!(codec.classify(&r#"{"type": "pong", "ts": 17}"#.to_string()), Inbound::Pong(None));
/// assert_eq!(codec.classify(&r#"{"type":"chat"}"#.to_string()), Inbound::Data);
///
/// // A protocol with bare words:
/// let mut words = TextCodec::<String>::with_texts("ping", "pong");
/// assert_eq!(words.classify(&"ping".to_string()), Inbound::Ping);
/// assert_eq!(words.pong(&"ping".to_string()), Some("pong".to_string()));
/// ```
///
/// `M` is the transport's message type ([`TextMessage`]).
pub struct TextCodec<M> {
    ping: String,
    pong: String,
    message: PhantomData<fn(M) -> M>,
}

impl<M> Default for TextCodec<M> {
    /// `{"type":"ping"}` / `{"type":"pong"}`.
    fn default() -> Self {
        TextCodec::with_texts(r#"{"type":"ping"}"#, r#"{"type":"pong"}"#)
    }
}

impl<M> Clone for TextCodec<M> {
    fn clone(&self) -> Self {
        TextCodec::with_texts(self.ping.clone(), self.pong.clone())
    }
}

impl<M> fmt::Debug for TextCodec<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextCodec")
            .field("ping", &self.ping)
            .field("pong", &self.pong)
            .finish()
    }
}

impl<M> TextCodec<M> {
    /// A codec that sends `ping` and answers pings with `pong`.
    pub fn with_texts(ping: impl Into<String>, pong: impl Into<String>) -> TextCodec<M> {
        TextCodec {
            ping: ping.into(),
            pong: pong.into(),
            message: PhantomData,
        }
    }

    /// The ping text sent.
    pub fn ping_text(&self) -> &str {
        &self.ping
    }

    /// The pong text sent.
    pub fn pong_text(&self) -> &str {
        &self.pong
    }

    fn classify_text(&self, text: &str) -> Inbound {
        if matches(&self.ping, text) {
            Inbound::Ping
        } else if matches(&self.pong, text) {
            Inbound::Pong(None)
        } else {
            Inbound::Data
        }
    }
}

/// Whether the text `got` is the configured text `want`: by JSON `"type"` when `want` has
/// one, else exactly.
fn matches(want: &str, got: &str) -> bool {
    match type_field(want) {
        Some(kind) => type_field(got) == Some(kind),
        None => want == got,
    }
}

impl<M: TextMessage> HeartbeatCodec for TextCodec<M> {
    type Message = M;

    fn classify(&mut self, message: &M) -> Inbound {
        match message.text() {
            Some(text) => self.classify_text(text),
            None => message.classify_other(),
        }
    }

    fn ping(&mut self, _id: PingId) -> M {
        M::from_text(&self.ping)
    }

    fn pong(&mut self, ping: &M) -> Option<M> {
        // A transport's own ping (a WebSocket ping frame) is answered by the transport.
        ping.text().map(|_| M::from_text(&self.pong))
    }

    fn close(&mut self, reason: CloseReason) -> Option<M> {
        M::close_message(reason)
    }

    fn close_reason<'m>(&self, message: &'m M) -> Option<&'m str> {
        message.close_reason()
    }
}
