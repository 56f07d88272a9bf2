//! Arbitrary builder inputs, full-precision durations, policing and overrides included:
//! `build()` returns a config or an error whose message names the setting it blames and
//! offers a fix; accepted configs then run a short trace under the oracle.
#![no_main]

use arbitrary::Arbitrary;
use keepalive::{CloseReason, Config, Decision, Duration, Event, Instant, Jitter, PingPolicy};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Inputs {
    server: bool,
    durations: [Option<(u64, u32)>; 12],
    policy: u8,
    jitter: u8,
    multiplier: f32,
    max_attempts: Option<u32>,
    seed: u64,
    strikes: Option<u32>,
    overrides: Vec<(bool, u16, u8, u32)>,
    trace: Vec<(u16, u8)>,
}

fn dur((secs, nanos): (u64, u32)) -> Duration {
    Duration::new(secs, nanos % 1_000_000_000)
}

fuzz_target!(|i: Inputs| {
    let mut b = if i.server {
        Config::server()
    } else {
        Config::client()
    }
    .ping_policy(
        [PingPolicy::WhenIdle, PingPolicy::Fixed, PingPolicy::Never][usize::from(i.policy % 3)],
    )
    .jitter([Jitter::None, Jitter::Full, Jitter::Equal][usize::from(i.jitter % 3)])
    .backoff_multiplier(i.multiplier)
    .seed(i.seed);
    let d = i.durations.map(|d| d.map(dur));
    if let Some(x) = d[0] {
        b = b.ping_interval(x)
    }
    if let Some(x) = d[1] {
        b = b.pong_timeout(x)
    }
    if let Some(x) = d[2] {
        b = b.idle_timeout(x)
    }
    if let Some(x) = d[3] {
        b = b.backoff_initial(x)
    }
    if let Some(x) = d[4] {
        b = b.backoff_max(x)
    }
    if let Some(x) = d[5] {
        b = b.stable_after(x)
    }
    if let Some(x) = d[6] {
        b = b.close_timeout(x)
    }
    if let Some(x) = d[7] {
        b = b.connect_timeout(x)
    }
    if let Some(x) = d[8] {
        b = b.path_idle_limit(x)
    }
    if let Some(x) = d[9] {
        b = b.retry_after_max(x)
    }
    if let Some(x) = d[10] {
        b = b.min_ping_interval(x)
    }
    if let Some(x) = d[11] {
        b = b.keepalive_ceiling(x)
    }
    if let Some(n) = i.strikes {
        b = b.max_ping_strikes(n)
    }
    for &(close, code, d, wait) in i.overrides.iter().take(6) {
        let d = match d % 5 {
            0 => Decision::Backoff,
            1 => Decision::Soon,
            2 => Decision::Later,
            3 => Decision::GiveUp,
            _ => Decision::NotBefore(Duration::from_millis(u64::from(wait))),
        };
        b = if close {
            b.on_close_code(code, d)
        } else {
            b.on_http_status(code, d)
        };
    }
    if let Some(n) = i.max_attempts {
        b = b.max_attempts(n)
    }
    match b.build() {
        Err(e) => {
            let msg = e.to_string();
            let setting = e.setting().expect("a builder's error names a setting");
            assert!(
                msg.contains(setting.name()),
                "error does not name its setting: {msg}"
            );
            // Every message is "<what is wrong>; <what to do>".
            assert!(
                msg.split_once("; ").is_some_and(|(_, fix)| !fix.is_empty()),
                "no fix offered: {msg}"
            );
        }
        Ok(config) => {
            let events = [
                Event::Tick,
                Event::Connected,
                Event::PingReceived,
                Event::PongReceived(None),
                Event::DataReceived,
                Event::Disconnected,
                Event::ConnectFailed,
                Event::Resume,
                Event::Closed(CloseReason::PeerClosed(1012)),
                Event::Closed(CloseReason::TooManyPings),
                Event::Closed(CloseReason::Refused {
                    status: 503,
                    retry_after: Some(Duration::from_secs(30)),
                }),
                Event::PathRtt {
                    srtt: Duration::from_millis(300),
                    rttvar: Duration::from_millis(100),
                },
                Event::PathHeard {
                    ago: Duration::from_millis(250),
                },
            ];
            let mut t = Instant::ZERO;
            let steps: Vec<_> = i
                .trace
                .iter()
                .take(64)
                .map(|&(dt, e)| {
                    t = t + Duration::from_millis(u64::from(dt));
                    (t, events[usize::from(e) % events.len()])
                })
                .collect();
            keepalive_fuzz::check_trace(config, Instant::ZERO, &steps);
        }
    }
});
