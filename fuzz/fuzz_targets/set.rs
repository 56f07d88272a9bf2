//! Arbitrary operations on a HeartbeatSet, compared call by call with one
//! HeartbeatMachine per key (the SetCheck of `tests/check`), each under the oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((config, _start, ops)) = keepalive_fuzz::decode_set(data) {
        // A set does not learn (smart keepalive is a client machine's): its connections
        // and the machines beside them agree only where neither does.
        if config.keepalive_ceiling().is_none() {
            keepalive_fuzz::check_set(config, &ops);
        }
    }
});
