//! The crate doing its job, on loopback, in about fifteen seconds:
//!
//! ```text
//! cargo run --example demo --features tokio,tungstenite
//! ```
//!
//! Two scenes, each a server and a reconnecting client in one process.
//!
//! 1. **A big message over a slow link.** Through a proxy that forwards 256 KiB/s each
//!    way, the server sends one 768 KiB message (three seconds on that link, six times
//!    the client's dead-peer bound of half a second). The server's pongs wait behind it;
//!    the bytes arriving keep the peer alive, so the client does not call it dead, and the
//!    message arrives whole.
//! 2. **A frozen server.** The client pings every 0.5 s and shows the round trips; then
//!    the server freezes (it stops reading and answering but keeps the socket open, like
//!    a stopped process or a dead NAT path); the client detects it within
//!    `ping_interval + pong_timeout`, closes with 1011 and retries with backoff (the
//!    frozen server accepts TCP but never completes the handshake, so the attempts time
//!    out); the server comes back and the client reconnects; finally it shuts down with
//!    1000.
//!
//! It exits non-zero if either scene misses its promise.

#[path = "support/mod.rs"]
mod support;

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, Heartbeat, SessionEvent};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration};
use std::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use support::connect_metered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;

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
    let mut accepted = 0u32;
    while let Ok((tcp, _)) = listener.accept().await {
        let mut frozen = frozen.clone();
        accepted += 1;
        let n = accepted;
        let came_while_frozen = *frozen.borrow();
        tokio::spawn(async move {
            let _ = frozen.wait_for(|f| !*f).await;
            let meter = Meter::new();
            let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
                return;
            };
            let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
            let mut lived_through_freeze = false;
            loop {
                if *frozen.borrow() {
                    lived_through_freeze = true;
                    let _ = frozen.wait_for(|f| !*f).await;
                }
                tokio::select! {
                    next = hb.next() => match next {
                        Some(Ok(m)) => { let _ = hb.send(m).await; }
                        Some(Err(end)) => {
                            let failed = end.reason() == CloseReason::Transport;
                            let why = match (came_while_frozen, lived_through_freeze, failed) {
                                (true, _, true) => " (an attempt made while we were frozen: its client timed out and left before we answered)",
                                (true, _, false) => " (an attempt made while we were frozen, answered when we came back)",
                                (false, true, _) => " (the one that froze: its client gave up on it, and we read that only now)",
                                _ => "",
                            };
                            say(start, "server", format!("connection {n} ends{why}: {end}"));
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

// ---------------------------------------------------------------- scene 1: a slow link

const SLOW_RATE: u64 = 256 * 1024;
const SLOW_MESSAGE: usize = 768 * 1024;
const SLOW_PING: Duration = Duration::from_millis(100);
const SLOW_PONG: Duration = Duration::from_millis(400);

/// A proxy on loopback that forwards `rate` bytes per second each way, with small socket
/// buffers (a slow link with a short queue). Returns its address and the bytes it has
/// forwarded toward the client.
async fn throttle(
    upstream: SocketAddr,
    rate: u64,
) -> std::io::Result<(SocketAddr, Arc<AtomicU64>)> {
    let small = || -> std::io::Result<TcpSocket> {
        let s = TcpSocket::new_v4()?;
        s.set_recv_buffer_size(8 * 1024)?;
        s.set_send_buffer_size(8 * 1024)?;
        Ok(s)
    };
    let listening = small()?;
    listening.bind("127.0.0.1:0".parse().expect("an address"))?;
    let listener = listening.listen(16)?;
    let addr = listener.local_addr()?;
    let down = Arc::new(AtomicU64::new(0));
    let counted = down.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = async { small()?.connect(upstream).await }.await else {
                continue;
            };
            let (client_in, client_out) = client.into_split();
            let (server_in, server_out) = server.into_split();
            tokio::spawn(pump(client_in, server_out, rate, None));
            tokio::spawn(pump(server_in, client_out, rate, Some(counted.clone())));
        }
    });
    Ok((addr, down))
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rate: u64,
    count: Option<Arc<AtomicU64>>,
) {
    let mut buf = [0u8; 4096];
    let started = tokio::time::Instant::now();
    let mut sent = 0u64;
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        sent += n as u64;
        sleep_until(started + Duration::from_nanos(sent * 1_000_000_000 / rate)).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    let _ = to.shutdown().await;
}

/// Scene 1: the server sends one big message over the slow link; the client must not
/// call it dead, and the message must arrive whole.
async fn slow_link(start: Instant) -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (proxy, down) = throttle(listener.local_addr()?, SLOW_RATE).await?;
    let server_config = Config::server()
        .ping_interval(SLOW_PING)
        .pong_timeout(SLOW_PONG)
        .build()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let meter = Meter::new();
                let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
                    return;
                };
                let mut hb = Heartbeat::new(Tokio, ws, WsCodec, server_config).with_meter(meter);
                if hb
                    .send(Message::binary(vec![0u8; SLOW_MESSAGE]))
                    .await
                    .is_ok()
                {
                    while let Some(Ok(_)) = hb.next().await {}
                }
            });
        }
    });
    let config = Config::client()
        .ping_interval(SLOW_PING)
        .pong_timeout(SLOW_PONG)
        .build()?;
    let bound = config.dead_peer_bound();
    say(start, "slow", format!(
        "a link of {} KiB/s each way; the client pings every {SLOW_PING:?} when idle, pong timeout {SLOW_PONG:?}: \
         a dead server is found within {bound:?} of its last byte",
        SLOW_RATE / 1024
    ));
    let url = format!("ws://{proxy}");
    let (client, mut events) = Client::builder(config, WsCodec, move |attempt: Attempt| {
        let url = url.clone();
        // The TCP stream is metered: bytes count as life, not only whole messages.
        async move { connect_metered(&url, attempt.meter()).await }
    })
    .spawn(Tokio)?;
    let mut connected = None;
    let mut progress = tokio::time::interval(Duration::from_millis(750));
    let outcome = loop {
        tokio::select! {
            event = events.next() => match event {
                Some(SessionEvent::Connected) => {
                    connected = Some(Instant::now());
                    say(start, "slow", format!(
                        "connected; the server sends one {} KiB message: about {:.1} s on this link, \
                         its pongs wait behind it",
                        SLOW_MESSAGE / 1024,
                        SLOW_MESSAGE as f64 / SLOW_RATE as f64
                    ));
                }
                Some(SessionEvent::Message(Message::Binary(b))) => break Ok(b.len()),
                Some(SessionEvent::PingSent(_) | SessionEvent::Pong { .. }) => {}
                Some(other) => break Err(format!("the slow link was taken for a dead peer: {other:?}")),
                None => break Err("the client ended".to_string()),
            },
            _ = progress.tick(), if connected.is_some() => {
                say(start, "slow", format!(
                    "{:>4} KiB of the message so far; no pong can get through, the bytes keep the server alive",
                    down.load(Ordering::Relaxed) / 1024
                ));
            }
        }
    };
    let took = connected.map_or(Duration::ZERO, |c| c.elapsed());
    client.shutdown();
    while events.next().await.is_some() {}
    match outcome {
        Ok(n) if n == SLOW_MESSAGE => {
            say(start, "slow", format!(
                "the message arrived whole after {took:.2?}, {:.0}x the dead-peer bound, and nothing was closed",
                took.as_secs_f64() / bound.as_secs_f64()
            ));
            Ok(())
        }
        Ok(n) => Err(format!("the message arrived with {n} bytes of {SLOW_MESSAGE}").into()),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- scene 2: a frozen server

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let start = Instant::now();
    slow_link(start).await?;
    frozen_server(start).await
}

/// Scene 2: pings and round trips, a server that freezes and is detected within the
/// bound, backoff while it is gone, a reconnect, a clean shutdown.
async fn frozen_server(start: Instant) -> Result<(), Box<dyn Error>> {
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
    let (client, mut events) = Client::builder(config, WsCodec, move |attempt: Attempt| {
        let url = url.clone();
        async move { connect_metered(&url, attempt.meter()).await }
    })
    .spawn(Tokio)?;

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
            event = events.next() => {
                let Some(event) = event else { break };
                match event {
                    SessionEvent::Connected => {
                        last_heard = Instant::now();
                        say(start, "client", "connected (a new connection)");
                    }
                    SessionEvent::PingSent(id) => say(start, "client", format!("ping #{id} ->")),
                    SessionEvent::Pong { rtt } => {
                        last_heard = Instant::now();
                        say(start, "client", format!("<- pong, round trip {:.2} ms", rtt.as_secs_f64() * 1e3));
                    }
                    SessionEvent::Closed(end) => {
                        let (reason, silent) = (end.reason(), last_heard.elapsed());
                        let code = end.code().map_or("no code".to_string(), |c| format!("code {c}"));
                        if reason == CloseReason::PongTimeout {
                            // The bound is the machine's; the driver closes when its timer
                            // fires, that much later (the README's "When does it close?").
                            let late = silent.saturating_sub(bound);
                            say(start, "client", format!(
                                "CLOSED: {reason} ({code}), {silent:.2?} after the server's last pong: \
                                 the bound {bound:?} plus {:.1} ms of the timer's lateness",
                                late.as_secs_f64() * 1e3
                            ));
                            if froze && !thawed {
                                detected.get_or_insert(silent);
                            }
                        } else {
                            say(start, "client", format!("closed: {reason} ({code})"));
                        }
                    }
                    SessionEvent::ConnectFailed(e) => say(start, "client", format!("attempt failed (the frozen server never completes the handshake): {e}")),
                    SessionEvent::Reconnecting { after } => say(start, "client", format!("reconnecting in {after:.2?} (capped, jittered backoff)")),
                    SessionEvent::GaveUp { reason, .. } => say(start, "client", format!("gave up: {reason}")),
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
