//! A TCP proxy that forwards at a fixed rate each way, with small socket buffers: a slow
//! link with a short queue, as a DSL line or a congested mobile uplink is, on loopback.
//! It runs on plain threads, so the tests of every runtime (and the interop peers) use
//! the same one. `stall()` stops it forwarding without closing anything: the path died
//! mid-transfer.

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Bytes moved at a time.
const CHUNK: usize = 4 * 1024;
/// The proxy's socket buffers (the kernel doubles them): the queue of the slow link.
const BUFFER: usize = 8 * 1024;

/// A running proxy; it stops when dropped (connections through it are cut).
pub struct Throttle {
    addr: SocketAddr,
    stalled: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    /// Bytes forwarded toward the upstream server, and back.
    pub up: Arc<AtomicU64>,
    pub down: Arc<AtomicU64>,
}

impl Throttle {
    /// Listens on 127.0.0.1 and forwards every connection to `upstream` at `rate` bytes
    /// per second in each direction.
    pub fn start(upstream: SocketAddr, rate: u64) -> Throttle {
        let listener = small_socket();
        listener
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
            .expect("bind the proxy");
        listener.listen(16).expect("listen");
        let listener: TcpListener = listener.into();
        listener.set_nonblocking(true).expect("nonblocking accept");
        let addr = listener.local_addr().expect("proxy addr");
        let t = Throttle {
            addr,
            stalled: Arc::default(),
            stopped: Arc::default(),
            up: Arc::default(),
            down: Arc::default(),
        };
        let (stalled, stopped) = (t.stalled.clone(), t.stopped.clone());
        let (up, down) = (t.up.clone(), t.down.clone());
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                client.set_nonblocking(false).expect("blocking");
                let server = small_socket();
                if server.connect(&upstream.into()).is_err() {
                    continue;
                }
                let server: TcpStream = server.into();
                for (from, to, count) in [
                    (client.try_clone(), server.try_clone(), up.clone()),
                    (server.try_clone(), client.try_clone(), down.clone()),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let (stalled, stopped) = (stalled.clone(), stopped.clone());
                    thread::spawn(move || pump(from, to, rate, &stalled, &stopped, &count));
                }
            }
        });
        t
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `ws://` URL for the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops forwarding in both directions; every socket stays open.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

fn small_socket() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_recv_buffer_size(BUFFER).expect("SO_RCVBUF");
    s.set_send_buffer_size(BUFFER).expect("SO_SNDBUF");
    s
}

/// Moves bytes from `from` to `to` at `rate`, chunk by chunk.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    rate: u64,
    stalled: &AtomicBool,
    stopped: &AtomicBool,
    count: &AtomicU64,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut sent = 0u64;
    loop {
        if stopped.load(Ordering::Relaxed) {
            break;
        }
        if stalled.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        // Hold the average at `rate`: this chunk leaves once its time has come.
        sent += n as u64;
        let due = started + Duration::from_nanos(sent.saturating_mul(1_000_000_000) / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        while stalled.load(Ordering::Relaxed) && !stopped.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown(Shutdown::Write);
}
