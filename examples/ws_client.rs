//! A wscat-like WebSocket client that shows a connection's heartbeat life, one JSON object
//! per line on stdout. Lines typed on stdin are sent as text messages; Ctrl-C closes with
//! code 1000 and exits 0.
//!
//! ```text
//! cargo run --example ws_client --features tokio,tungstenite -- --url ws://127.0.0.1:9001
//! {"t_ms":3,"event":"connected","bound_ms":40000}
//! {"t_ms":20004,"event":"ping_sent","id":1}
//! {"t_ms":20005,"event":"pong","rtt_ms":0.4}
//! ```
//!
//! Flags (milliseconds): `--url` (required; more than once to rotate: each attempt takes
//! the next), `--ping-interval-ms`, `--pong-timeout-ms`,
//! `--backoff-initial-ms`, `--backoff-max-ms`, `--max-attempts`, `--connect-timeout-ms`.
//! Events: `connected` (`bound_ms`: the dead-peer bound in force), `ping_sent` (`id`),
//! `pong` (`rtt_ms`), `message` (`text`, or `binary_len`), `closed` (`reason`:
//! pong_timeout | idle_timeout | shutdown | too_many_pings | transport | peer_closed;
//! `code`; `error` or `close_reason` when there is one; `bound_ms`), `connect_failed`
//! (`reason`, `error`), `reconnecting` (`after_ms`), `slowing_down` (`ping_interval_ms`:
//! the server said "too many pings"), `gave_up` (`reason`, `fatal`), and `send_failed`
//! (`text`, `error`) for a line that could not be sent (while disconnected, say):
//! nothing typed is dropped in silence.

#[path = "support/mod.rs"]
mod support;

use futures_util::StreamExt;
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client};
use keepalive::tokio::Tokio;
use keepalive::Config;
use std::process::ExitCode;
use std::time::Instant;
use support::{connect_metered, event_json, json_str, millis, parse_flags};
use tokio_tungstenite::tungstenite::Message;

const FLAGS: &[&str] = &[
    "url",
    "ping-interval-ms",
    "pong-timeout-ms",
    "backoff-initial-ms",
    "backoff-max-ms",
    "max-attempts",
    "connect-timeout-ms",
];

fn setup() -> Result<(Vec<String>, Config), String> {
    let mut urls = Vec::new();
    let mut b = Config::client();
    for (name, value) in parse_flags(std::env::args().skip(1), FLAGS)? {
        b = match name.as_str() {
            "url" => {
                urls.push(value);
                b
            }
            "ping-interval-ms" => b.ping_interval(millis(&name, &value)?),
            "pong-timeout-ms" => b.pong_timeout(millis(&name, &value)?),
            "backoff-initial-ms" => b.backoff_initial(millis(&name, &value)?),
            "backoff-max-ms" => b.backoff_max(millis(&name, &value)?),
            "connect-timeout-ms" => b.connect_timeout(millis(&name, &value)?),
            "max-attempts" => b.max_attempts(
                value
                    .parse()
                    .map_err(|_| format!("--max-attempts takes a whole number; got {value:?}"))?,
            ),
            _ => b,
        };
    }
    if urls.is_empty() {
        return Err(
            "--url is required, like --url ws://127.0.0.1:9001 (give it more than once to rotate)"
                .into(),
        );
    }
    let config = b.build().map_err(|e| e.to_string())?;
    Ok((urls, config))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (urls, config) = match setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ws_client: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    // Each attempt takes the next URL: a refused or lost server hands over to the next.
    let spawned = Client::builder(config, WsCodec, move |attempt: Attempt| {
        let url = urls[(attempt.number() as usize - 1) % urls.len()].clone();
        async move { connect_metered(&url, attempt.meter()).await }
    })
    .spawn(Tokio);
    let (client, mut events) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            eprintln!("ws_client: {e}");
            return ExitCode::from(2);
        }
    };
    // Stdin from a plain thread: tokio's stdin would hold up the runtime's shutdown
    // while a read is blocked on an open terminal or pipe.
    let (typed_tx, mut typed) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if typed_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin_open = true;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut stopping = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    if let Some(body) = event_json(event, &client.stats()) {
                        println!(r#"{{"t_ms":{},{body}}}"#, start.elapsed().as_millis());
                    }
                }
                None => break,
            },
            line = typed.recv(), if stdin_open && !stopping => match line {
                Some(text) => {
                    if let Err(e) = client.send(Message::text(text.clone())).await {
                        println!(
                            r#"{{"t_ms":{},"event":"send_failed","text":{},"error":{}}}"#,
                            start.elapsed().as_millis(),
                            json_str(&text),
                            json_str(&e.to_string())
                        );
                    }
                }
                None => stdin_open = false,
            },
            _ = &mut ctrl_c, if !stopping => {
                stopping = true;
                client.shutdown(); // closes with 1000; the stream ends after "closed"
            }
        }
    }
    ExitCode::SUCCESS
}
