//! How a transport's messages map onto the heartbeat: [`HeartbeatCodec`].
//!
//! The machine speaks of pings, pongs, data and closes; a transport speaks of its own
//! messages. A codec translates both ways, so one driver serves WebSocket control frames
//! ([`WsCodec`], for tungstenite's, axum's and tokio-websockets' messages) and
//! application-level heartbeats such as `{"type":"ping"}` ([`TextCodec`], feature
//! `alloc`) alike. Any other transport: implement [`HeartbeatCodec`] for its messages.

use crate::event::PingId;
use crate::reason::CloseReason;

#[cfg(feature = "alloc")]
mod json;
#[cfg(feature = "alloc")]
mod text;
#[cfg(any(
    feature = "tungstenite",
    feature = "axum",
    feature = "tokio-websockets"
))]
mod ws;

#[cfg(feature = "alloc")]
pub use text::TextCodec;
#[cfg(any(
    feature = "tungstenite",
    feature = "axum",
    feature = "tokio-websockets"
))]
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

/// Maps a transport's messages `M` to heartbeat events and builds the heartbeat's own.
///
/// ```
/// use keepalive::codec::{HeartbeatCodec, Inbound};
/// use keepalive::{CloseReason, PingId};
///
/// /// A line protocol: "PING <id>", "PONG <id>", anything else is data.
/// struct Lines;
/// impl HeartbeatCodec<String> for Lines {
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
pub trait HeartbeatCodec<M> {
    /// What `message` is. Called for every inbound message, before anything else.
    fn classify(&mut self, message: &M) -> Inbound;
    /// A ping carrying `id` (transports that cannot carry it may leave it out; their
    /// pongs then classify as `Pong(None)`).
    fn ping(&mut self, id: PingId) -> M;
    /// The answer to `ping`, or `None` when the transport answers pings itself
    /// (tungstenite, axum and tokio-websockets do, on their next flush; the driver
    /// flushes at once, and reads nothing more until that flush completes).
    fn pong(&mut self, ping: &M) -> Option<M>;
    /// The message that starts a close for `reason`, or `None` when the transport has
    /// none (the driver then closes the transport directly).
    fn close(&mut self, reason: CloseReason) -> Option<M>;
    /// The reason text of a close message from the peer (classified
    /// [`Inbound::Close`]), if it carries one: for errors and logs, and to tell "too
    /// many pings" ([`CloseReason::from_peer`]) (default: none).
    fn close_text<'m>(&self, message: &'m M) -> Option<&'m str> {
        let _ = message;
        None
    }
}
