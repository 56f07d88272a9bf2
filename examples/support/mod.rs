//! Helpers shared by the examples: JSON string escaping and millisecond flags.
#![allow(dead_code)] // each example uses what it needs

use std::fmt::Write;

/// `s` as a JSON string literal, quotes included.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads `--name value` pairs; `known` lists the names allowed.
pub fn parse_flags(
    args: impl Iterator<Item = String>,
    known: &[&str],
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}; flags look like --name value"))?;
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let v = args
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                (name.to_string(), v)
            }
        };
        if !known.contains(&name.as_str()) {
            return Err(format!(
                "unknown flag --{name}; known: --{}",
                known.join(", --")
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// A number of milliseconds from a flag's value.
pub fn millis(name: &str, value: &str) -> Result<std::time::Duration, String> {
    value
        .parse::<u64>()
        .map(std::time::Duration::from_millis)
        .map_err(|_| format!("--{name} takes whole milliseconds, like 500; got {value:?}"))
}

/// A server's flags: `--listen` (default `listen`), `--ping-interval-ms`,
/// `--pong-timeout-ms`, `--min-ping-interval-ms` (ping policing; 0 turns it off).
/// Returns the address and the config.
pub fn server_flags(listen: &str) -> Result<(String, keepalive::Config), String> {
    let mut listen = listen.to_string();
    let mut b = keepalive::Config::server();
    for (name, value) in parse_flags(
        std::env::args().skip(1),
        &[
            "listen",
            "ping-interval-ms",
            "pong-timeout-ms",
            "min-ping-interval-ms",
        ],
    )? {
        b = match name.as_str() {
            "listen" => {
                listen = value;
                b
            }
            "ping-interval-ms" => b.ping_interval(millis(&name, &value)?),
            "pong-timeout-ms" => b.pong_timeout(millis(&name, &value)?),
            "min-ping-interval-ms" => b.min_ping_interval(millis(&name, &value)?),
            _ => b,
        };
    }
    Ok((listen, b.build().map_err(|e| e.to_string())?))
}

/// A WebSocket over a metered TCP stream: what every example's client connects with.
pub type MeteredWs =
    tokio_tungstenite::WebSocketStream<keepalive::meter::Metered<tokio::net::TcpStream>>;

/// Connects to `url` (`ws://host:port/path`) with the TCP stream wrapped in `meter`:
/// bytes count as life, so a large message over a slow link is no false timeout. (For
/// `wss://`, wrap the TCP stream the same way and hand it to
/// `tokio_tungstenite::client_async_tls`, with one of its TLS features.)
pub async fn connect_metered(
    url: &str,
    meter: &keepalive::meter::Meter,
) -> Result<MeteredWs, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::error::{Error, UrlError};
    let request = url.into_client_request()?;
    let uri = request.uri();
    let host = uri.host().ok_or(Error::Url(UrlError::NoHostName))?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let (ws, _) = tokio_tungstenite::client_async(request, meter.tcp(tcp)).await?;
    Ok(ws)
}

/// A client's event as the body of a JSON line (`"event":"closed",...`), or `None` for
/// the events a line leaves out. `stats` gives the dead-peer bound in force, shown on
/// `connected` and `closed` as `bound_ms`.
pub fn event_json(
    event: keepalive::driver::SessionEvent<tokio_tungstenite::tungstenite::Message>,
    stats: &keepalive::Stats,
) -> Option<String> {
    use keepalive::driver::SessionEvent;
    use tokio_tungstenite::tungstenite::Message;
    let bound = stats.dead_peer_bound.as_millis();
    Some(match event {
        SessionEvent::Connected => format!(r#""event":"connected","bound_ms":{bound}"#),
        SessionEvent::PingSent(id) => format!(r#""event":"ping_sent","id":{id}"#),
        SessionEvent::Pong { rtt } => {
            format!(r#""event":"pong","rtt_ms":{:.3}"#, rtt.as_secs_f64() * 1e3)
        }
        SessionEvent::Message(Message::Text(text)) => {
            format!(r#""event":"message","text":{}"#, json_str(&text))
        }
        SessionEvent::Message(Message::Binary(b)) => {
            format!(r#""event":"message","binary_len":{}"#, b.len())
        }
        SessionEvent::Message(_) => return None,
        SessionEvent::Closed(end) => {
            let code = end.code().map_or("null".to_string(), |c| c.to_string());
            let detail = match (end.text(), std::error::Error::source(&end)) {
                (_, Some(e)) => format!(r#","error":{}"#, json_str(&e.to_string())),
                (Some(t), None) => format!(r#","close_reason":{}"#, json_str(t)),
                (None, None) => String::new(),
            };
            format!(
                r#""event":"closed","reason":"{}","code":{code}{detail},"bound_ms":{bound}"#,
                end.reason().name()
            )
        }
        SessionEvent::ConnectFailed(e) => format!(
            r#""event":"connect_failed","reason":"{}","error":{}"#,
            e.reason().name(),
            json_str(&e.to_string())
        ),
        SessionEvent::Reconnecting { after } => {
            format!(r#""event":"reconnecting","after_ms":{}"#, after.as_millis())
        }
        SessionEvent::SlowingDown { ping_interval } => format!(
            r#""event":"slowing_down","ping_interval_ms":{}"#,
            ping_interval.as_millis()
        ),
        SessionEvent::GaveUp { reason, fatal } => format!(
            r#""event":"gave_up","reason":{},"fatal":{fatal}"#,
            json_str(&reason.to_string())
        ),
        _ => return None,
    })
}
