//! The same driver on async-io's timers: smol and async-std, over real loopback
//! WebSockets (async-tungstenite). One macro writes the tests once per runtime.
//!
//! Intervals are 100 ms or more with generous slack; every wait is capped.

use futures_util::StreamExt;
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, Heartbeat, SessionEvent};
use keepalive::{CloseReason, Duration};
use std::time::Instant;

mod support;
use support::{closed, config, Session, EVENT_WAIT, INTERVAL, PONG, SLACK};

macro_rules! runtime_tests {
    ($name:ident, $runtime:ty, $block_on:path, $net:ident, $connect:path, $sleep:path) => {
        mod $name {
            use super::*;
            use async_tungstenite::tungstenite::Message;
            use $net::{TcpListener, TcpStream};

            type Ws = async_tungstenite::WebSocketStream<TcpStream>;

            async fn listener() -> (TcpListener, String) {
                let l = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                let url = format!("ws://{}", l.local_addr().expect("addr"));
                (l, url)
            }

            async fn accept(l: &TcpListener) -> Ws {
                let (tcp, _) = l.accept().await.expect("accept");
                async_tungstenite::accept_async(tcp)
                    .await
                    .expect("handshake")
            }

            fn client(url: &str) -> Session<Message> {
                client_with(url, config())
            }

            /// A client that meters each connection's TCP stream: bytes count as life.
            fn client_with(url: &str, config: keepalive::Config) -> Session<Message> {
                let url = url.to_string();
                Client::builder(config, WsCodec, move |attempt: Attempt| {
                    let url = url.clone();
                    async move {
                        let tcp = TcpStream::connect(url.trim_start_matches("ws://")).await?;
                        async_tungstenite::client_async(url, attempt.meter().tcp(tcp))
                            .await
                            .map(|(ws, _)| ws)
                    }
                })
                .spawn(<$runtime>::default())
                .expect("a client's config")
                .into()
            }

            async fn next(c: &mut Session<Message>) -> SessionEvent<Message> {
                let started = Instant::now();
                let event =
                    futures_util::future::select(Box::pin(c.next()), Box::pin($sleep(EVENT_WAIT)))
                        .await;
                match event {
                    futures_util::future::Either::Left((Some(e), _)) => e,
                    futures_util::future::Either::Left((None, _)) => panic!("the client ended"),
                    futures_util::future::Either::Right(_) => {
                        panic!("no event within {:?}", started.elapsed())
                    }
                }
            }

            async fn next_life(c: &mut Session<Message>) -> SessionEvent<Message> {
                loop {
                    match next(c).await {
                        SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => continue,
                        other => return other,
                    }
                }
            }

            fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
                keepalive::driver::Runtime::spawn(&<$runtime>::default(), f);
            }

            #[test]
            fn pings_are_answered_with_a_plausible_rtt() {
                $block_on(async {
                    let (l, url) = listener().await;
                    spawn(async move {
                        let mut ws = accept(&l).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    });
                    let mut c = client(&url);
                    assert_eq!(next(&mut c).await, SessionEvent::Connected);
                    let mut pongs = 0;
                    while pongs < 4 {
                        match next(&mut c).await {
                            SessionEvent::PingSent(_) => {}
                            SessionEvent::Pong { rtt } => {
                                assert!(rtt < Duration::from_millis(500), "{rtt:?}");
                                pongs += 1;
                            }
                            other => panic!("healthy link, got {other:?}"),
                        }
                    }
                })
            }

            #[test]
            fn a_silent_peer_is_closed_within_the_bound() {
                $block_on(async {
                    let (l, url) = listener().await;
                    spawn(async move {
                        let ws = accept(&l).await;
                        $sleep(Duration::from_secs(30)).await; // frozen, socket open
                        drop(ws);
                    });
                    let mut c = client(&url);
                    assert_eq!(next(&mut c).await, SessionEvent::Connected);
                    let connected = Instant::now();
                    assert_eq!(
                        closed(&next_life(&mut c).await),
                        Some((CloseReason::PongTimeout, Some(1011)))
                    );
                    let took = connected.elapsed();
                    assert!(took >= PONG && took <= INTERVAL + PONG + SLACK, "{took:?}");
                    assert!(matches!(
                        next_life(&mut c).await,
                        SessionEvent::Reconnecting { .. }
                    ));
                })
            }

            #[test]
            fn a_stalled_handshake_times_out_then_backs_off() {
                $block_on(async {
                    let (l, url) = listener().await;
                    spawn(async move {
                        let mut held = Vec::new();
                        while let Ok((tcp, _)) = l.accept().await {
                            held.push(tcp);
                        }
                    });
                    let mut c = client(&url);
                    let started = Instant::now();
                    assert!(matches!(
                        next(&mut c).await,
                        SessionEvent::ConnectFailed(ref e) if e.reason() == CloseReason::ConnectTimeout
                    ));
                    let took = started.elapsed();
                    assert!(took <= Duration::from_millis(300) + SLACK, "{took:?}");
                    assert!(matches!(
                        next(&mut c).await,
                        SessionEvent::Reconnecting { .. }
                    ));
                })
            }

            #[test]
            fn a_restarted_server_is_reconnected_and_shutdown_sends_1000() {
                $block_on(async {
                    let (l, url) = listener().await;
                    let addr = l.local_addr().expect("addr");
                    spawn(async move {
                        let mut ws = accept(&l).await;
                        // Healthy for a while (reading answers pings), then gone.
                        let _ = futures_util::future::select(
                            Box::pin(async { while let Some(Ok(_)) = ws.next().await {} }),
                            Box::pin($sleep(Duration::from_millis(300))),
                        )
                        .await;
                        drop(ws);
                        drop(l);
                    });
                    let mut c = client(&url);
                    assert_eq!(next(&mut c).await, SessionEvent::Connected);
                    assert!(matches!(next_life(&mut c).await, SessionEvent::Closed(_)));
                    $sleep(Duration::from_millis(300)).await;
                    let l = TcpListener::bind(addr).await.expect("rebind");
                    let (tx, rx) = std::sync::mpsc::channel();
                    spawn(async move {
                        let mut ws = accept(&l).await;
                        while let Some(Ok(m)) = ws.next().await {
                            match m {
                                Message::Close(f) => {
                                    let _ = tx.send(f.map(|f| u16::from(f.code)));
                                    break;
                                }
                                Message::Text(_) if ws.send(m).await.is_err() => break,
                                _ => {}
                            }
                        }
                    });
                    loop {
                        match next_life(&mut c).await {
                            SessionEvent::Connected => break,
                            SessionEvent::Reconnecting { .. } | SessionEvent::ConnectFailed(_) => {}
                            other => panic!("{other:?}"),
                        }
                    }
                    c.send(Message::text("back")).await.expect("sent");
                    assert_eq!(
                        next_life(&mut c).await,
                        SessionEvent::Message(Message::text("back"))
                    );
                    c.client.shutdown();
                    assert_eq!(
                        closed(&next_life(&mut c).await),
                        Some((CloseReason::Shutdown, Some(1000)))
                    );
                    assert_eq!(rx.recv_timeout(EVENT_WAIT), Ok(Some(1000)));
                })
            }

            /// Slow-link checks through the throttling proxy (`support::slow`).
            mod slow_link {
                use super::*;
                use crate::support::slow::{self, Script};
                use crate::support::throttle::Throttle;

                async fn sleep(d: Duration) {
                    $sleep(d).await;
                }

                #[test]
                fn a_download_of_ten_heartbeat_bounds_completes_with_no_close() {
                    $block_on(async {
                        let proxy =
                            Throttle::start(slow::peer(Script::Send(slow::BIG)), slow::RATE);
                        let mut c = client_with(&proxy.url(), slow::config());
                        slow::download(&mut c, &sleep).await;
                    })
                }

                #[test]
                fn an_upload_of_ten_heartbeat_bounds_completes_with_no_close() {
                    $block_on(async {
                        let proxy = Throttle::start(slow::peer(Script::Receive), slow::RATE);
                        let mut c = client_with(&proxy.url(), slow::config());
                        slow::upload(&mut c, &sleep).await;
                    })
                }

                #[test]
                fn a_stall_mid_download_is_detected_within_the_bound() {
                    $block_on(async {
                        let proxy =
                            Throttle::start(slow::peer(Script::Send(slow::BIG)), slow::RATE);
                        let mut c = client_with(&proxy.url(), slow::config());
                        slow::download_stall(&mut c, &proxy, Duration::from_secs(2), &sleep).await;
                    })
                }

                #[test]
                fn a_stall_mid_upload_is_detected_within_the_bound() {
                    $block_on(async {
                        let proxy = Throttle::start(slow::peer(Script::Receive), slow::RATE);
                        let mut c = client_with(&proxy.url(), slow::config());
                        slow::upload_stall(&mut c, &proxy, Duration::from_secs(2), &sleep).await;
                    })
                }
            }

            /// A flooding peer: async-io's sockets never say "not ready" while data is
            /// waiting (no cooperative budget, unlike tokio), so the driver must tick from
            /// its timer mid-stream; our keepalive pings still go out every interval.
            #[test]
            fn a_flooding_peer_still_gets_our_keepalive_pings() {
                $block_on(async {
                    let (l, url) = listener().await;
                    let (tx, rx) = std::sync::mpsc::channel();
                    spawn(async move {
                        let ws = accept(&l).await;
                        let (mut sink, mut stream) = ws.split();
                        let pings = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
                        let counted = pings.clone();
                        spawn(async move {
                            while let Some(Ok(m)) = stream.next().await {
                                if m.is_ping() {
                                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                        });
                        let started = Instant::now();
                        let payload = Message::text("x".repeat(64));
                        while started.elapsed() < Duration::from_millis(1_500) {
                            for _ in 0..100 {
                                if futures_util::SinkExt::feed(&mut sink, payload.clone())
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                            let _ = futures_util::SinkExt::flush(&mut sink).await;
                        }
                        $sleep(Duration::from_millis(200)).await; // the last pings arrive
                        let _ = tx.send(pings.load(std::sync::atomic::Ordering::Relaxed));
                        let _ = futures_util::SinkExt::close(&mut sink).await;
                    });
                    let (ws, _) = $connect(url).await.expect("connect");
                    let mut hb = Heartbeat::new(<$runtime>::default(), ws, WsCodec, config());
                    let mut received = 0u64;
                    while let Some(Ok(_)) = hb.next().await {
                        received += 1;
                    }
                    let pings = rx.recv_timeout(EVENT_WAIT).expect("the server reports");
                    assert!(
                        pings >= 7,
                        "{pings} pings during a flood of {received} messages"
                    );
                })
            }
        }
    };
}

runtime_tests!(
    smol_runtime,
    keepalive::smol::Smol,
    smol::block_on,
    smol_net,
    async_tungstenite::smol::connect_async,
    smol_sleep
);

// async-std is deprecated upstream (for smol); users still ask for it, so it is tested.
#[allow(deprecated)]
mod async_std_tests {
    use super::*;
    runtime_tests!(
        async_std_runtime,
        keepalive::async_std::AsyncStd,
        async_std::task::block_on,
        async_std_net,
        async_tungstenite::async_std::connect_async,
        async_std::task::sleep
    );
}

pub(crate) mod smol_net {
    pub use smol::net::{TcpListener, TcpStream};
}
pub(crate) mod async_std_net {
    pub use async_std::net::{TcpListener, TcpStream};
}

async fn smol_sleep(d: Duration) {
    smol::Timer::after(d).await;
}
