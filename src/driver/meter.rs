//! Byte-level liveness (feature `driver`): [`Metered`] wraps the byte stream under a
//! WebSocket (the TCP or TLS stream) and counts what crosses it, so that the driver sees
//! life in bytes, not only in complete messages, and reads the kernel's view of the path.
//!
//! On a slow link a large message takes seconds to arrive or to leave. Without a meter
//! the driver sees nothing until the message is whole, and a peer that is busy sending
//! (its pong waits behind the message) or busy taking our upload looks silent. With one:
//!
//! - every read that returns bytes is a sign of the peer ([`Event::DataReceived`]);
//! - every write that had to wait and then went through means the path took bytes of ours
//!   ([`Event::DataDelivered`]): with the unsent backlog kept small, writes follow the
//!   acknowledgements of the peer's kernel, which hold a ping still queued behind them;
//! - the ping's flush completes only when it has left our backlog, so the pong clock
//!   starts then ([`Event::PingWritten`]);
//! - at each deadline (never per message), the kernel's `TCP_INFO` on Linux: bytes that
//!   arrived count as life even unread ([`Event::PathHeard`]); bytes of ours the peer's
//!   kernel acknowledged ahead of our ping hold the pong clock while the ping waits
//!   behind them ([`Event::PathMoved`]); its round-trip estimate ([`Event::PathRtt`])
//!   sets the floor under the pong timeout.
//!
//! # What each platform gets
//!
//! | platform | what is measured |
//! |---|---|
//! | Linux | all of it: `TCP_NOTSENT_LOWAT` (16 KiB) keeps our unsent backlog small, and `TCP_INFO` gives the kernel's view at each deadline |
//! | Android | reads, deliveries, the small backlog; no `TCP_INFO` (the pongs' round trips set the floor) |
//! | macOS, BSDs, Windows | reads and deliveries; a written ping may still wait behind the kernel's send buffer, so the pong timeout must cover the time that buffer takes to drain on your slowest link |
//!
//! Only the peer's bytes prove it alive. A stopped or hung process's kernel keeps
//! acknowledging everything we send until its receive buffer is full, so the kernel's
//! acknowledgements never count as life: they only hold a ping that still waits behind
//! our own data, and once the ping's own bytes are acknowledged the peer's application
//! must answer within the pong timeout, whatever we send.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! use keepalive::meter::Meter;
//! let meter = Meter::new();
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
//! let tcp = meter.tcp(tcp); // counts bytes, limits the backlog, reads TCP_INFO
//! // ... the WebSocket handshake over `tcp`, then:
//! // Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter)
//! # Ok(()) }
//! ```
//!
//! [`Event::DataReceived`]: crate::Event::DataReceived
//! [`Event::DataDelivered`]: crate::Event::DataDelivered
//! [`Event::PingWritten`]: crate::Event::PingWritten
//! [`Event::PathRtt`]: crate::Event::PathRtt
//! [`Event::PathHeard`]: crate::Event::PathHeard
//! [`Event::PathMoved`]: crate::Event::PathMoved

use super::lock;
use crate::link::{self, Kernel};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::Poll;
use std::sync::{Arc, Mutex};

/// The unsent backlog [`Meter::tcp`] allows unless told otherwise: 16 KiB, the value
/// commonly used for latency-sensitive traffic (at 256 KB/s a ping waits at most about
/// 60 ms behind it).
const DEFAULT_UNSENT_LIMIT: u32 = 16 * 1024;

#[derive(Debug, Default)]
struct Counts {
    /// Reads that returned bytes.
    received: AtomicU64,
    /// The bytes those reads returned.
    bytes_read: AtomicU64,
    /// The bytes written.
    bytes_written: AtomicU64,
    /// Writes that had to wait, then went through.
    delivered: AtomicU64,
    /// `TCP_NOTSENT_LOWAT` took effect on the socket.
    limited: AtomicBool,
    /// A stream was wrapped: the counts mean something.
    attached: AtomicBool,
    /// The socket, for `TCP_INFO` (Linux), while the metered stream lives.
    socket: Mutex<Option<Socket>>,
}

#[cfg(target_os = "linux")]
type Socket = std::os::fd::OwnedFd;
#[cfg(not(target_os = "linux"))]
type Socket = ();

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

impl Meter {
    /// A new meter, counting nothing yet, with the default unsent limit (16 KiB).
    pub fn new() -> Meter {
        Meter {
            counts: Arc::default(),
            unsent_limit: DEFAULT_UNSENT_LIMIT,
        }
    }

    /// The unsent backlog [`tcp`](Self::tcp) allows (at least 1 KiB; default 16 KiB).
    /// Smaller: a ping waits less behind our data; larger: more throughput on fast,
    /// distant links.
    pub fn with_unsent_limit(mut self, bytes: u32) -> Meter {
        self.unsent_limit = bytes.max(1024);
        self
    }

    /// Counts what crosses `io`, any byte stream (a TLS stream, an in-memory pipe).
    pub fn wrap<T>(&self, io: T) -> Metered<T> {
        self.counts.attached.store(true, Ordering::Relaxed);
        Metered {
            io,
            meter: self.clone(),
            waited: false,
            _socket: SocketGuard(None),
        }
    }

    /// Counts what crosses a TCP stream, keeps its unsent backlog under the limit
    /// (`TCP_NOTSENT_LOWAT`, Linux and Android) and lets the driver read `TCP_INFO` at
    /// its deadlines (Linux). Wrap the TCP stream itself, under TLS and the WebSocket.
    /// Elsewhere it counts, as [`wrap`](Self::wrap) does.
    #[cfg(unix)]
    pub fn tcp<T: std::os::fd::AsFd>(&self, io: T) -> Metered<T> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let limited = socket2::SockRef::from(&io)
                .set_tcp_notsent_lowat(self.unsent_limit)
                .is_ok();
            self.counts.limited.store(limited, Ordering::Relaxed);
        }
        let mut metered = self.wrap(io);
        #[cfg(target_os = "linux")]
        if let Ok(fd) = metered.io.as_fd().try_clone_to_owned() {
            *lock(&self.counts.socket) = Some(fd);
            metered._socket = SocketGuard(Some(self.clone()));
        }
        metered
    }

    /// Counts what crosses a TCP stream (Windows: reads and deliveries).
    #[cfg(windows)]
    pub fn tcp<T: std::os::windows::io::AsSocket>(&self, io: T) -> Metered<T> {
        self.wrap(io)
    }

    /// Whether a stream was wrapped ([`wrap`](Self::wrap) or [`tcp`](Self::tcp)): a
    /// meter that wraps nothing counts nothing, and the driver ignores it.
    pub(crate) fn is_attached(&self) -> bool {
        self.counts.attached.load(Ordering::Relaxed)
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

    /// The bytes the metered stream's reads returned, so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.counts.bytes_read.load(Ordering::Relaxed)
    }

    /// Writes that had to wait for the peer and then went through, so far.
    pub fn delivered(&self) -> u64 {
        self.counts.delivered.load(Ordering::Relaxed)
    }

    /// What the stream counted so far.
    pub(crate) fn counts(&self) -> link::Counts {
        let c = &self.counts;
        link::Counts {
            reads: c.received.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            deliveries: c.delivered.load(Ordering::Relaxed),
        }
    }

    /// The kernel's record of the connection (`TCP_INFO` and the receive buffer's
    /// size), where the platform gives it and the stream is alive: two system calls,
    /// made at deadlines only.
    pub(crate) fn kernel(&self) -> Option<Kernel> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let socket = lock(&self.counts.socket);
            let fd = socket.as_ref()?;
            let mut kernel = tcp_info::read(fd.as_fd())?;
            kernel.buffer = socket2::SockRef::from(fd).recv_buffer_size().ok()? as u64;
            Some(kernel)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    // Called by the AsyncRead/AsyncWrite impls of the runtime features.
    #[cfg_attr(
        not(any(feature = "tokio", feature = "smol", feature = "async-std")),
        allow(dead_code)
    )]
    fn count_read(&self, bytes: usize) {
        self.counts.received.fetch_add(1, Ordering::Relaxed);
        self.counts
            .bytes_read
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    #[cfg_attr(
        not(any(feature = "tokio", feature = "smol", feature = "async-std")),
        allow(dead_code)
    )]
    fn count_write(&self, bytes: usize, waited: bool) {
        self.counts
            .bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
        if waited {
            self.counts.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Closes the meter's copy of the socket when the metered stream goes, so that dropping
/// the stream closes the connection.
struct SocketGuard(Option<Meter>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Some(meter) = &self.0 {
            *lock(&meter.counts.socket) = None;
        }
    }
}

/// A byte stream whose reads and writes are counted by a [`Meter`]: `AsyncRead` and
/// `AsyncWrite` for tokio (feature `tokio`) and for futures-io (features `smol`,
/// `async-std`: async-tungstenite's streams), passing everything through.
pub struct Metered<T> {
    io: T,
    meter: Meter,
    /// A write returned `Pending` since the last one that went through.
    waited: bool,
    _socket: SocketGuard,
}

impl<T> fmt::Debug for Metered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl<T> Metered<T> {
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
    #[cfg_attr(
        not(any(feature = "tokio", feature = "smol", feature = "async-std")),
        allow(dead_code)
    )]
    fn read<E>(&self, outcome: Poll<Result<(), E>>, bytes: usize) -> Poll<Result<(), E>> {
        if bytes > 0 && matches!(outcome, Poll::Ready(Ok(()))) {
            self.meter.count_read(bytes);
        }
        outcome
    }

    /// Counts a write's outcome: one that had to wait and then went through is a
    /// delivery.
    #[cfg_attr(
        not(any(feature = "tokio", feature = "smol", feature = "async-std")),
        allow(dead_code)
    )]
    fn write<E>(&mut self, outcome: Poll<Result<usize, E>>) -> Poll<Result<usize, E>> {
        match &outcome {
            Poll::Pending => self.waited = true,
            Poll::Ready(Ok(n)) if *n > 0 => {
                let waited = core::mem::take(&mut self.waited);
                self.meter.count_write(*n, waited);
            }
            Poll::Ready(_) => {}
        }
        outcome
    }
}

/// `TCP_INFO`, read with one `getsockopt`: the crate's only unsafe code. No well-kept
/// crate exposes it safely (socket2, rustix and nix do not), and the call is the plain
/// C contract: a buffer of the struct's size, and the length the kernel filled.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod tcp_info {
    use super::Kernel;
    use core::mem::{size_of, MaybeUninit};
    use core::time::Duration;
    use std::os::fd::{AsRawFd, BorrowedFd};

    pub(super) fn read(fd: BorrowedFd<'_>) -> Option<Kernel> {
        let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `fd` is a live socket, borrowed for the call; `info` points to
        // `size_of::<tcp_info>()` writable bytes and `len` says so; the kernel writes at
        // most `len` bytes and sets `len` to what it wrote. Nothing is kept past the call.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: `tcp_info` holds only integers, for which every bit pattern (the
        // zeroes an older kernel leaves at the end included) is a valid value.
        let info = unsafe { info.assume_init() };
        let us = |v: u32| Duration::from_micros(u64::from(v));
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        Some(Kernel {
            received: info.tcpi_bytes_received,
            // Kernels before 4.1 leave it zero: then nothing is known of the ping's bytes.
            acked: info.tcpi_bytes_acked,
            // Kernels before 4.18 leave it zero: then the acknowledged bytes alone move.
            delivered: u64::from(info.tcpi_delivered),
            data_age: ms(info.tcpi_last_data_recv),
            ack_age: ms(info.tcpi_last_ack_recv),
            srtt: us(info.tcpi_rtt),
            rttvar: us(info.tcpi_rttvar),
            buffer: 0,
        })
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
            let got = buf.filled().len() - before;
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

#[cfg(any(feature = "smol", feature = "async-std"))]
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
                return this.read(Poll::Ready(Ok(())), n).map_ok(|()| n);
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

    #[cfg(all(feature = "tokio", target_os = "linux"))]
    #[test]
    fn tcp_limits_the_backlog_reads_the_path_and_lets_go_of_the_socket() {
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
            let (mut theirs, _) = l.accept().await.expect("accept");
            let meter = Meter::new();
            let tcp = meter.tcp(tcp);
            assert!(meter.limits_backlog());
            let set = socket2::SockRef::from(tcp.get_ref())
                .tcp_notsent_lowat()
                .expect("getsockopt");
            assert_eq!(set, DEFAULT_UNSENT_LIMIT);
            let kernel = meter.kernel().expect("TCP_INFO on Linux");
            assert_eq!(kernel.received, 0);
            assert!(kernel.buffer > 0);
            // Dropping the stream closes the connection: the meter kept no socket open.
            drop(tcp);
            assert!(meter.kernel().is_none());
            let mut buf = [0u8; 1];
            let n = tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                .await
                .expect("read");
            assert_eq!(n, 0, "the peer saw the connection close");
        });
    }
}
