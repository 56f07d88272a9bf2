//! Timing shared by the loopback adapter tests (`tokio_ws.rs`, `async_io_ws.rs`), a
//! throttling proxy and the slow-link checks.
//!
//! Intervals of 100 ms or more and generous slack on every real-time bound: no flakes on
//! a loaded 2-core machine.
#![allow(dead_code)] // each suite uses what it needs

#[cfg(feature = "axum")]
pub mod axum_server;
pub mod flood;
#[cfg(target_os = "linux")]
pub mod lab;
pub mod peer;
pub mod slow;
pub mod throttle;

use keepalive::{Config, Duration};

/// The client's ping interval.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// The client's pong timeout.
pub const PONG: Duration = Duration::from_millis(200);
/// Scheduling slack on top of every real-time bound.
pub const SLACK: Duration = Duration::from_millis(700);
/// No test waits longer than this for one event.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The client config of the loopback tests: fast heartbeats, short backoff, connect
/// and close timeouts, a fixed seed.
pub fn config() -> Config {
    Config::client()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .backoff_initial(Duration::from_millis(100))
        .backoff_max(Duration::from_millis(400))
        .connect_timeout(Duration::from_millis(300))
        .close_timeout(Duration::from_millis(500))
        .seed(7)
        .build()
        .expect("valid test config")
}

/// A server config for the loopback tests: pings every `interval`, and polices the
/// peer's pings as a server does by default (50 ms: never tripped by the test client,
/// which pings every 100 ms).
pub fn server_config(interval: Duration, pong: Duration) -> Config {
    Config::server()
        .ping_interval(interval)
        .pong_timeout(pong)
        .build()
        .expect("a valid server config")
}

/// A `Closed` event as `(reason, code)`, to compare; `None` for any other event.
pub fn closed<M>(
    event: &keepalive::driver::SessionEvent<M>,
) -> Option<(keepalive::CloseReason, Option<u16>)> {
    match event {
        keepalive::driver::SessionEvent::Closed(end) => Some((end.reason(), end.code())),
        _ => None,
    }
}

/// A spawned client: the handle that sends, and the stream of what happens.
pub struct Session<M> {
    pub client: keepalive::driver::Client<M>,
    pub events: keepalive::driver::Events<M>,
}

impl<M> Session<M> {
    /// The next event.
    pub async fn next(&mut self) -> Option<keepalive::driver::SessionEvent<M>> {
        futures_util::StreamExt::next(&mut self.events).await
    }

    /// Sends on the open connection.
    pub async fn send(&self, m: M) -> Result<(), keepalive::driver::SendError<M>> {
        self.client.send(m).await
    }
}

impl<M> From<(keepalive::driver::Client<M>, keepalive::driver::Events<M>)> for Session<M> {
    fn from(
        (client, events): (keepalive::driver::Client<M>, keepalive::driver::Events<M>),
    ) -> Self {
        Session { client, events }
    }
}

/// A tokio-tungstenite WebSocket over a metered TCP stream.
#[cfg(feature = "tokio")]
pub type MeteredWs =
    tokio_tungstenite::WebSocketStream<keepalive::meter::Metered<tokio::net::TcpStream>>;

/// Connects to a `ws://host:port[/path]` URL on tokio with the TCP stream in the
/// attempt's meter: bytes count as life, as the README shows.
#[cfg(feature = "tokio")]
pub async fn connect(
    url: String,
    attempt: keepalive::driver::Attempt,
) -> Result<MeteredWs, tokio_tungstenite::tungstenite::Error> {
    let rest = url.trim_start_matches("ws://");
    let host = rest.split('/').next().unwrap_or(rest);
    let tcp = tokio::net::TcpStream::connect(host).await?;
    Ok(
        tokio_tungstenite::client_async(url, attempt.meter().tcp(tcp))
            .await?
            .0,
    )
}

/// Our reconnecting client on tokio (tungstenite frames), connecting with [`connect`].
#[cfg(feature = "tokio")]
pub fn client(
    url: &str,
    config: keepalive::Config,
) -> Session<tokio_tungstenite::tungstenite::Message> {
    let url = url.to_string();
    keepalive::driver::Client::builder(config, keepalive::codec::WsCodec, move |attempt| {
        connect(url.clone(), attempt)
    })
    .spawn(keepalive::tokio::Tokio)
    .expect("a client's config")
    .into()
}
