//! A WebSocket echo server that pings its clients and closes the silent ones (server
//! role): one JSON object per line on stdout for every connection's life.
//!
//! ```text
//! cargo run --example ws_server --features tokio,tungstenite -- --listen 127.0.0.1:9001
//! {"t_ms":1520,"conn":1,"event":"connected","peer":"127.0.0.1:50312","bound_ms":40000}
//! {"t_ms":61530,"conn":1,"event":"closed","reason":"pong_timeout","code":1011,"pings":3,"pongs":2,"rtt_ms":0.3,"bound_ms":40000}
//! ```
//!
//! Flags: `--listen` (default 127.0.0.1:9001), `--ping-interval-ms`, `--pong-timeout-ms`,
//! `--min-ping-interval-ms` (ping policing; 0 turns it off). Ctrl-C closes every
//! connection with 1000 and exits.

#[path = "support/mod.rs"]
mod support;

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::Heartbeat;
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::Stats;
use std::process::ExitCode;
use std::time::Instant;
use support::{json_str, server_flags};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The heartbeat's figures for a `closed` line.
fn figures(s: &Stats) -> String {
    let rtt = s.smoothed_rtt.map_or("null".to_string(), |d| {
        format!("{:.3}", d.as_secs_f64() * 1e3)
    });
    format!(
        r#""pings":{},"pongs":{},"rtt_ms":{rtt},"bound_ms":{}"#,
        s.pings_sent,
        s.pongs_received,
        s.dead_peer_bound.as_millis()
    )
}

fn emit(start: Instant, conn: u64, body: &str) {
    println!(
        r#"{{"t_ms":{},"conn":{conn},{body}}}"#,
        start.elapsed().as_millis()
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, config) = match server_flags("127.0.0.1:9001") {
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
                    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
                    let bound = hb.stats().dead_peer_bound.as_millis();
                    emit(start, id, &format!(r#""event":"connected","peer":"{peer}","bound_ms":{bound}"#));
                    loop {
                        let next = tokio::select! {
                            m = hb.next() => m,
                            _ = stop.changed() => {
                                let _ = hb.close().await; // 1000
                                continue; // the stream now yields the end
                            }
                        };
                        match next {
                            Some(Ok(m)) => {
                                if m.is_text() || m.is_binary() {
                                    // Echo. A failed send ends the connection; the end is reported next.
                                    let _ = hb.send(m).await;
                                }
                            }
                            Some(Err(end)) => {
                                let code = end.code().map_or("null".to_string(), |c| c.to_string());
                                let body = format!(
                                    r#""event":"closed","reason":"{}","code":{code},{}"#,
                                    end.reason().name(),
                                    figures(&hb.stats())
                                );
                                emit(start, id, &body);
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
