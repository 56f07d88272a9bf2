//! Reconnects that follow the cause, on real loopback sockets: a server that refuses the
//! upgrade (401, 503 with `Retry-After`), closes for a restart (1012), for overload
//! (1013) or normally (1000), and one that wants an authentication message first. Each
//! test measures the waits the client keeps, with generous slack.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, SessionEvent};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Decision, Duration, Jitter};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

mod support;
use support::{client, closed, connect, MeteredWs, Session};

const INITIAL: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_millis(1_000);
const SLACK: Duration = Duration::from_millis(700);

type Ws = MeteredWs;

fn config() -> Config {
    Config::client()
        .ping_interval(Duration::from_millis(200))
        .pong_timeout(Duration::from_millis(400))
        .backoff_initial(INITIAL)
        .backoff_max(MAX)
        .connect_timeout(Duration::from_secs(2))
        .jitter(Jitter::Equal)
        .seed(11)
        .build()
        .expect("valid test config")
}

/// What the server does with one connection.
#[derive(Copy, Clone, Debug)]
enum Script {
    /// Refuses the upgrade with this status and `Retry-After`.
    Refuse(u16, Option<&'static str>),
    /// Completes the handshake, then closes with this code.
    Close(u16),
    /// Wants `auth` as the first message: answers `welcome` (then echoes; after one
    /// message, closes with `then_close` if given), or `denied` and closes when `accept`
    /// is false.
    Auth {
        accept: bool,
        then_close: Option<u16>,
    },
    /// Echoes.
    Echo,
}

/// A server on loopback that follows `scripts` connection by connection (the last one
/// repeats), and notes when each connection arrived.
async fn server(scripts: Vec<Script>) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = arrivals.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = l.accept().await {
            noted.lock().expect("arrivals").push(Instant::now());
            let script = scripts[n.min(scripts.len() - 1)];
            n += 1;
            tokio::spawn(serve(tcp, script));
        }
    });
    (url, arrivals)
}

async fn serve(tcp: TcpStream, script: Script) {
    if let Script::Refuse(status, retry_after) = script {
        // tungstenite's callback type: its error is a whole HTTP response.
        #[allow(clippy::result_large_err)]
        let refuse = move |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            let mut e = ErrorResponse::new(Some("not now".into()));
            *e.status_mut() = StatusCode::from_u16(status).expect("a status");
            if let Some(ra) = retry_after {
                e.headers_mut()
                    .insert("retry-after", HeaderValue::from_static(ra));
            }
            Err(e)
        };
        let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
        return;
    }
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    match script {
        Script::Close(code) => {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: "bye".into(),
            };
            let _ = ws.close(Some(frame)).await;
            while let Some(Ok(_)) = ws.next().await {}
        }
        Script::Auth { accept, then_close } => {
            let first = ws.next().await;
            let authed = matches!(&first, Some(Ok(Message::Text(t))) if t.as_str() == "auth");
            if !(authed && accept) {
                let _ = ws.send(Message::text("denied")).await;
                let _ = ws.close(None).await;
                return;
            }
            let _ = ws.send(Message::text("welcome")).await;
            if let Some(code) = then_close {
                if let Some(Ok(m)) = ws.next().await {
                    let _ = ws.send(m).await;
                }
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: "restart".into(),
                };
                let _ = ws.close(Some(frame)).await;
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            echo(ws).await;
        }
        Script::Echo => echo(ws).await,
        Script::Refuse(..) => unreachable!("handled above"),
    }
}

async fn echo(mut ws: WebSocketStream<TcpStream>) {
    while let Some(Ok(m)) = ws.next().await {
        if m.is_text() && ws.send(m).await.is_err() {
            return;
        }
    }
}

async fn next(c: &mut Session<Message>) -> SessionEvent<Message> {
    loop {
        let event = timeout(Duration::from_secs(10), c.next())
            .await
            .expect("an event within 10 s")
            .expect("the client is still running");
        match event {
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => continue,
            other => return other,
        }
    }
}

/// The wait between the first two arrivals at the server.
fn gap(arrivals: &Mutex<Vec<Instant>>) -> Duration {
    let a = arrivals.lock().expect("arrivals");
    a[1] - a[0]
}

#[tokio::test]
async fn a_401_gives_up_at_once_and_says_why() {
    let (url, arrivals) = server(vec![Script::Refuse(401, None)]).await;
    let mut c = client(&url, config());
    let refused = CloseReason::Refused {
        status: 401,
        retry_after: None,
    };
    match next(&mut c).await {
        SessionEvent::ConnectFailed(e) if e.reason() == refused => {
            assert!(e.by_peer(), "{e:?}");
            assert!(e.to_string().contains("HTTP 401"), "{e}");
        }
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert_eq!(
        next(&mut c).await,
        SessionEvent::GaveUp {
            reason: refused,
            fatal: true
        }
    );
    assert_eq!(
        timeout(Duration::from_secs(5), c.next())
            .await
            .expect("ends"),
        None
    );
    tokio::time::sleep(INITIAL * 3).await;
    assert_eq!(arrivals.lock().expect("arrivals").len(), 1, "retried a 401");
}

#[tokio::test]
async fn a_503_with_retry_after_is_never_retried_sooner() {
    let (url, arrivals) = server(vec![Script::Refuse(503, Some("2")), Script::Echo]).await;
    let mut c = client(&url, config());
    match next(&mut c).await {
        SessionEvent::ConnectFailed(e) => assert_eq!(
            e.reason(),
            CloseReason::Refused {
                status: 503,
                retry_after: Some(Duration::from_secs(2))
            }
        ),
        other => panic!("expected the refusal, got {other:?}"),
    }
    let SessionEvent::Reconnecting { after } = next(&mut c).await else {
        panic!("no wait")
    };
    // At least what the server asked, up to a quarter more; far above the 100 ms backoff.
    assert!(
        after >= Duration::from_secs(2) && after <= Duration::from_millis(2_500),
        "{after:?}"
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let waited = gap(&arrivals);
    assert!(
        waited >= Duration::from_secs(2) && waited <= after + SLACK,
        "{waited:?}"
    );
    println!("503 with Retry-After: 2: the client waited {waited:?} (announced {after:?})");
}

#[tokio::test]
async fn a_restart_1012_comes_back_soon_and_an_overload_1013_later() {
    let (url, arrivals) =
        server(vec![Script::Close(1012), Script::Close(1013), Script::Echo]).await;
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let end = next(&mut c).await;
    assert_eq!(
        closed(&end),
        Some((CloseReason::PeerClosed(1012), Some(1012))),
        "{end:?}"
    );
    let SessionEvent::Reconnecting { after: soon } = next(&mut c).await else {
        panic!("no wait")
    };
    assert!(soon >= INITIAL && soon <= INITIAL * 2, "1012: {soon:?}");
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let end = next(&mut c).await;
    assert_eq!(
        closed(&end),
        Some((CloseReason::PeerClosed(1013), Some(1013))),
        "{end:?}"
    );
    let SessionEvent::Reconnecting { after: later } = next(&mut c).await else {
        panic!("no wait")
    };
    assert!(later >= MAX / 2 && later <= MAX, "1013: {later:?}");
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let a = arrivals.lock().expect("arrivals").clone();
    let (w1, w2) = (a[1] - a[0], a[2] - a[1]);
    assert!(
        w1 >= soon && w1 <= soon + SLACK,
        "after 1012 the client waited {w1:?}"
    );
    assert!(
        w2 >= later && w2 <= later + SLACK,
        "after 1013 the client waited {w2:?}"
    );
    println!("1012: waited {w1:?} (announced {soon:?}); 1013: waited {w2:?} (announced {later:?})");
}

#[tokio::test]
async fn a_normal_close_reconnects_unless_it_ends_the_session() {
    let (url, _) = server(vec![Script::Close(1000), Script::Echo]).await;
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    assert_eq!(
        closed(&next(&mut c).await),
        Some((CloseReason::PeerClosed(1000), Some(1000)))
    );
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::Reconnecting { .. }
    ));
    assert_eq!(next(&mut c).await, SessionEvent::Connected);

    let (url, arrivals) = server(vec![Script::Close(1000), Script::Echo]).await;
    let ends = Config::client()
        .on_close_code(1000, Decision::GiveUp)
        .build()
        .expect("config");
    let mut c = client(&url, ends);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let end = next(&mut c).await;
    let SessionEvent::Closed(e) = &end else {
        panic!("{end:?}")
    };
    assert_eq!((e.code(), e.text()), (Some(1000), Some("bye")));
    assert_eq!(
        next(&mut c).await,
        SessionEvent::GaveUp {
            reason: CloseReason::PeerClosed(1000),
            fatal: true
        }
    );
    assert_eq!(arrivals.lock().expect("arrivals").len(), 1);
}

/// The on-connect step authenticates on every connection before the application's
/// sends are accepted; a refused step fails the attempt, which backs off.
#[tokio::test]
async fn the_on_connect_step_runs_on_every_connection() {
    let auth = |accept, then_close| Script::Auth { accept, then_close };
    let scripts = vec![auth(false, None), auth(true, Some(1012)), auth(true, None)];
    let (url, arrivals) = server(scripts).await;
    let steps = Arc::new(Mutex::new(0u32));
    let counted = steps.clone();
    let url2 = url.clone();
    let c = Client::builder(config(), WsCodec, move |a| connect(url2.clone(), a))
        .on_connect(move |mut ws: Ws| {
            let counted = counted.clone();
            async move {
                *counted.lock().expect("steps") += 1;
                ws.send(Message::text("auth")).await?;
                let answer = ws.next().await;
                let welcome = matches!(&answer, Some(Ok(m)) if m.to_text().ok() == Some("welcome"));
                let step: Result<Ws, Box<dyn std::error::Error + Send + Sync>> = if welcome {
                    Ok(ws)
                } else {
                    Err(format!("not welcome: {answer:?}").into())
                };
                step
            }
        })
        .spawn(Tokio)
        .expect("a client's config");
    let mut c: Session<Message> = c.into();
    match next(&mut c).await {
        SessionEvent::ConnectFailed(e) => {
            assert_eq!(e.reason(), CloseReason::Transport);
            let step = std::error::Error::source(&e).expect("the step's error");
            assert!(step.to_string().contains("on-connect step failed"), "{e}");
            assert!(e.to_string().contains("denied"), "{e}")
        }
        other => panic!("expected the step to fail, got {other:?}"),
    }
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::Reconnecting { .. }
    ));
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    c.send(Message::text("after auth")).await.expect("sent");
    assert_eq!(
        next(&mut c).await,
        SessionEvent::Message(Message::text("after auth"))
    );
    // The server restarts (1012): the client comes back soon and authenticates again.
    assert_eq!(
        closed(&next(&mut c).await),
        Some((CloseReason::PeerClosed(1012), Some(1012)))
    );
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::Reconnecting { .. }
    ));
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    assert_eq!(*steps.lock().expect("steps"), 3);
    assert_eq!(arrivals.lock().expect("arrivals").len(), 3);
}

/// The connect function sees the attempt's number and what ended the last one: here it
/// rotates to a second server after the first refuses.
#[tokio::test]
async fn the_connect_function_rotates_and_sees_the_last_reason() {
    let (down, _) = server(vec![Script::Refuse(503, None)]).await;
    let (up, _) = server(vec![Script::Echo]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noted = seen.clone();
    let urls = [down, up];
    let mut c: Session<Message> = Client::builder(config(), WsCodec, move |attempt: Attempt| {
        noted
            .lock()
            .expect("seen")
            .push((attempt.number(), attempt.last_reason()));
        let url = urls[(attempt.number() as usize - 1) % 2].clone();
        connect(url, attempt)
    })
    .spawn(Tokio)
    .expect("a client's config")
    .into();
    let refused = CloseReason::Refused {
        status: 503,
        retry_after: None,
    };
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::ConnectFailed(e) if e.reason() == refused
    ));
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::Reconnecting { .. }
    ));
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    assert_eq!(*seen.lock().expect("seen"), [(1, None), (2, Some(refused))]);
}
