//! An axum WebSocket server with a heartbeat on every connection, bytes counted as life,
//! and what it does logged through `tracing`:
//!
//! ```text
//! cargo run --example axum_server --features axum,tracing -- --listen 127.0.0.1:9001
//! ```
//!
//! `/ws` echoes text and binary messages. The server pings a connection whose direction
//! has been quiet for `--ping-interval-ms` (default 20000) and closes it with 1011 when
//! nothing comes back within `--pong-timeout-ms` (default 20000): a frozen client, a dead
//! NAT path. A large message over a slow link is no silence (the listener meters every
//! connection). Connect with `cargo run --example ws_client --features tokio,tungstenite
//! -- --url ws://127.0.0.1:9001/ws`.

#[path = "support/mod.rs"]
mod support;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::{routing::get, Router};
use futures_util::{SinkExt, StreamExt};
use keepalive::axum::{MeteredListener, Peer};
use keepalive::codec::WsCodec;
use keepalive::driver::Heartbeat;
use keepalive::tokio::Tokio;
use keepalive::Config;
use std::process::ExitCode;
use support::{millis, parse_flags};

const FLAGS: &[&str] = &["listen", "ping-interval-ms", "pong-timeout-ms"];

/// One connection: echo, until the heartbeat or the peer ends it.
async fn serve(socket: WebSocket, peer: Peer, config: Config) {
    // The one line: the heartbeat on axum's socket, with the connection's meter.
    let mut conn = Heartbeat::new(Tokio, socket, WsCodec, config)
        .with_meter(peer.meter())
        .with_peer(peer.addr());
    while let Some(Ok(message)) = conn.next().await {
        if conn.send(message).await.is_err() {
            break; // the stream yields how it ended; the heartbeat has logged it
        }
    }
}

async fn ws(
    upgrade: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<Peer>,
    config: Config,
) -> Response {
    upgrade.on_upgrade(move |socket| serve(socket, peer, config))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_target(false)
        .init();
    let mut listen = "127.0.0.1:9001".to_string();
    let mut config = Config::server();
    let flags = match parse_flags(std::env::args().skip(1), FLAGS) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("axum_server: {e}");
            return ExitCode::from(2);
        }
    };
    for (name, value) in flags {
        let ms = || millis(&name, &value);
        config = match name.as_str() {
            "listen" => {
                listen = value.clone();
                config
            }
            "ping-interval-ms" => match ms() {
                Ok(d) => config.ping_interval(d),
                Err(e) => return fail(&e),
            },
            "pong-timeout-ms" => match ms() {
                Ok(d) => config.pong_timeout(d),
                Err(e) => return fail(&e),
            },
            _ => config,
        };
    }
    let config = match config.build() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let listener = match MeteredListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {listen}: {e}")),
    };
    let app = Router::new().route("/ws", get(move |upgrade, info| ws(upgrade, info, config)));
    eprintln!("axum_server: listening on ws://{listen}/ws");
    match axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(e: &str) -> ExitCode {
    eprintln!("axum_server: {e}");
    ExitCode::from(1)
}
