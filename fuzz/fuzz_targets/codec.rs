//! The codecs on arbitrary messages: classification never panics (the JSON reader
//! included), each codec recognises what it builds whatever the texts configured, a
//! JSON heartbeat is recognised however it is spaced or padded with other fields, and a
//! message classified as a ping or pong really carries that type.
#![no_main]

use arbitrary::Arbitrary;
use keepalive::codec::{HeartbeatCodec, Inbound, TextCodec, WsCodec};
use keepalive::{CloseReason, PingId};
use libfuzzer_sys::fuzz_target;
use tungstenite::Message;

#[derive(Arbitrary, Debug)]
struct Inputs<'a> {
    /// Configured texts (any).
    ping: &'a str,
    pong: &'a str,
    /// An inbound text (any).
    message: &'a str,
    /// Two heartbeat type words and the padding around a JSON heartbeat.
    ping_word: &'a str,
    pong_word: &'a str,
    spaces: [u8; 4],
    extra: Option<(&'a str, &'a str)>,
    id: u64,
    payload: &'a [u8],
    close: u8,
}

/// A word usable as a JSON string's contents without escapes.
fn plain(s: &str) -> Option<&str> {
    (!s.contains(['"', '\\']) && !s.chars().any(char::is_control)).then_some(s)
}

fn ws(n: u8) -> &'static str {
    ["", " ", "\n  ", "\t"][usize::from(n % 4)]
}

/// `{"type":"word"}` with some spacing and, maybe, one more field before it.
fn heartbeat(word: &str, sp: [u8; 4], extra: Option<(&str, &str)>) -> String {
    let field = match extra.and_then(|(k, v)| Some((plain(k)?, plain(v)?))) {
        Some((k, v)) => format!(r#""{k}"{}:{}"{v}",{}"#, ws(sp[0]), ws(sp[1]), ws(sp[2])),
        None => String::new(),
    };
    format!(
        r#"{}{{{field}"type"{}:{}"{word}"{}}}"#,
        ws(sp[3]),
        ws(sp[0]),
        ws(sp[1]),
        ws(sp[2])
    )
}

fuzz_target!(|i: Inputs| {
    // Anything classifies, under any configuration.
    let mut any = TextCodec::with_texts(i.ping, i.pong);
    let _ = any.classify(&i.message.to_string());
    let _ = any.classify(&Message::text(i.message));

    // A codec recognises its own ping and pong when the two are told apart.
    if i.ping != i.pong {
        let mut c = TextCodec::with_texts(i.ping, i.pong);
        let ping: String = c.ping(PingId::new(i.id));
        if c.classify(&ping) == Inbound::Ping {
            let pong = c.pong(&ping).expect("a text ping gets a text pong");
            let k = c.classify(&pong);
            assert!(
                k == Inbound::Pong(None) || k == Inbound::Ping,
                "{pong:?} -> {k:?}"
            );
        }
    }

    // JSON heartbeats by type, however formatted.
    if let (Some(pw), Some(qw)) = (plain(i.ping_word), plain(i.pong_word)) {
        if pw != qw {
            let mut c = TextCodec::with_texts(
                format!(r#"{{"type":"{pw}"}}"#),
                format!(r#"{{"type":"{qw}"}}"#),
            );
            let ping = heartbeat(pw, i.spaces, i.extra);
            assert_eq!(c.classify(&ping), Inbound::Ping, "{ping}");
            assert_eq!(
                c.classify(&heartbeat(qw, i.spaces, i.extra)),
                Inbound::Pong(None)
            );
            let own: String = c.ping(PingId::new(i.id));
            assert_eq!(c.classify(&own), Inbound::Ping);
        }
    }

    // Soundness: the default codec calls a text a ping only if it says "ping".
    let mut d = TextCodec::default();
    match d.classify(&i.message.to_string()) {
        Inbound::Ping => assert!(i.message.contains("\"ping\""), "{:?}", i.message),
        Inbound::Pong(_) => assert!(i.message.contains("\"pong\""), "{:?}", i.message),
        _ => {}
    }

    // WebSocket frames: ids survive the round trip, other payloads are liveness only.
    let id = PingId::new(i.id);
    let ping: Message = WsCodec.ping(id);
    assert_eq!(WsCodec.classify(&ping), Inbound::Ping);
    assert_eq!(
        WsCodec.classify(&Message::Pong(id.to_bytes().to_vec().into())),
        Inbound::Pong(Some(id))
    );
    assert_eq!(
        WsCodec.classify(&Message::Pong(i.payload.to_vec().into())),
        Inbound::Pong(PingId::from_bytes(i.payload))
    );
    let reason = [
        CloseReason::PongTimeout,
        CloseReason::IdleTimeout,
        CloseReason::Shutdown,
        CloseReason::TooManyPings,
    ][usize::from(i.close % 4)];
    let close: Message = WsCodec.close(reason).expect("a close frame");
    assert_eq!(
        WsCodec.classify(&close),
        Inbound::Close(Some(reason.code()))
    );
    // Our own close text is read back as its reason.
    let text = WsCodec.close_text(&close).unwrap_or("");
    assert_eq!(
        CloseReason::from_peer(Some(reason.code()), text),
        match reason {
            CloseReason::TooManyPings => CloseReason::TooManyPings,
            r => CloseReason::PeerClosed(r.code()),
        }
    );
    // Any text a peer closes with reads as some reason, without a panic.
    let _ = CloseReason::from_peer(Some(u16::from(i.close) * 257), i.message);
    // Text heartbeats over WebSocket keep the control frames' meaning.
    let mut t = TextCodec::default();
    assert_eq!(t.classify(&ping), Inbound::Ping);
    assert_eq!(t.pong(&ping), None); // tungstenite answers it
    assert_eq!(t.classify(&close), Inbound::Close(Some(reason.code())));
});
