//! [`TextCodec`]: application-level heartbeats in text messages, such as
//! `{"type":"ping"}` / `{"type":"pong"}` (browsers cannot send WebSocket ping frames).

use super::json::type_field;
use super::{HeartbeatCodec, Inbound};
use crate::event::PingId;
use crate::reason::CloseReason;
use alloc::string::String;

/// Application-level heartbeats: a text ping, answered by a text pong.
///
/// The default sends `{"type":"ping"}` and answers `{"type":"pong"}`. When a configured
/// text is a JSON object with a string `"type"`, messages are matched by that type, so
/// `{"type": "pong"}` (Python's `json.dumps`) and `{"type":"pong","ts":17}` count too;
/// any other text must match exactly. Text pongs carry no id: they acknowledge the ping
/// in flight ([`Event::PongReceived(None)`](crate::Event::PongReceived)).
///
/// It works on `String` (line protocols, channels) and, with their features, on
/// tungstenite's, axum's and tokio-websockets' messages: text frames carry the
/// heartbeats, and WebSocket control frames keep their meaning (pings answered by the
/// stack, pongs and closes recognised).
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound, TextCodec};
/// use keepalive::PingId;
///
/// let mut codec = TextCodec::default();
/// let ping: String = codec.ping(PingId::new(1));
/// assert_eq!(ping, r#"{"type":"ping"}"#);
/// assert_eq!(codec.classify(&r#"{"type": "pong", "ts": 17}"#.to_string()), Inbound::Pong(None));
/// assert_eq!(codec.classify(&r#"{"type":"chat"}"#.to_string()), Inbound::Data);
///
/// // A protocol with bare words:
/// let mut words = TextCodec::with_texts("ping", "pong");
/// assert_eq!(words.classify(&"ping".to_string()), Inbound::Ping);
/// assert_eq!(words.pong(&"ping".to_string()), Some("pong".to_string()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextCodec {
    ping: String,
    pong: String,
}

impl Default for TextCodec {
    /// `{"type":"ping"}` / `{"type":"pong"}`.
    fn default() -> Self {
        TextCodec::with_texts(r#"{"type":"ping"}"#, r#"{"type":"pong"}"#)
    }
}

impl TextCodec {
    /// A codec that sends `ping` and answers pings with `pong`.
    pub fn with_texts(ping: impl Into<String>, pong: impl Into<String>) -> TextCodec {
        TextCodec {
            ping: ping.into(),
            pong: pong.into(),
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

    /// A configured text matches by its JSON `"type"` when it has one, else exactly. The
    /// message's own `"type"` is read once, and only when a configured text has one.
    fn classify_text(&self, text: &str) -> Inbound {
        let (ping, pong) = (type_field(&self.ping), type_field(&self.pong));
        let kind = if ping.is_some() || pong.is_some() {
            type_field(text)
        } else {
            None
        };
        let is = |want: &str, want_kind: Option<&str>| match want_kind {
            Some(k) => kind == Some(k),
            None => want == text,
        };
        if is(&self.ping, ping) {
            Inbound::Ping
        } else if is(&self.pong, pong) {
            Inbound::Pong(None)
        } else {
            Inbound::Data
        }
    }
}

impl HeartbeatCodec<String> for TextCodec {
    fn classify(&mut self, message: &String) -> Inbound {
        self.classify_text(message)
    }
    fn ping(&mut self, _id: PingId) -> String {
        self.ping.clone()
    }
    fn pong(&mut self, _ping: &String) -> Option<String> {
        Some(self.pong.clone())
    }
    fn close(&mut self, _reason: CloseReason) -> Option<String> {
        None
    }
}

/// `TextCodec` on a WebSocket stack's message `$m`: its text frames (read with `$text`,
/// built with `$make`) carry the heartbeats; everything else is [`WsCodec`](super::WsCodec)'s.
macro_rules! over_websocket {
    ($feature:literal, $m:ty, $text:expr, $make:expr) => {
        #[cfg(feature = $feature)]
        impl HeartbeatCodec<$m> for TextCodec {
            fn classify(&mut self, message: &$m) -> Inbound {
                let text: fn(&$m) -> Option<&str> = $text;
                match text(message) {
                    Some(t) => self.classify_text(t),
                    None => super::WsCodec.classify(message),
                }
            }
            fn ping(&mut self, _id: PingId) -> $m {
                let make: fn(&str) -> $m = $make;
                make(&self.ping)
            }
            fn pong(&mut self, ping: &$m) -> Option<$m> {
                let (text, make): (fn(&$m) -> Option<&str>, fn(&str) -> $m) = ($text, $make);
                // The stack answers its own ping frames.
                text(ping).map(|_| make(&self.pong))
            }
            fn close(&mut self, reason: CloseReason) -> Option<$m> {
                super::WsCodec.close(reason)
            }
            fn close_text<'m>(&self, message: &'m $m) -> Option<&'m str> {
                super::WsCodec.close_text(message)
            }
        }
    };
}

over_websocket!(
    "tungstenite",
    tungstenite::Message,
    |m| match m {
        tungstenite::Message::Text(t) => Some(t.as_str()),
        _ => None,
    },
    |t| tungstenite::Message::text(t)
);
over_websocket!(
    "axum",
    axum::extract::ws::Message,
    |m| match m {
        axum::extract::ws::Message::Text(t) => Some(t.as_str()),
        _ => None,
    },
    |t| axum::extract::ws::Message::text(t)
);
over_websocket!(
    "tokio-websockets",
    tokio_websockets::Message,
    tokio_websockets::Message::as_text,
    |t| tokio_websockets::Message::text(String::from(t))
);
