//! How a transport's messages map onto the heartbeat: [`HeartbeatCodec`].
//!
//! The machine speaks of pings, pongs, data and closes; a transport speaks of its own
//! messages. A codec translates both ways, so one driver serves WebSocket control frames
//! (`WsCodec` for tungstenite, feature `tungstenite`; `AxumCodec`, feature `axum`;
//! `TokioWebsocketsCodec`, feature `tokio-websockets`) and application-level heartbeats
//! such as `{"type":"ping"}` (`TextCodec`, feature `alloc`) alike. Any other transport:
//! implement [`HeartbeatCodec`] (below).

use crate::event::PingId;
use crate::reason::CloseReason;

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "alloc")]
mod json;
#[cfg(feature = "alloc")]
mod text;
#[cfg(feature = "tokio-websockets")]
mod tokio_websockets;
#[cfg(feature = "tungstenite")]
mod ws;

#[cfg(feature = "axum")]
pub use self::axum::AxumCodec;
#[cfg(feature = "tokio-websockets")]
pub use self::tokio_websockets::TokioWebsocketsCodec;
#[cfg(feature = "alloc")]
pub use text::{TextCodec, TextMessage};
#[cfg(feature = "tungstenite")]
pub use ws::WsCodec;

/// What an inbound message is, as far as the heartbeat is concerned.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Inbound {
    /// The peer pings us: answer (the machine says [`SendPong`](crate::Action::SendPong)).
    Ping,
    /// The peer answers a ping; `Some(id)` when it echoed one of ours.
    Pong(Option<PingId>),
    /// Anything else: the application's message. Proves the peer alive.
    Data,
    /// The peer closes the connection, with this close code if it gave one.
    Close(Option<u16>),
}

/// Maps a transport's messages to heartbeat events and builds the heartbeat's own.
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound};
/// use keepalive::{CloseReason, PingId};
///
/// /// A line protocol: "PING <id>", "PONG <id>", anything else is data.
/// struct Lines;
/// impl HeartbeatCodec for Lines {
///     type Message = String;
///     fn classify(&mut self, m: &String) -> Inbound {
///         let id = |s: &str| s.parse().ok().map(PingId::new);
///         match m.split_once(' ') {
///             Some(("PING", _)) => Inbound::Ping,
///             Some(("PONG", n)) => Inbound::Pong(id(n)),
///             _ => Inbound::Data,
///         }
///     }
///     fn ping(&mut self, id: PingId) -> String {
///         format!("PING {id}")
///     }
///     fn pong(&mut self, ping: &String) -> Option<String> {
///         Some(ping.replacen("PING", "PONG", 1))
///     }
///     fn close(&mut self, _: CloseReason) -> Option<String> {
///         None // no close message: the driver just closes the transport
///     }
/// }
///
/// let ping = Lines.ping(PingId::new(7));
/// assert_eq!(Lines.classify(&ping), Inbound::Ping);
/// let pong = Lines.pong(&ping).unwrap();
/// assert_eq!(Lines.classify(&pong), Inbound::Pong(Some(PingId::new(7))));
/// ```
pub trait HeartbeatCodec {
    /// The transport's message type.
    type Message;
    /// What `message` is. Called for every inbound message, before anything else.
    fn classify(&mut self, message: &Self::Message) -> Inbound;
    /// A ping carrying `id` (transports that cannot carry it may leave it out; their
    /// pongs then classify as `Pong(None)`).
    fn ping(&mut self, id: PingId) -> Self::Message;
    /// The answer to `ping`, or `None` when the transport answers pings itself
    /// (tungstenite does, on its next write or flush; the driver flushes at once).
    fn pong(&mut self, ping: &Self::Message) -> Option<Self::Message>;
    /// The message that starts a close for `reason`, or `None` when the transport has
    /// none (the driver then closes the transport directly).
    fn close(&mut self, reason: CloseReason) -> Option<Self::Message>;
    /// The reason text of a close message from the peer (classified
    /// [`Inbound::Close`]), if it carries one: for errors and logs (default: none).
    fn close_reason<'m>(&self, message: &'m Self::Message) -> Option<&'m str> {
        let _ = message;
        None
    }
}
