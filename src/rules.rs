//! The rules the machine follows, precisely: what to report, every deadline, and the
//! invariants that the tests, the property tests and the fuzzer check on every call.
//!
//! This page is documentation only. The rules are implemented once, for both
//! [`HeartbeatMachine`](crate::HeartbeatMachine) and [`HeartbeatSet`](crate::HeartbeatSet),
//! and checked call by call by the crate's oracle (`tests/check`: an independent
//! statement of these rules, run by its scenario tests, property tests and fuzz targets).
//!
//! # What to report
//!
//! The machine knows only what you tell it. Silence means *no bytes*, not *no complete
//! message*: on a slow link a large message takes seconds to arrive or to leave, and the
//! peer is alive all that time.
//!
//! | when | report |
//! |---|---|
//! | a read returns bytes (any, a partial frame included) | [`DataReceived`](crate::Event::DataReceived) |
//! | a complete ping, pong arrives | [`PingReceived`](crate::Event::PingReceived), [`PongReceived`](crate::Event::PongReceived) (a data message needs nothing more than its bytes' `DataReceived`) |
//! | you hand a data message to the transport | [`DataSent`](crate::Event::DataSent) |
//! | a write that had to wait (the socket said "not now") goes through | [`DataDelivered`](crate::Event::DataDelivered): the send backlog drained, so the path took bytes |
//! | the ping's last byte is written (after whatever of ours was queued ahead of it) | [`PingWritten(id)`](crate::Event::PingWritten) |
//! | the transport's own record (Linux `TCP_INFO`), read at a deadline: the peer's last data came `ago` | [`PathHeard { ago }`](crate::Event::PathHeard) |
//! | the same record: the peer's kernel acknowledged our bytes queued ahead of the ping in flight, the last `ago`, and not yet the ping's own | [`PathMoved { ago }`](crate::Event::PathMoved) |
//! | the transport's round-trip estimate (`TCP_INFO`'s RTT and its variance) | [`PathRtt { srtt, rttvar }`](crate::Event::PathRtt) |
//! | the transport opens, fails, closes | `Connected`, `ConnectFailed`, `Disconnected` |
//! | the connection or the attempt ended for a known reason (the peer's close frame, a refused upgrade) | [`Closed(reason)`](crate::Event::Closed), with [`CloseReason::from_peer`](crate::CloseReason::from_peer) or [`CloseReason::refused`](crate::CloseReason::refused), instead of `Disconnected` or `ConnectFailed` |
//!
//! Reporting more often is harmless: traffic on a quiet open connection takes a fast path
//! that costs a few nanoseconds. Reporting a burst once, at its end, is fine too: liveness
//! is then timed at the end of the burst.
//!
//! **Bytes handed to the kernel are not bytes delivered.** A socket's send buffer can
//! swallow megabytes, so a write that goes through at once proves nothing: report
//! `DataDelivered` only for a write that had to wait. And keep the kernel's *unsent*
//! backlog small, so that "written" means "on its way": on Linux and Android set
//! `TCP_NOTSENT_LOWAT` (the driver's [`Metered`](crate::meter::Metered) does, 16 KiB).
//! Elsewhere the ping may still wait behind the send buffer after it is written; the
//! pong timeout must then cover the time that buffer takes to drain.
//!
//! An adapter that cannot see bytes (a message-only API) reports messages only: then a
//! message counts as life when it is complete, and the pong timeout runs from
//! `SendPing`. That is the per-message rule of most heartbeat libraries, and on a slow
//! link a large message can outlast it.
//!
//! # Deadlines while open
//!
//! Four times per connection: the last sign of the peer (`last_in`: bytes or a message
//! from it), the last outbound activity (`last_out`), when the ping in flight left
//! (`ping_at`: the `SendPing`, moved to its `PingWritten`, and later while the path holds
//! it), and when the connection opened. Every deadline is derived from them, so none can
//! go stale.
//!
//! **Only the peer proves it is alive.** Bytes from the peer (`DataReceived`, a ping, a
//! pong, `PathHeard`) move `last_in`. What the peer's *kernel* does for us (it takes our
//! bytes: `DataDelivered`; it acknowledges them: `PathMoved`) proves only that the path
//! moves: a process stopped with SIGSTOP, or hung, has a kernel that acknowledges
//! everything until its receive buffer is full. So it never moves `last_in`; it may only
//! *hold* the pong clock while our ping still waits behind our own data (in our buffers:
//! `DataDelivered` before `PingWritten`; in the network: `PathMoved`, reported only while
//! the ping's own bytes are unacknowledged). Once the ping's own bytes are acknowledged
//! nothing holds it: the peer's application must answer within the pong timeout. A hung
//! peer is then caught within the bound whatever we send, and a bloated uplink still
//! never gets a live peer called dead: its acknowledgements hold the ping that waits in
//! its queue.
//!
//! | deadline | when | then |
//! |---|---|---|
//! | ping | `WhenIdle`: `min(last_in, last_out) + ping_interval`; `Fixed`: `ping_at + ping_interval`; a connection's first ping `phase` sooner | `SendPing` (at most one per call) |
//! | pong | a ping in flight: `max(ping_at, last_in) + pong_timeout` (the one in force, below) | `Close(PongTimeout)` |
//! | idle | `idle_timeout` set: `last_in + idle_timeout` (never before a probe's `pong_timeout`) | `Close(IdleTimeout)` |
//!
//! The `phase` spreads connections opened together (`spread_pings`, on by default): at
//! the open, `k / 256` of the interval in force, `k` uniform over 0 to 223 from the
//! seeded generator (the seed, the time and the ping count), so a replay repeats it.
//! The first ping then comes after an eighth to all of the interval; the later ones keep
//! that phase. Pings only ever come sooner for it, so every bound below holds.
//!
//! - **Dead-peer bound.** With no sign of the peer after `last_in`, the close comes by
//!   `last_in + ping_interval + pong_timeout` (or `idle_timeout`). A ping that left later
//!   than that, or that the path held (our own data was still being delivered ahead of
//!   it), gives the peer `pong_timeout` from when it left or was last held: so the bound
//!   counts from the last byte either way.
//! - **Never a live peer dead.** `Close(PongTimeout)` only once `pong_timeout` has passed
//!   since both the ping left and the last sign of the peer.
//! - **The transport's record is life as of then.** `PathHeard { ago }` moves `last_in`
//!   to `now - ago`, not to `now`: a record read late may predate a path that died since.
//!   A ping that was due meanwhile goes out at the read, with `pong_timeout` from there.
//!   (The async driver, while its application is behind and it reads nothing, lets a
//!   record dated after the ping left answer that ping, without a round trip: the pong
//!   is in the socket, unread, and nothing else could say so.)
//! - **One ping in flight.** A pong acknowledges its ping and every earlier one; a pong
//!   with an unknown id is a sign of life only; `PongReceived(None)` acknowledges the
//!   ping in flight. A ping is replaced early only when the peer is visibly alive (it
//!   sent something after the ping, within the last `ping_interval`) and the ping is
//!   `pong_timeout` old: it was lost, not fatal, and the next may go. A ping that has
//!   not left yet (a caller that reports `PingWritten` has not reported it) is never
//!   replaced: another would only queue behind it.
//! - **No burst.** After a stall of any length, at most one ping goes out.
//!
//! # The pong timeout in force
//!
//! A path can be slower than the configured `pong_timeout` allows: a bloated uplink's
//! queue, or TCP waiting out a retransmission timeout, delays every byte, pongs included.
//! So the machine keeps RFC 6298's estimator (integer µs): a smoothed round trip and its
//! variance from the pongs (Karn's rule: a pong that may have waited behind the peer's
//! data is no sample), and the transport's own from `PathRtt`. The retransmission timeout
//! is `SRTT + max(1 ms, 4 × RTTVAR)` (no one-second minimum: a fast path keeps a short
//! timeout), the larger of the two sources counts, and the pong timeout in force is
//!
//! ```text
//! max(pong_timeout, min(3 × RTO, 60 s))
//! ```
//!
//! as QUIC bounds its idle timeout by three probe timeouts (RFC 9000 §10.1). A configured
//! timeout below what the path allows is stretched, never refused; the 60 s cap keeps
//! detection bounded on any path. On a fast quiet path nothing changes. `idle_timeout`
//! is never shorter than a ping cycle in force when we ping. [`Stats`](crate::Stats)
//! shows the interval, the pong timeout and the dead-peer bound in force.
//!
//! # Ping policing
//!
//! With `min_ping_interval` set (a server's default: 50 ms), each ping from the peer uses
//! one interval of its budget, which grows with time from the open; credit for quiet
//! time is kept for a minute at most (gRFC A8's rule, measured as a rate: pings that
//! waited in our receive buffer while we were busy are read together and are no flood).
//! A ping beyond the budget is a strike; past `max_ping_strikes` the machine closes with
//! [`TooManyPings`](crate::CloseReason::TooManyPings) (1008, "too many pings") instead of
//! answering. `DataSent` forgives the strikes; an unsolicited pong is life, never a
//! strike. A client closed for too many pings doubles its ping interval for the next
//! connection (at most six times, never past `path_idle_limit`).
//!
//! # Clock jumps and pauses
//!
//! A close deadline overdue by more than `min(pong_timeout, 1 s)` means the caller was
//! not running (laptop sleep, a throttled tab, a stopped process): the peer's answer may
//! be sitting unread. Instead of closing, the machine sends one probe ping and allows a
//! fresh `pong_timeout`; a second overdue deadline in the same silence closes.
//! `Pause` stops pings and every deadline but a close under way; `Resume` probes at once
//! (only after a `Pause`, so a flood of resumes cannot postpone detection);
//! `NetworkChanged` probes once per silence.
//!
//! # Closing
//!
//! After `Close` nothing more is sent on that connection. A close the transport never
//! confirms with `Disconnected` is forced (`ForceClose`) after `close_timeout`.
//!
//! # Reconnecting (client)
//!
//! After a close, `Disconnected`, `Closed(reason)` or `ConnectFailed`, the reason
//! decides, through [`Config::decide`](crate::Config::decide) (the table below, or the
//! config's overrides, as data):
//!
//! | reason | [`Decision`](crate::Decision) |
//! |---|---|
//! | the peer closed with 1001 (going away) or 1012 (restarting) | `Soon`: the first step of backoff, whatever the streak |
//! | the peer closed with 1013 (try again later) | `Later`: half of `backoff_max` to `backoff_max` |
//! | the peer closed with 1002, 1003, 1007, 1008, 1010 | `GiveUp`: retrying cannot fix a protocol or policy error |
//! | the upgrade was refused with 429 or 503 and a `Retry-After` | `NotBefore(retry_after)`, capped at `retry_after_max` |
//! | the upgrade was refused with 408, 429 or 503 without one, or any 5xx | `Backoff` |
//! | the upgrade was refused with any other status (401, 403, 404, ...) | `GiveUp` |
//! | anything else: timeouts, transport failures, other close codes, too many pings | `Backoff` |
//!
//! `Backoff` is `Reconnect { after }`, with `after` from `backoff_initial`, times
//! `backoff_multiplier` per attempt, capped at `backoff_max`, jittered. `GiveUp` ends the
//! client: [`Action::GiveUp`](crate::Action::GiveUp) carries the reason and
//! `fatal: true`. The machine announces the wait; the wait itself is the machine's
//! deadline, and the `Tick` there says `Connect`. The attempt then has `connect_timeout`
//! to end in `Connected` or `ConnectFailed`, or it is abandoned (`AbortConnect`) and the
//! next wait begins. So one timer at `next_deadline()` runs a client's whole life:
//!
//! ```text
//! connected ... Close(PongTimeout) ... Disconnected -> Reconnect { after: 1.4s }
//!           ... Tick at +1.4s -> Connect ... Connected
//! ```
//!
//! A caller that keeps its own timer for `after` and reports `Connected` or
//! `ConnectFailed` without ticking keeps working: the outcome is accepted during the wait
//! or after it. `Resume` and `NetworkChanged` during the wait connect at once
//! (`Reconnect { after: 0 }`, `Connect`; not counted as an attempt).
//!
//! The attempt counter resets only after a connection stayed up `stable_after`, so a
//! flapping server still sees growing waits; `max_attempts` failures in a row end in
//! `GiveUp`. `Shutdown` never reconnects. Every connection starts from clean state:
//! nothing of the previous one (a ping in flight, a deadline) can close the next. What
//! the path taught stays: the round trips measured (they only lengthen the pong
//! timeout) and, with `keepalive_ceiling`, the keepalive interval learned.
//! A server never reconnects: after a close it is done.
//!
//! # The fast path, and what `next_deadline` promises
//!
//! The deadline is computed once per full pass and kept. Traffic on an open connection
//! with no ping in flight, no probe and no pause only ever moves deadlines later, so it
//! records the time and returns: `next_deadline()` is then an early bound, and the tick
//! there finds nothing due and hands out the later deadline. It is never later than the
//! rules' deadline, never before the latest `now`, and after any call later than that
//! call's `now` (so a caller never spins), except at [`Instant::MAX`](crate::Instant::MAX),
//! where every deadline saturates and each call makes one transition.
//!
//! # Invariants checked on every call
//!
//! The oracle checks, on every call of the scenarios, the property tests and the fuzzer:
//!
//! - the deadline handed out is never before the latest `now`, later than `now` after
//!   any call (except at `Instant::MAX`), and never later than the rules' deadline;
//! - a finished machine does and schedules nothing; pings and pongs go out only on an
//!   open connection, nothing after `Close`;
//! - one ping in flight, no burst (pings at least `min(ping_interval, pong_timeout)`
//!   apart, probes aside);
//! - never a live peer dead, and a silent peer caught within the bound above (plus
//!   however late the caller has been);
//! - a close is forced within `close_timeout`;
//! - reconnect waits are never below `backoff_initial` (zero only on resume or a network
//!   change) nor above the larger of `backoff_max` and `retry_after_max`, plus a quarter;
//!   `Connect` only once the announced wait is over; no reconnect for a server or after
//!   `Shutdown`, whatever a policy says; at most `max_attempts` in a row, and `GiveUp`
//!   only then or for a cause the policy calls fatal.
