//! A WebSocket echo server whose connections share one heartbeat task and one timer
//! (`driver::SetLoop`): each connection's task reports what it reads and writes, and
//! carries out the beats it is handed. One JSON line per closed connection.
//!
//! ```text
//! cargo run --example set_server --features tokio,tungstenite -- --listen 127.0.0.1:9002
//! {"t_ms":40012,"conn":1,"event":"closed","reason":"pong_timeout","code":1011}
//! ```
//!
//! Flags: `--listen` (default 127.0.0.1:9002), `--ping-interval-ms`, `--pong-timeout-ms`,
//! `--min-ping-interval-ms` (ping policing; 0 turns it off).

#[path = "support/mod.rs"]
mod support;

use futures_util::{SinkExt, StreamExt};
use keepalive::driver::{Beat, Member, SetLoop};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Event, PingId};
use std::process::ExitCode;
use std::time::Instant;
use support::server_flags;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// One connection: the handshake, then its heartbeat from the set.
async fn serve(tcp: TcpStream, heartbeats: SetLoop<Vec<u8>>) -> Option<CloseReason> {
    let ws = tokio_tungstenite::accept_async(tcp).await.ok()?;
    // Open: its heartbeat starts now, and ends when the member is dropped.
    let member = heartbeats.join();
    drop(heartbeats);
    echo(ws, member).await
}

/// Echoes what the peer sends, and does what the heartbeat says. (A function of its own,
/// so that its state shares the task's room with the handshake's.)
async fn echo(
    mut ws: WebSocketStream<TcpStream>,
    mut member: Member<Vec<u8>>,
) -> Option<CloseReason> {
    let mut ours = None;
    loop {
        tokio::select! {
            read = ws.next() => match read {
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite answers pings itself; the set still polices them.
                    member.report(Event::PingReceived);
                }
                Some(Ok(Message::Pong(payload))) => {
                    let id = <[u8; 8]>::try_from(payload.as_ref()).ok().map(u64::from_be_bytes);
                    member.report(Event::PongReceived(id.map(PingId::new)));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    member.report(Event::Disconnected);
                    return ours;
                }
                Some(Ok(message)) => {
                    member.report(Event::DataReceived);
                    if ws.send(message).await.is_err() {
                        member.report(Event::Disconnected);
                        return ours;
                    }
                    member.report(Event::DataSent);
                }
            },
            beat = member.next() => match beat {
                Some(Beat::Ping(id)) => {
                    let payload = id.get().to_be_bytes().to_vec();
                    let _ = ws.send(Message::Ping(payload.into())).await;
                }
                // Only after `member.ping_received`: tungstenite answered this one.
                Some(Beat::Pong(_)) => {}
                Some(Beat::Close(reason)) => {
                    // Then read on until the peer's close or the end.
                    ours = Some(reason);
                    let frame = CloseFrame {
                        code: CloseCode::from(reason.code()),
                        reason: reason.name().into(),
                    };
                    let _ = ws.send(Message::Close(Some(frame))).await;
                }
                // Forced after close_timeout, or the set let go: drop the socket.
                _ => return ours,
            },
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let (listen, config) = match server_flags("127.0.0.1:9002") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("set_server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("set_server: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config);
    let start = Instant::now();
    let mut conn = 0u64;
    while let Ok((tcp, _)) = listener.accept().await {
        conn += 1;
        let heartbeats = heartbeats.clone();
        tokio::spawn(async move {
            let (reason, code) = match serve(tcp, heartbeats).await {
                Some(r) => (r.name(), r.code()),
                None => ("peer", 1000),
            };
            println!(
                r#"{{"t_ms":{},"conn":{conn},"event":"closed","reason":"{reason}","code":{code}}}"#,
                start.elapsed().as_millis()
            );
        });
    }
    ExitCode::SUCCESS
}
