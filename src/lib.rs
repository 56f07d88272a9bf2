#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

mod backoff;
mod config;
mod conn;
mod event;
mod machine;
mod time;

#[cfg(feature = "alloc")]
mod set;
#[cfg(feature = "sim")]
pub mod sim;

pub use config::{Config, ConfigBuilder, ConfigError, Jitter, PingPolicy, Role, Setting};
pub use event::{Action, Actions, CloseReason, Event, PingId};
pub use machine::{HeartbeatMachine, State, Stats};
#[cfg(feature = "alloc")]
pub use set::{HeartbeatSet, KeyExists, UnknownKey};
#[cfg(feature = "std")]
pub use time::Clock;
pub use time::Instant;

/// `core::time::Duration`, re-exported so that no_std users need no other import.
pub use core::time::Duration;
