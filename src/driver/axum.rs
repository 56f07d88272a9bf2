//! axum 0.8 (feature `axum`): the heartbeat on the `WebSocket` an upgrade hands to a
//! handler, with bytes counted as life.
//!
//! axum builds the `WebSocket` from the upgraded HTTP connection, so wrapping a stream at
//! connect time is out of reach. Instead [`MeteredListener`] meters every connection
//! `axum::serve` accepts and hands its [`Meter`] to the handler through connect info
//! ([`Peer`]); one line in the handler connects the two:
//!
//! ```no_run
//! use axum::extract::ws::{WebSocket, WebSocketUpgrade};
//! use axum::extract::ConnectInfo;
//! use axum::response::Response;
//! use axum::{routing::get, Router};
//! use futures_util::{SinkExt, StreamExt};
//! use keepalive::axum::{MeteredListener, Peer};
//! use keepalive::codec::WsCodec;
//! use keepalive::driver::Heartbeat;
//! use keepalive::tokio::Tokio;
//! use keepalive::Config;
//!
//! async fn ws(upgrade: WebSocketUpgrade, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
//!     upgrade.on_upgrade(move |socket: WebSocket| async move {
//!         let config = Config::server().build().expect("defaults");
//!         let mut conn = Heartbeat::new(Tokio, socket, WsCodec, config).with_meter(peer.meter());
//!         while let Some(Ok(message)) = conn.next().await {
//!             if conn.send(message).await.is_err() {
//!                 break; // ended: a pong timeout (1011 sent), too many pings (1008), ...
//!             }
//!         }
//!     })
//! }
//!
//! # async fn doc() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", get(ws));
//! let listener = MeteredListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await
//! # }
//! ```

use super::meter::{Meter, Metered};
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use core::time::Duration;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// A TCP listener for `axum::serve` that wraps every accepted connection in a
/// [`Metered`] stream (`TCP_NOTSENT_LOWAT` where the platform has it) and gives the
/// handler its [`Meter`] through `ConnectInfo<Peer>`.
#[derive(Debug)]
pub struct MeteredListener {
    inner: TcpListener,
}

impl MeteredListener {
    /// Meters what `listener` accepts.
    pub fn new(listener: TcpListener) -> MeteredListener {
        MeteredListener { inner: listener }
    }

    /// Binds a TCP listener to `addr` and meters what it accepts.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<MeteredListener> {
        Ok(MeteredListener::new(TcpListener::bind(addr).await?))
    }
}

impl Listener for MeteredListener {
    type Io = Metered<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((tcp, addr)) => {
                    let meter = Meter::new();
                    return (meter.tcp(tcp), Peer { addr, meter });
                }
                // A connection that failed before we took it: take the next one.
                Err(e) if is_connection_error(&e) => continue,
                // Out of file descriptors and the like: wait, as hyper's server does,
                // rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Ok(Peer {
            addr: self.inner.local_addr()?,
            meter: Meter::new(),
        })
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The connect info of a metered connection: the peer's address, and the meter of its
/// bytes for [`Heartbeat::with_meter`](crate::driver::Heartbeat::with_meter).
#[derive(Clone, Debug)]
pub struct Peer {
    addr: SocketAddr,
    meter: Meter,
}

impl Peer {
    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The meter of the connection's bytes.
    pub fn meter(&self) -> Meter {
        self.meter.clone()
    }
}

impl Connected<IncomingStream<'_, MeteredListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, MeteredListener>) -> Peer {
        stream.remote_addr().clone()
    }
}
