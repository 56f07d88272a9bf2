//! The application-level JSON heartbeat, for peers that cannot send WebSocket ping
//! frames (browsers): the client sends `{"type":"ping"}` every interval and reconnects
//! with backoff; the server answers `{"type":"pong"}` and closes a client after
//! `idle_timeout` without one. One JSON object per line on stdout.
//!
//! ```text
//! cargo run --example app_heartbeat --features tokio,tungstenite              # both, 4 s
//! cargo run --example app_heartbeat --features tokio,tungstenite -- --mode server --listen 127.0.0.1:9002
//! cargo run --example app_heartbeat --features tokio,tungstenite -- --mode client --url ws://127.0.0.1:9002
//! ```
//!
//! Flags: `--mode` (both | server | client), `--listen`, `--url`, `--ping-interval-ms`
//! (client, default 500), `--idle-timeout-ms` (server, default 1500), `--run-ms` (how long
//! `both` runs, default 4000).

#[path = "support/mod.rs"]
mod support;

use futures_util::StreamExt;
use keepalive::codec::TextCodec;
use keepalive::driver::{Attempt, Client, Events, Heartbeat};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::{Config, Duration, PingPolicy};
use std::process::ExitCode;
use std::time::Instant;
use support::{connect_metered, event_json, json_str, millis, parse_flags};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

struct Opts {
    mode: String,
    listen: String,
    url: Option<String>,
    ping_interval: Duration,
    idle_timeout: Duration,
    run: Duration,
}

fn setup() -> Result<Opts, String> {
    let mut o = Opts {
        mode: "both".into(),
        listen: "127.0.0.1:0".into(),
        url: None,
        ping_interval: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(1500),
        run: Duration::from_millis(4000),
    };
    let known = [
        "mode",
        "listen",
        "url",
        "ping-interval-ms",
        "idle-timeout-ms",
        "run-ms",
    ];
    for (name, value) in parse_flags(std::env::args().skip(1), &known)? {
        match name.as_str() {
            "mode" if ["both", "server", "client"].contains(&value.as_str()) => o.mode = value,
            "mode" => return Err(format!("--mode is both, server or client; got {value:?}")),
            "listen" => o.listen = value,
            "url" => o.url = Some(value),
            "ping-interval-ms" => o.ping_interval = millis(&name, &value)?,
            "idle-timeout-ms" => o.idle_timeout = millis(&name, &value)?,
            "run-ms" => o.run = millis(&name, &value)?,
            _ => {}
        }
    }
    if o.mode == "client" && o.url.is_none() {
        return Err("--mode client needs --url, like --url ws://127.0.0.1:9002".into());
    }
    Ok(o)
}

fn emit(start: Instant, who: &str, body: &str) {
    println!(
        r#"{{"t_ms":{},"side":"{who}",{body}}}"#,
        start.elapsed().as_millis()
    );
}

/// Answers `{"type":"ping"}` with `{"type":"pong"}`; closes a client silent for `idle`.
async fn serve(listener: TcpListener, idle: Duration, start: Instant) {
    let config = match Config::server()
        .ping_policy(PingPolicy::Never) // the clients ping; we only answer
        .idle_timeout(idle)
        .build()
    {
        Ok(c) => c,
        Err(e) => return eprintln!("app_heartbeat: {e}"),
    };
    while let Ok((tcp, peer)) = listener.accept().await {
        tokio::spawn(async move {
            let meter = Meter::new(); // bytes count as life, not only messages
            let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
                return;
            };
            emit(
                start,
                "server",
                &format!(r#""event":"connected","peer":"{peer}""#),
            );
            let mut hb = Heartbeat::new(Tokio, ws, TextCodec::default(), config).with_meter(meter);
            loop {
                match hb.next().await {
                    Some(Ok(Message::Text(t))) => {
                        emit(
                            start,
                            "server",
                            &format!(r#""event":"message","text":{}"#, json_str(&t)),
                        );
                    }
                    Some(Ok(_)) => {}
                    Some(Err(end)) => {
                        let code = end.code().map_or("null".into(), |c: u16| c.to_string());
                        emit(
                            start,
                            "server",
                            &format!(
                                r#""event":"closed","reason":"{}","code":{code}"#,
                                end.reason().name()
                            ),
                        );
                        return;
                    }
                    None => return,
                }
            }
        });
    }
}

type Session = (Client<Message>, Events<Message>);

fn client(url: String, interval: Duration) -> Result<Session, String> {
    let config = Config::client()
        .ping_interval(interval)
        .pong_timeout(interval)
        .backoff_initial(Duration::from_millis(200))
        .backoff_max(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    Client::builder(config, TextCodec::default(), move |attempt: Attempt| {
        let url = url.clone();
        async move { connect_metered(&url, attempt.meter()).await }
    })
    .spawn(Tokio)
    .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match setup() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("app_heartbeat: {e}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let mut url = o.url.clone();
    if o.mode != "client" {
        let listener = match TcpListener::bind(&o.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("app_heartbeat: cannot listen on {}: {e}", o.listen);
                return ExitCode::from(1);
            }
        };
        if let Ok(addr) = listener.local_addr() {
            eprintln!("app_heartbeat: server on ws://{addr}");
            url.get_or_insert(format!("ws://{addr}"));
        }
        let server = tokio::spawn(serve(listener, o.idle_timeout, start));
        if o.mode == "server" {
            let _ = tokio::signal::ctrl_c().await;
            server.abort();
            return ExitCode::SUCCESS;
        }
    }
    let Some(url) = url else {
        return ExitCode::from(2);
    };
    let (c, mut events) = match client(url, o.ping_interval) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("app_heartbeat: {e}");
            return ExitCode::from(2);
        }
    };
    let stop_at = tokio::time::Instant::now() + o.run;
    let stop = tokio::time::sleep_until(stop_at);
    tokio::pin!(stop);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    if let Some(body) = event_json(event, &c.stats()) {
                        emit(start, "client", &body);
                    }
                }
                None => return ExitCode::SUCCESS,
            },
            _ = &mut stop, if o.mode == "both" => {
                c.shutdown();
                stop.as_mut().reset(stop_at + Duration::from_secs(3600));
            }
            _ = &mut ctrl_c => c.shutdown(),
        }
    }
}
