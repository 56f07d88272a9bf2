// The README is the crate's documentation, and its examples are doc tests. They use the
// tokio, tungstenite and axum adapters, so they are compiled when those features are on
// (`--all-features`, as docs.rs builds); otherwise a short pointer stands in.
#![cfg_attr(
    all(feature = "tungstenite", feature = "axum"),
    doc = include_str!("../README.md")
)]
#![cfg_attr(
    not(all(feature = "tungstenite", feature = "axum")),
    doc = "A sans-IO heartbeat state machine: see `HeartbeatMachine`, and README.md for the guide."
)]
#![cfg_attr(not(feature = "std"), no_std)]
// One audited `getsockopt(TCP_INFO)` in `meter` is the exception, allowed there alone.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

mod backoff;
pub mod codec;
mod config;
mod conn;
#[cfg(feature = "driver")]
pub mod driver;
mod event;
mod learn;
#[cfg(any(feature = "driver", feature = "sim"))]
mod link;
mod machine;
mod policy;
mod reason;
pub mod rules;
mod state;
mod stats;
mod time;

#[cfg(feature = "alloc")]
mod set;
#[cfg(feature = "sim")]
pub mod sim;

// The runtime adapters and the byte meter live with the driver they plug into; they are
// named from the crate's root, where users reach for them.
#[cfg(feature = "async-std")]
pub use driver::async_std;
#[cfg(feature = "axum")]
pub use driver::axum;
#[cfg(feature = "driver")]
pub use driver::meter;
#[cfg(feature = "smol")]
pub use driver::smol;
#[cfg(feature = "tokio")]
pub use driver::tokio;

pub use config::{Config, ConfigBuilder, ConfigError, Fix, Jitter, PingPolicy, Role, Setting};
pub use event::{Action, Actions, Event, PingId};
pub use learn::PathMemory;
pub use machine::HeartbeatMachine;
pub use policy::Decision;
pub use reason::CloseReason;
#[cfg(feature = "alloc")]
pub use set::{HeartbeatSet, SetError};
pub use state::State;
pub use stats::Stats;
#[cfg(feature = "std")]
pub use time::Clock;
pub use time::Instant;

/// `core::time::Duration`, re-exported so that no_std users need no other import.
pub use core::time::Duration;
