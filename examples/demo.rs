//! The crate doing its job, on loopback, in about ten seconds:
//!
//! ```text
//! cargo run --example demo --features tokio,tungstenite
//! ```
//!
//! A server and a reconnecting client in one process. The client pings every 0.5 s and
//! shows the round trips; then the server freezes (it stops reading and answering but
//! keeps the socket open, like a stopped process or a dead NAT path); the client detects
//! it within `ping_interval + pong_timeout`, closes with 1011 and retries with backoff
//! (the frozen server accepts TCP but never completes the handshake, so the attempts time
//! out); the server comes back and the client reconnects; finally it shuts down with 1000.

use futures_util::StreamExt;
use keepalive::codec::WsCodec;
use keepalive::driver::{Cause, Client, SessionEvent, Update};
use keepalive::tokio::{Heartbeat, Tokio};
use keepalive::{Config, Duration};
use std::future::poll_fn;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::sleep_until;

const PING_INTERVAL: Duration = Duration::from_millis(500);
const PONG_TIMEOUT: Duration = Duration::from_millis(1000);
const FREEZE_AT: Duration = Duration::from_millis(2500);
const THAW_AT: Duration = Duration::from_millis(6500);
const STOP_AT: Duration = Duration::from_millis(9500);

fn say(start: Instant, who: &str, what: impl std::fmt::Display) {
    println!("{:>7.3}s  {who:<6}  {what}", start.elapsed().as_secs_f64());
}

/// An echo server on our server-role driver; while `frozen`, it neither reads nor answers
/// (and does not complete new handshakes), but keeps every socket open.
async fn server(listener: TcpListener, frozen: watch::Receiver<bool>, start: Instant) {
    let config = Config::server().build().expect("default server config");
    while let Ok((tcp, _)) = listener.accept().await {
        let mut frozen = frozen.clone();
        tokio::spawn(async move {
            let _ = frozen.wait_for(|f| !*f).await;
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let mut hb: Heartbeat<_, _> = Heartbeat::new(ws, WsCodec, config);
            loop {
                if *frozen.borrow() {
                    let _ = frozen.wait_for(|f| !*f).await;
                }
                tokio::select! {
                    update = poll_fn(|cx| hb.poll_update(cx)) => match update {
                        Some(Ok(Update::Message(m))) => { let _ = futures_util::SinkExt::send(&mut hb, m).await; }
                        Some(Ok(_)) => {}
                        Some(Err(end)) => {
                            say(start, "server", format!("an old connection ends: {end}"));
                            return;
                        }
                        None => return,
                    },
                    _ = frozen.changed() => {}
                }
            }
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let t0 = tokio::time::Instant::now();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let (freeze, frozen) = watch::channel(false);
    tokio::spawn(server(listener, frozen, start));
    say(start, "server", format!("listening on {url}"));

    let config = Config::client()
        .ping_interval(PING_INTERVAL)
        .pong_timeout(PONG_TIMEOUT)
        .connect_timeout(Duration::from_millis(800))
        .backoff_initial(Duration::from_millis(400))
        .backoff_max(Duration::from_secs(2))
        .build()?;
    let bound = config.dead_peer_bound();
    say(start, "client", format!(
        "ping every {PING_INTERVAL:?} when idle, pong timeout {PONG_TIMEOUT:?}: a dead server is found within {bound:?}"
    ));
    let mut client = Client::spawn(Tokio, config, WsCodec, move || {
        let url = url.clone();
        async move {
            tokio_tungstenite::connect_async(url)
                .await
                .map(|(ws, _)| ws)
        }
    });

    let mut last_heard = Instant::now();
    let (mut froze, mut thawed, mut stopped) = (false, false, false);
    let mut detected = None;
    loop {
        let next_step = if !froze {
            FREEZE_AT
        } else if !thawed {
            THAW_AT
        } else {
            STOP_AT
        };
        tokio::select! {
            event = client.next() => {
                let Some(event) = event else { break };
                match event {
                    SessionEvent::Connected => {
                        last_heard = Instant::now();
                        say(start, "client", "connected");
                    }
                    SessionEvent::PingSent(id) => say(start, "client", format!("ping #{id} ->")),
                    SessionEvent::Pong { rtt } => {
                        last_heard = Instant::now();
                        say(start, "client", format!("<- pong, round trip {:.2} ms", rtt.as_secs_f64() * 1e3));
                    }
                    SessionEvent::Closed { cause, code, .. } => {
                        let silent = last_heard.elapsed();
                        let code = code.map_or("no code".to_string(), |c| format!("code {c}"));
                        if cause == Cause::PongTimeout {
                            say(start, "client", format!("CLOSED: {cause} ({code}), after {silent:.2?} without a word from the server (bound {bound:?})"));
                            if froze && !thawed {
                                detected.get_or_insert(silent);
                            }
                        } else {
                            say(start, "client", format!("closed: {cause} ({code})"));
                        }
                    }
                    SessionEvent::ConnectFailed(e) => say(start, "client", format!("attempt failed: {e}")),
                    SessionEvent::Reconnecting { after } => say(start, "client", format!("reconnecting in {after:.2?} (capped, jittered backoff)")),
                    SessionEvent::GaveUp => say(start, "client", "gave up"),
                    SessionEvent::Message(m) => say(start, "client", format!("message: {m}")),
                    _ => {}
                }
            }
            _ = sleep_until(t0 + next_step), if !stopped => {
                if !froze {
                    froze = true;
                    let _ = freeze.send(true);
                    say(start, "server", "FROZEN: stops reading and answering; sockets stay open");
                } else if !thawed {
                    thawed = true;
                    let _ = freeze.send(false);
                    say(start, "server", "back: answering again");
                } else {
                    stopped = true;
                    say(start, "client", "shutting down");
                    client.shutdown();
                }
            }
        }
    }
    match detected {
        Some(d) if d <= bound + Duration::from_millis(500) => {
            say(start, "demo", format!("done: the frozen server was detected after {d:.2?} (bound {bound:?}), and the client came back"));
            Ok(())
        }
        other => Err(format!("the frozen server was not detected in time: {other:?}").into()),
    }
}
