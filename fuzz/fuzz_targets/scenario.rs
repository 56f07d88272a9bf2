//! Arbitrary text through the scenario parser: a parse error naming a real line, or a
//! scenario that replays without panicking and without breaking an invariant (a
//! mismatch with its own expectations is fine; a broken rule is a machine bug).
#![no_main]

use keepalive::sim::{Scenario, ScenarioError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse(text) {
        Err(e) => {
            assert!(matches!(e, ScenarioError::Parse { .. }), "{e}");
            assert!(
                e.line() >= 1 && e.line() <= text.lines().count().max(1),
                "line {} of {}",
                e.line(),
                text.lines().count()
            );
            assert!(!e.message().is_empty());
        }
        Ok(s) => {
            // Its own expectations may fail; the rules may not.
            let _ = s.run();
            if let Ok(config) = s.config() {
                keepalive_fuzz::check_trace(config, s.start(), &s.steps());
            }
        }
    }
});
