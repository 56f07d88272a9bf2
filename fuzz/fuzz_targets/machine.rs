//! Any accepted config, any trace (time backwards, huge jumps, u64::MAX instants):
//! every rule of the contract holds (the oracle of `tests/check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = keepalive_fuzz::decode(data) {
        keepalive_fuzz::check_trace(input.config, input.start, &input.steps);
    }
});
