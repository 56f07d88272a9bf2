//! Replays every scenario under `tests/scenarios/` (one per field situation and one per
//! rule of the contract, `keepalive::rules`) with every step checked by the oracle, and
//! checks that malformed scenarios fail cleanly.

use keepalive::sim::{Scenario, ScenarioError};
use keepalive::{Action, HeartbeatMachine};
use std::path::Path;

mod check;
use check::oracle::Oracle;

fn replay(text: &str) -> Result<Option<HeartbeatMachine>, ScenarioError> {
    Scenario::replay(text)
}

/// The scenario's steps again, each call checked against the rules by the oracle (its
/// own expectations are `replay`'s business): `Err` names the step's time and the rule.
fn oracle_checks(text: &str) -> Result<(), String> {
    let scenario = Scenario::parse(text).map_err(|e| e.to_string())?;
    let Ok(config) = scenario.config() else {
        return Ok(()); // a scenario about a refused config has no machine
    };
    let mut m = HeartbeatMachine::new(config, scenario.start());
    let mut oracle = Oracle::new(&m);
    for (at, event) in scenario.steps() {
        let actions: Vec<Action> = m.handle(at, event).collect();
        oracle
            .check(at, event, &actions, &m)
            .map_err(|v| format!("at {at:?} `{event:?}`: the machine broke a rule: {v}"))?;
    }
    Ok(())
}

#[test]
fn every_scenario_file_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the full scenario set, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable scenario");
        let name = path.file_name().unwrap().to_string_lossy();
        match replay(&text)
            .map_err(|e| e.to_string())
            .and_then(|_| oracle_checks(&text))
        {
            Ok(()) => println!("ok   {name}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn parse_error(text: &str) -> (usize, String) {
    match Scenario::parse(text).expect_err("malformed scenario must not parse") {
        ScenarioError::Parse { line, message } => (line, message),
        other => panic!("{text:?}: not a parse error: {other}"),
    }
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "config client\n0s connected\n5s pingg",
            3,
            "unknown event 'pingg'",
        ),
        ("config client\n\n# c\n5 tick", 4, "has no unit"),
        ("config client\n0s tick -> send_pingg", 2, "unknown action"),
        ("config client\n0s tick -> reconnect 2s..1s", 2, "is empty"),
        (
            "config client\n0s tick -> close because",
            2,
            "unknown close reason",
        ),
        (
            "config client ping_interval=fast\n0s tick",
            1,
            "unknown unit 'fast'",
        ),
        (
            "config client nonsense=1s\n0s tick",
            1,
            "unknown setting 'nonsense'",
        ),
        ("config robot\n0s tick", 1, "unknown role"),
        ("0s tick", 1, "expected `config"),
        ("config client\nconfig server\n0s tick", 2, "second config"),
        ("config client\n0s pong_received x", 2, "not a ping id"),
        (
            "config client\n0s tick extra",
            2,
            "the event tick is written `tick`",
        ),
        (
            "config client\n0s tick\nexpect mood happy",
            3,
            "unknown expectation",
        ),
        (
            "config client\n0s tick\nexpect state dancing",
            3,
            "unknown state",
        ),
        ("config client\n", 1, "no steps"),
        ("", 1, "no `config"),
        (
            "config client\n0s tick\nexpect config_error ping_interval",
            3,
            "right after the config",
        ),
        ("config client\n99999999999999999999h tick", 2, "too large"),
        ("config client\n+5x tick", 2, "unknown unit"),
    ];
    for (text, line, needle) in cases {
        let (got_line, msg) = parse_error(text);
        assert_eq!(got_line, *line, "{text:?}: {msg}");
        assert!(
            msg.contains(needle),
            "{text:?}: message {msg:?} lacks {needle:?}"
        );
    }
}

#[test]
fn mismatch_names_the_line_and_both_sides() {
    let e = replay(
        "config client ping_interval=20s pong_timeout=10s\n0s connected\n20s tick -> send_pong\n",
    )
    .expect_err("wrong expectation");
    assert!(matches!(e, ScenarioError::Mismatch { line: 3, .. }), "{e}");
    assert!(
        e.message().contains("expected send_pong, got send_ping 1"),
        "{e}"
    );

    let e = replay(
        "config client ping_interval=20s pong_timeout=10s\n0s connected\nexpect deadline 21s\n",
    )
    .expect_err("wrong deadline");
    assert_eq!(e.line(), 3);
    assert!(
        e.message().contains("expected deadline 21s, got 20s"),
        "{e}"
    );
}

#[test]
fn a_refused_config_is_reported_unless_expected() {
    let e = replay("config client ping_interval=0s\n0s connected\n").expect_err("refused");
    assert!(matches!(e, ScenarioError::Config { line: 1, .. }), "{e}");
    assert!(
        e.message().contains(
            "ping_interval (0ns) must be from 1ms to 86400s; try 1s (the default is 20s)"
        ),
        "{e}"
    );

    let e = replay("config client\nexpect config_error ping_interval\n").expect_err("accepted");
    assert!(e.message().contains("but it was accepted"), "{e}");
}

#[test]
fn relative_times_and_user_settings() {
    // Users replay recorded situations against their own settings with run_with (here
    // with the first ping a full interval after the open, as in the scenario).
    let s = Scenario::parse("config client\n0s connected\n+20s tick -> send_ping\n").unwrap();
    let mine = keepalive::Config::client()
        .ping_interval(keepalive::Duration::from_secs(20))
        .spread_pings(false)
        .build()
        .unwrap();
    s.run_with(mine).unwrap();
    let slower = keepalive::Config::client()
        .ping_interval(keepalive::Duration::from_secs(30))
        .spread_pings(false)
        .build()
        .unwrap();
    assert!(matches!(
        s.run_with(slower).unwrap_err(),
        ScenarioError::Mismatch { .. }
    ));
}

/// Durations in scenario text: the units, fractions, and what is refused; the recorder
/// writes them back the same.
#[test]
fn durations_read_and_write_back() {
    let start = |t: &str| {
        Scenario::parse(&format!("config client\nstart {t}\n{t} connected")).map(|s| s.start())
    };
    for t in ["30s", "1.5s", "150ms", "250us", "10ns", "0ns", "20.05s"] {
        let at = start(t).expect(t);
        let text = keepalive::sim::Recorder::new(keepalive::Config::client().build().unwrap(), at)
            .scenario();
        assert!(text.contains(&format!("start {t}")), "{t}: {text}");
    }
    assert_eq!(start("2m").unwrap(), keepalive::Instant::from_secs(120));
    assert_eq!(start(".5s").unwrap(), keepalive::Instant::from_millis(500));
    for bad in [
        "s",
        "30",
        "3x",
        "1.2.3s",
        "99999999999999999999999h",
        "0.0000000001s",
        ".",
    ] {
        assert!(start(bad).is_err(), "{bad}");
    }
}
