//! A hostile peer: it completes the WebSocket upgrade, then writes pings as fast as the
//! socket takes them and never reads what it is sent. It runs on a plain thread with
//! blocking sockets (every runtime's tests use the same one) and allocates nothing once
//! started, so the process's heap measures the side under test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the flood is made of.
#[derive(Copy, Clone, Debug)]
pub enum Pings {
    /// WebSocket ping frames with a 125-byte payload (the largest a control frame takes).
    Frames,
    /// Application-level `{"type":"ping"}` text frames, for `TextCodec`.
    Json,
}

/// A running flood: pings sent so far; it ends by itself (see [`Flood::client`]).
pub struct Flood {
    pub pings: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Flood {
    /// Connects to `addr` (the WebSocket at `path`) as a client and floods it for `flood`,
    /// then holds the socket open, still reading nothing, for `linger`, and drops it.
    pub fn client(
        addr: SocketAddr,
        path: &str,
        pings: Pings,
        flood: Duration,
        linger: Duration,
    ) -> Flood {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        let frames = frames(pings, true);
        Flood::run(
            move || {
                let mut tcp = TcpStream::connect(addr)?;
                tcp.write_all(request.as_bytes())?;
                let response = head(&mut tcp)?;
                if !response.starts_with("HTTP/1.1 101") {
                    return Err(io::Error::other(format!("not upgraded: {response}")));
                }
                Ok(tcp)
            },
            frames,
            flood,
            linger,
        )
    }

    /// Listens on loopback; the first connection that upgrades is flooded as
    /// [`client`](Self::client) says. Returns the address to connect to.
    pub fn server(pings: Pings, flood: Duration, linger: Duration) -> (SocketAddr, Flood) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the flooder");
        let addr = listener.local_addr().expect("addr");
        let frames = frames(pings, false);
        let flood = Flood::run(
            move || {
                let (mut tcp, _) = listener.accept()?;
                let request = head(&mut tcp)?;
                let key = request
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Sec-WebSocket-Key: ")
                            .or_else(|| l.strip_prefix("sec-websocket-key: "))
                    })
                    .ok_or_else(|| io::Error::other("no key"))?;
                let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(
                    key.trim().as_bytes(),
                );
                let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            );
                tcp.write_all(response.as_bytes())?;
                Ok(tcp)
            },
            frames,
            flood,
            linger,
        );
        (addr, flood)
    }

    fn run(
        open: impl FnOnce() -> io::Result<TcpStream> + Send + 'static,
        frames: (Vec<u8>, usize),
        flood: Duration,
        linger: Duration,
    ) -> Flood {
        let pings = Arc::new(AtomicU64::new(0));
        let counted = pings.clone();
        let thread = thread::spawn(move || {
            let Ok(mut tcp) = open() else { return };
            let _ = tcp.set_write_timeout(Some(Duration::from_millis(50)));
            let (buf, frame) = frames;
            let (started, mut pos, mut written) = (Instant::now(), 0usize, 0u64);
            // The buffer repeats one frame: writing on from any offset keeps the framing.
            while started.elapsed() < flood {
                match tcp.write(&buf[pos..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        pos = (pos + n) % buf.len();
                        written += n as u64;
                        counted.store(written / frame as u64, Ordering::Relaxed);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            thread::sleep(linger); // still reading nothing
        });
        Flood { pings, thread }
    }

    /// Waits for the flood (and its linger) to end; returns the pings sent.
    pub fn join(self) -> u64 {
        let _ = self.thread.join();
        self.pings.load(Ordering::Relaxed)
    }
}

/// A buffer of identical frames (masked for a client, RFC 6455), and one frame's size.
fn frames(pings: Pings, masked: bool) -> (Vec<u8>, usize) {
    let (opcode, payload): (u8, Vec<u8>) = match pings {
        Pings::Frames => (0x89, vec![b'p'; 125]),
        Pings::Json => (0x81, br#"{"type":"ping"}"#.to_vec()),
    };
    let mut frame = vec![opcode, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    if masked {
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        frame.extend(&payload);
    }
    let size = frame.len();
    (frame.repeat(512), size)
}

/// Reads an HTTP head, up to its blank line.
fn head(tcp: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte)? == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The process's CPU time so far (user and system, all threads), from `/proc/self/stat`.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// The process's resident memory now, from `/proc/self/statm`.
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident");
    pages * 4096
}
