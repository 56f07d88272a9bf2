//! [`State`]: where a connection is in its life, as the machine and the set report it.

/// Where the connection is in its life, as [`HeartbeatMachine::state`](crate::HeartbeatMachine::state)
/// reports it.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum State {
    /// Waiting `after` a [`Reconnect`](crate::Action::Reconnect) before connecting; at the
    /// end of the wait the machine asks for [`Connect`](crate::Action::Connect).
    Backoff,
    /// A connection attempt is under way (or, for a new machine, about to be).
    Connecting,
    /// Connected: pinging, answering, watching for silence.
    Open,
    /// A [`Close`](crate::Action::Close) was sent; waiting for the transport to close.
    Closing,
    /// Server role: the connection is over. Nothing more will happen.
    Closed,
    /// Shut down by [`Event::Shutdown`](crate::Event::Shutdown). Nothing more will happen.
    Stopped,
    /// Client role: `max_attempts` reconnects failed. Nothing more will happen.
    GaveUp,
}

impl State {
    /// Whether the machine is finished (closed, stopped or gave up).
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Closed | State::Stopped | State::GaveUp)
    }
}
