//! A WebSocket echo server that pings its clients and closes the silent ones (server
//! role): one JSON object per line on stdout for every connection's life.
//!
//! ```text
//! cargo run --example ws_server --features tokio,tungstenite -- --listen 127.0.0.1:9001
//! {"t_ms":1520,"conn":1,"event":"connected","peer":"127.0.0.1:50312"}
//! {"t_ms":21521,"conn":1,"event":"ping_sent","id":1}
//! {"t_ms":21522,"conn":1,"event":"pong","rtt_ms":0.3}
//! {"t_ms":61530,"conn":1,"event":"closed","reason":"pong_timeout","code":1011}
//! ```
//!
//! Flags: `--listen` (default 127.0.0.1:9001), `--ping-interval-ms`, `--pong-timeout-ms`.
//! Ctrl-C closes every connection with 1000 and exits.

#[path = "support/mod.rs"]
mod support;

use futures_util::SinkExt;
use keepalive::codec::WsCodec;
use keepalive::driver::Update;
use keepalive::meter::Meter;
use keepalive::tokio::Heartbeat;
use keepalive::Config;
use std::future::poll_fn;
use std::process::ExitCode;
use std::time::Instant;
use support::{json_str, millis, parse_flags};
use tokio::net::TcpListener;
use tokio::sync::watch;

fn setup() -> Result<(String, Config), String> {
    let mut listen = "127.0.0.1:9001".to_string();
    let mut b = Config::server();
    for (name, value) in parse_flags(
        std::env::args().skip(1),
        &["listen", "ping-interval-ms", "pong-timeout-ms"],
    )? {
        b = match name.as_str() {
            "listen" => {
                listen = value;
                b
            }
            "ping-interval-ms" => b.ping_interval(millis(&name, &value)?),
            "pong-timeout-ms" => b.pong_timeout(millis(&name, &value)?),
            _ => b,
        };
    }
    Ok((listen, b.build().map_err(|e| e.to_string())?))
}

fn emit(start: Instant, conn: u64, body: &str) {
    println!(
        r#"{{"t_ms":{},"conn":{conn},{body}}}"#,
        start.elapsed().as_millis()
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, config) = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ws_server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ws_server: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let start = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id = 0u64;
    eprintln!("ws_server: listening on ws://{listen}");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                next_id += 1;
                let id = next_id;
                let mut stop = stop_rx.clone();
                tokio::spawn(async move {
                    let meter = Meter::new(); // bytes count as life, not only messages
                    let ws = match tokio_tungstenite::accept_async(meter.tcp(tcp)).await {
                        Ok(ws) => ws,
                        Err(e) => {
                            emit(start, id, &format!(r#""event":"handshake_failed","error":{}"#, json_str(&e.to_string())));
                            return;
                        }
                    };
                    emit(start, id, &format!(r#""event":"connected","peer":"{peer}""#));
                    let mut hb: Heartbeat<_, _> = Heartbeat::new(ws, WsCodec, config).with_meter(meter);
                    loop {
                        let update = tokio::select! {
                            u = poll_fn(|cx| hb.poll_update(cx)) => u,
                            _ = stop.changed() => {
                                let _ = hb.close().await; // 1000
                                continue; // the stream now yields the end
                            }
                        };
                        match update {
                            Some(Ok(Update::Message(m))) => {
                                if m.is_text() || m.is_binary() {
                                    // Echo. A failed send ends the connection; the end is reported next.
                                    let _ = hb.send(m).await;
                                }
                            }
                            Some(Ok(Update::PingSent(pid))) => emit(start, id, &format!(r#""event":"ping_sent","id":{pid}"#)),
                            Some(Ok(Update::Pong { rtt, .. })) => emit(start, id, &format!(r#""event":"pong","rtt_ms":{:.3}"#, rtt.as_secs_f64() * 1e3)),
                            Some(Ok(_)) => {}
                            Some(Err(end)) => {
                                let code = end.code().map_or("null".to_string(), |c| c.to_string());
                                emit(start, id, &format!(r#""event":"closed","reason":"{}","code":{code}"#, end.cause()));
                                return;
                            }
                            None => return,
                        }
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = stop_tx.send(true);
                // Give the connections their close handshake (at most close_timeout).
                tokio::time::sleep(config.close_timeout().min(std::time::Duration::from_secs(2))).await;
                return ExitCode::SUCCESS;
            }
        }
    }
}
