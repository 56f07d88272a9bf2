//! A WebSocket echo server whose heartbeat figures Prometheus scrapes (feature `metrics`,
//! through `metrics-exporter-prometheus`):
//!
//! ```text
//! cargo run --example metrics_server --features tokio,tungstenite,metrics
//! curl -s 127.0.0.1:9090/metrics | grep keepalive_
//! ```
//!
//! WebSocket echo on 127.0.0.1:9001, `/metrics` on 127.0.0.1:9090 (the first two
//! arguments change them). Every connection runs one `Heartbeat`; the README's table
//! lists the names.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::Heartbeat;
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::Config;
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `/metrics` on `metrics_at`, then WebSocket echo on `listener` with `config`
/// until the listener fails.
pub async fn serve(
    listener: TcpListener,
    metrics_at: SocketAddr,
    config: Config,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    PrometheusBuilder::new()
        .with_http_listener(metrics_at)
        .install()?;
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let meter = Meter::new();
            let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
                return;
            };
            let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
            while let Some(Ok(message)) = hb.next().await {
                if hb.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[allow(dead_code)] // the test reuses `serve`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let ws = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let metrics_at: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9090".into())
        .parse()?;
    let listener = TcpListener::bind(&ws).await?;
    println!("ws://{ws}, metrics on http://{metrics_at}/metrics");
    serve(listener, metrics_at, Config::server().build()?).await
}
