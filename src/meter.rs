//! Byte-level liveness (feature `driver`): [`Metered`] wraps the byte stream under a
//! WebSocket (the TCP or TLS stream) and counts what crosses it, so that the driver sees
//! life in bytes, not only in complete messages.
//!
//! On a slow link a large message takes seconds to arrive or to leave. Without a meter
//! the driver sees nothing until the message is whole, and a peer that is busy sending
//! (its pong waits behind the message) or busy taking our upload looks silent. With one:
//!
//! - every read that returns bytes is a sign of the peer ([`Event::DataReceived`]);
//! - every write that had to wait and then went through means the peer took bytes of ours
//!   ([`Event::DataDelivered`]): with the unsent backlog kept small, writes follow the
//!   peer's acknowledgements;
//! - the ping's flush completes only when it has left our backlog, so the pong clock
//!   starts then ([`Event::PingWritten`]).
//!
//! # What each platform gets
//!
//! [`Meter::tcp`] keeps the kernel's *unsent* backlog under 16 KiB with
//! `TCP_NOTSENT_LOWAT` on Linux and Android (through `socket2`). Elsewhere (macOS, the
//! BSDs, Windows) the option is not set: reads and deliveries are still measured, but a
//! written ping may wait behind the whole send buffer (often megabytes), so the pong
//! timeout must cover the time that buffer takes to drain on your slowest link. Bytes
//! already in flight in the network (a bloated router queue) are never visible to a
//! sender: keep `pong_timeout` above the path's worst queueing delay.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! use keepalive::meter::Meter;
//! let meter = Meter::new();
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
//! let tcp = meter.tcp(tcp); // counts bytes; TCP_NOTSENT_LOWAT where the platform has it
//! // ... the WebSocket handshake over `tcp`, then:
//! // Heartbeat::new(ws, WsCodec, config).with_meter(meter)
//! # Ok(()) }
//! ```
//!
//! [`Event::DataReceived`]: crate::Event::DataReceived
//! [`Event::DataDelivered`]: crate::Event::DataDelivered
//! [`Event::PingWritten`]: crate::Event::PingWritten

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::Poll;
use std::sync::Arc;

/// The unsent backlog [`Meter::tcp`] allows by default: 16 KiB, the value commonly used
/// for latency-sensitive traffic. At 256 KB/s a ping waits at most about 60 ms behind it.
pub const DEFAULT_UNSENT_LIMIT: u32 = 16 * 1024;

#[derive(Debug, Default)]
struct Counts {
    /// Reads that returned bytes.
    received: AtomicU64,
    /// Writes that had to wait, then went through.
    delivered: AtomicU64,
    /// `TCP_NOTSENT_LOWAT` took effect on the socket.
    limited: AtomicBool,
}

/// What a [`Metered`] stream counted, shared with the driver that reads it. Cheap to
/// clone (one allocation shared by all clones).
#[derive(Clone)]
pub struct Meter {
    counts: Arc<Counts>,
    unsent_limit: u32,
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("received", &self.received())
            .field("delivered", &self.delivered())
            .field("limits_backlog", &self.limits_backlog())
            .finish()
    }
}

impl Default for Meter {
    /// [`Meter::new`]: the default unsent limit, not zero (which the kernel reads as
    /// "no limit").
    fn default() -> Meter {
        Meter::new()
    }
}

/// A socket, for [`Meter::tcp`]: any type that lends its file descriptor (Unix) or
/// socket handle (Windows), as every runtime's TCP stream does.
#[cfg(unix)]
pub trait Socket: std::os::fd::AsFd {}
#[cfg(unix)]
impl<T: std::os::fd::AsFd> Socket for T {}
/// A socket, for [`Meter::tcp`]: any type that lends its file descriptor (Unix) or
/// socket handle (Windows), as every runtime's TCP stream does.
#[cfg(windows)]
pub trait Socket: std::os::windows::io::AsSocket {}
#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> Socket for T {}
/// A socket, for [`Meter::tcp`].
#[cfg(not(any(unix, windows)))]
pub trait Socket {}
#[cfg(not(any(unix, windows)))]
impl<T> Socket for T {}

impl Meter {
    /// A new meter, counting nothing yet, with the default unsent limit.
    pub fn new() -> Meter {
        Meter {
            counts: Arc::default(),
            unsent_limit: DEFAULT_UNSENT_LIMIT,
        }
    }

    /// The unsent backlog [`tcp`](Self::tcp) allows (at least 1 KiB; default
    /// [`DEFAULT_UNSENT_LIMIT`]). Smaller: a ping waits less behind our data; larger:
    /// more throughput on fast, distant links.
    pub fn with_unsent_limit(mut self, bytes: u32) -> Meter {
        self.unsent_limit = bytes.max(1024);
        self
    }

    /// Counts what crosses `io`, any byte stream (a TLS stream, an in-memory pipe).
    pub fn wrap<T>(&self, io: T) -> Metered<T> {
        Metered {
            io,
            meter: self.clone(),
            waited: false,
        }
    }

    /// Counts what crosses a TCP stream, and keeps its unsent backlog under the limit
    /// (`TCP_NOTSENT_LOWAT`, on Linux and Android; elsewhere nothing is set, see
    /// [`limits_backlog`](Self::limits_backlog)). Wrap the TCP stream itself, under TLS
    /// and the WebSocket.
    pub fn tcp<T: Socket>(&self, io: T) -> Metered<T> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let limited = socket2::SockRef::from(&io)
                .set_tcp_notsent_lowat(self.unsent_limit)
                .is_ok();
            self.counts.limited.store(limited, Ordering::Relaxed);
        }
        self.wrap(io)
    }

    /// Whether the unsent backlog is kept small, so that a written ping is on its way
    /// (`TCP_NOTSENT_LOWAT` was set by [`tcp`](Self::tcp)).
    pub fn limits_backlog(&self) -> bool {
        self.counts.limited.load(Ordering::Relaxed)
    }

    /// Reads that returned bytes, so far.
    pub fn received(&self) -> u64 {
        self.counts.received.load(Ordering::Relaxed)
    }

    /// Writes that had to wait for the peer and then went through, so far.
    pub fn delivered(&self) -> u64 {
        self.counts.delivered.load(Ordering::Relaxed)
    }

    // Called by the AsyncRead/AsyncWrite impls of the runtime features.
    #[cfg_attr(not(any(feature = "tokio", feature = "async-io")), allow(dead_code))]
    fn count_read(&self) {
        self.counts.received.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(any(feature = "tokio", feature = "async-io")), allow(dead_code))]
    fn count_delivery(&self) {
        self.counts.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A byte stream whose reads and writes are counted by a [`Meter`]: `AsyncRead` and
/// `AsyncWrite` for tokio (feature `tokio`) and for futures-io (feature `async-io`, as
/// async-tungstenite, smol and async-std use), passing everything through.
pub struct Metered<T> {
    io: T,
    meter: Meter,
    /// A write returned `Pending` since the last one that went through.
    waited: bool,
}

impl<T> fmt::Debug for Metered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl<T> Metered<T> {
    /// Counts what crosses `io` (any byte stream), with a meter of its own.
    pub fn new(io: T) -> Metered<T> {
        Meter::new().wrap(io)
    }

    /// The meter, for [`Heartbeat::with_meter`](crate::driver::Heartbeat::with_meter).
    pub fn meter(&self) -> Meter {
        self.meter.clone()
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The stream inside, mutably (bytes moved through it directly are not counted).
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The stream inside.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Counts a read's outcome.
    #[cfg_attr(not(any(feature = "tokio", feature = "async-io")), allow(dead_code))]
    fn read<E>(&self, outcome: Poll<Result<(), E>>, got_bytes: bool) -> Poll<Result<(), E>> {
        if got_bytes && matches!(outcome, Poll::Ready(Ok(()))) {
            self.meter.count_read();
        }
        outcome
    }

    /// Counts a write's outcome: one that had to wait and then went through is a
    /// delivery.
    #[cfg_attr(not(any(feature = "tokio", feature = "async-io")), allow(dead_code))]
    fn write<E>(&mut self, outcome: Poll<Result<usize, E>>) -> Poll<Result<usize, E>> {
        match &outcome {
            Poll::Pending => self.waited = true,
            Poll::Ready(Ok(n)) if *n > 0 => {
                if core::mem::take(&mut self.waited) {
                    self.meter.count_delivery();
                }
            }
            Poll::Ready(_) => {}
        }
        outcome
    }
}

#[cfg(feature = "tokio")]
mod tokio_io {
    use super::Metered;
    use core::pin::Pin;
    use core::task::{Context, Poll};
    use std::io;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let before = buf.filled().len();
            let outcome = Pin::new(&mut this.io).poll_read(cx, buf);
            let got = buf.filled().len() > before;
            this.read(outcome, got)
        }
    }

    impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let outcome = Pin::new(&mut this.io).poll_write(cx, buf);
            this.write(outcome)
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let outcome = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
            this.write(outcome)
        }

        fn is_write_vectored(&self) -> bool {
            self.io.is_write_vectored()
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
        }
    }
}

#[cfg(feature = "async-io")]
mod futures_io_impl {
    use super::Metered;
    use core::pin::Pin;
    use core::task::{Context, Poll};
    use futures_io::{AsyncRead, AsyncWrite};
    use std::io;

    impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let outcome = Pin::new(&mut this.io).poll_read(cx, buf);
            if let Poll::Ready(Ok(n)) = outcome {
                return this.read(Poll::Ready(Ok(())), n > 0).map_ok(|()| n);
            }
            outcome
        }
    }

    impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let outcome = Pin::new(&mut this.io).poll_write(cx, buf);
            this.write(outcome)
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let outcome = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
            this.write(outcome)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_flush(cx)
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_close(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_meter_keeps_the_default_unsent_limit() {
        assert_eq!(Meter::default().unsent_limit, DEFAULT_UNSENT_LIMIT);
        assert_eq!(Meter::new().with_unsent_limit(10).unsent_limit, 1024);
    }

    #[cfg(all(feature = "tokio", any(target_os = "linux", target_os = "android")))]
    #[test]
    fn tcp_sets_the_unsent_limit_on_linux() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let tcp = tokio::net::TcpStream::connect(l.local_addr().expect("addr"))
                .await
                .expect("connect");
            let meter = Meter::new();
            let tcp = meter.tcp(tcp);
            assert!(meter.limits_backlog());
            let set = socket2::SockRef::from(tcp.get_ref())
                .tcp_notsent_lowat()
                .expect("getsockopt");
            assert_eq!(set, DEFAULT_UNSENT_LIMIT);
        });
    }
}
