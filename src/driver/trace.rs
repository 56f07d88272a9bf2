//! Structured events and spans through `tracing` (feature `tracing`), compiled out
//! entirely without it: no field is even computed then.
//!
//! Levels: `debug` for the routine (a ping sent, a pong, an attempt started), `info` for
//! connection changes (connected, closed, reconnecting), `warn` for timeouts and giving up.
//! Every connection has a span, `keepalive` (fields `role`, `peer`); a client's task has
//! one, `keepalive_client` (field `peer`), around its connections' spans.

use crate::Role;
use core::fmt;
use core::marker::PhantomData;

/// An event at `$level`, with `tracing`'s field syntax; nothing without the feature.
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::$level!($($arg)*);
        }
    };
}
pub(crate) use event;

/// A span, or nothing without the feature.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    #[cfg(feature = "tracing")]
    inner: tracing::Span,
    /// The span's first event is still to come.
    #[cfg(feature = "tracing")]
    fresh: bool,
}

/// A span entered until this is dropped.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    _guard: tracing::span::Entered<'a>,
    _span: PhantomData<&'a Span>,
}

impl Span {
    /// The span of one connection.
    pub(crate) fn connection(role: Role) -> Span {
        let _ = role;
        Span {
            #[cfg(feature = "tracing")]
            fresh: true,
            #[cfg(feature = "tracing")]
            inner: tracing::info_span!(
                "keepalive",
                role = match role {
                    Role::Client => "client",
                    _ => "server",
                },
                peer = tracing::field::Empty
            ),
        }
    }

    /// The span of a client's task.
    pub(crate) fn client() -> Span {
        Span {
            #[cfg(feature = "tracing")]
            fresh: false,
            #[cfg(feature = "tracing")]
            inner: tracing::info_span!("keepalive_client", peer = tracing::field::Empty),
        }
    }

    /// Names the peer (an address, a URL).
    pub(crate) fn record_peer(&self, peer: &dyn fmt::Display) {
        let _ = peer;
        #[cfg(feature = "tracing")]
        self.inner.record("peer", tracing::field::display(peer));
    }

    /// True the first time only (never without the feature): for an event that should
    /// come once the span is complete (its peer named).
    pub(crate) fn first(&mut self) -> bool {
        #[cfg(feature = "tracing")]
        return core::mem::take(&mut self.fresh);
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// Enters the span until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tracing")]
            _guard: self.inner.enter(),
            _span: PhantomData,
        }
    }
}
