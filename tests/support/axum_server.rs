//! A real axum server on loopback: `axum::serve` with the metered listener, one
//! `Heartbeat` (WsCodec, or TextCodec) per WebSocket, echoing text and answering each binary message
//! with `got <bytes>`. Each connection's end is reported on a channel.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use keepalive::axum::{MeteredListener, Peer};
use keepalive::codec::{HeartbeatCodec, TextCodec, WsCodec};
use keepalive::driver::Heartbeat;
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How one connection to the axum server ended.
#[derive(Debug)]
pub struct Served {
    pub reason: CloseReason,
    pub code: Option<u16>,
    pub pongs_received: u32,
    pub lived: Duration,
}

/// Starts the server with `config` for every connection, WebSocket ping frames; returns
/// its `ws://` URL and the ends of its connections.
pub async fn start(config: Config) -> (String, mpsc::UnboundedReceiver<Served>) {
    start_with(config, WsCodec).await
}

/// The same server with application-level JSON heartbeats (`TextCodec`).
pub async fn start_text(config: Config) -> (String, mpsc::UnboundedReceiver<Served>) {
    start_with(config, TextCodec::default()).await
}

async fn start_with<C>(config: Config, codec: C) -> (String, mpsc::UnboundedReceiver<Served>)
where
    C: HeartbeatCodec<Message> + Clone + Send + Sync + 'static,
{
    let listener = MeteredListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = axum::serve::Listener::local_addr(&listener)
        .expect("addr")
        .addr();
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/ws",
        get(
            move |upgrade: WebSocketUpgrade, ConnectInfo(peer): ConnectInfo<Peer>| {
                let (tx, codec) = (tx.clone(), codec.clone());
                async move {
                    upgrade.on_upgrade(move |socket| serve(socket, codec, peer, config, tx))
                        as Response
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await;
    });
    (format!("ws://{addr}/ws"), rx)
}

async fn serve<C>(
    socket: WebSocket,
    codec: C,
    peer: Peer,
    config: Config,
    ends: mpsc::UnboundedSender<Served>,
) where
    C: HeartbeatCodec<Message>,
{
    let started = Instant::now();
    let mut hb = Heartbeat::new(Tokio, socket, codec, config)
        .with_meter(peer.meter())
        .with_peer(peer.addr());
    let end = loop {
        match hb.next().await {
            Some(Ok(Message::Binary(b))) => {
                let got = Message::text(format!("got {}", b.len()));
                if hb.send(got).await.is_err() {
                    continue; // the stream yields the end
                }
            }
            Some(Ok(m)) => {
                let _ = hb.send(m).await;
            }
            Some(Err(end)) => break end,
            None => return,
        }
    };
    let _ = ends.send(Served {
        reason: end.reason(),
        code: end.code(),
        pongs_received: hb.stats().pongs_received,
        lived: started.elapsed(),
    });
}
