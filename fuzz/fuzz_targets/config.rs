//! Arbitrary builder inputs, full-precision durations, policing and overrides included:
//! `build()` returns a config or an error whose message names the setting it blames and
//! offers a fix, which builds when applied (unless what remains is no duration);
//! accepted configs then run a short trace under the oracle.
#![no_main]

use arbitrary::Arbitrary;
use keepalive::{CloseReason, Duration, Event, Instant, Setting};
use keepalive_fuzz::settings::{self, Form};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Inputs {
    server: bool,
    /// A value for each setting of the table, in its order (`None`: the default).
    values: Vec<Option<(u64, u32)>>,
    overrides: Vec<(u8, u16, u8, u32)>,
    trace: Vec<(u16, u8)>,
}

/// A value of `form` from the fuzzer's numbers: durations to the nanosecond (so the
/// builder's grain check runs), any `f32` for a factor (NaN and infinities included).
fn text(form: &Form, (a, b): (u64, u32)) -> String {
    match form {
        Form::Duration { .. } => format!("{}.{:09}s", a % 10_000_000_000, b % 1_000_000_000),
        Form::Count => (a as u32).to_string(),
        Form::Factor => format!("{}", f32::from_bits(b)),
        _ => settings::text(form, a),
    }
}

fuzz_target!(|i: Inputs| {
    let table = keepalive_fuzz::table();
    let mut values: Vec<(Setting, String)> = table
        .plain(i.server)
        .zip(&i.values)
        .filter_map(|(row, v)| v.map(|v| (row.setting, text(&row.form, v))))
        .collect();
    if !i.server {
        let keyed: Vec<_> = table.keyed().collect();
        for &(which, code, d, wait) in i.overrides.iter().take(6) {
            let row = keyed[usize::from(which) % keyed.len()];
            let d = keepalive_fuzz::decision(d, wait);
            values.push((row.setting, settings::override_text(code, d)));
        }
    }
    match settings::Table::build(i.server, &values) {
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
            // The fix, every value of it applied at once, builds, unless what is left in
            // the way is no duration (that error proposes none).
            let fix: Vec<_> = e.fix().iter().collect();
            if !fix.is_empty() {
                let mut fixed = values.clone();
                fixed.extend(fix.iter().map(|(s, d)| (*s, format!("{}ms", d.as_millis()))));
                if let Err(again) = settings::Table::build(i.server, &fixed) {
                    assert!(again.fix().is_empty(), "{msg}: {fix:?} left {again}");
                }
            }
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
