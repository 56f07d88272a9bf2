//! The network lab: two network namespaces joined by a veth pair, each end shaped with
//! `tc`, so that tests run over the kernel's own TCP through a slow link with a deep
//! queue, a link that goes down and comes back, and peer processes that stop.
//!
//! - Its addresses (10.200.0.1 in `a`, 10.200.0.2 in `b`) exist only inside the
//!   namespaces it creates: no traffic goes anywhere else.
//! - Everything is removed when the [`Lab`] drops, a failed test included; namespaces left
//!   by a run that was killed are swept by the next one.
//! - It needs root and iproute2 (`ip`, `tc`; `nft` for the NAT). Where it cannot create a namespace,
//!   [`Lab::new`] fails under `CI=true`, and otherwise prints one line and returns `None`.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Every namespace of the lab is named `kalab-<pid>-<n>-<a|b>`.
const PREFIX: &str = "kalab-";
/// The veth end's name inside each namespace.
const DEV: &str = "lab0";

/// One end of the lab: a network namespace with its end of the link.
pub struct Ns {
    name: String,
    /// This end's address (on the link, inside the namespace only).
    pub ip: Ipv4Addr,
}

/// Two namespaces, `a` and `b`, joined by one link; or, [`behind_nat`](Lab::behind_nat),
/// `b` behind a NAT router on the way to `a`.
pub struct Lab {
    pub a: Ns,
    pub b: Ns,
    /// The NAT router between them, if any.
    router: Option<Ns>,
}

impl Lab {
    /// A fresh lab, the link up and unshaped; `None` (after one line saying why) where
    /// namespaces cannot be created and this is not CI.
    pub fn new(test: &str) -> Option<Lab> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        sweep();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = |end: &str| format!("{PREFIX}{}-{n}-{end}", std::process::id());
        let lab = Lab {
            a: Ns {
                name: name("a"),
                ip: Ipv4Addr::new(10, 200, 0, 1),
            },
            b: Ns {
                name: name("b"),
                ip: Ipv4Addr::new(10, 200, 0, 2),
            },
            router: None,
        };
        if let Err(why) = run("ip", &["netns", "add", &lab.a.name]) {
            let why = format!("cannot create a network namespace ({why})");
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the network lab must run in CI, but {why}: it needs root and iproute2 (ip, tc)"
            );
            println!("lab skipped ({test}): {why}; it needs root and iproute2, and runs in CI");
            return None;
        }
        // From here on, a failure panics and `Drop` removes what was made.
        lab.must("ip", &["netns", "add", &lab.b.name]);
        lab.must(
            "ip",
            &[
                "link",
                "add",
                DEV,
                "netns",
                &lab.a.name,
                "type",
                "veth",
                "peer",
                "name",
                DEV,
                "netns",
                &lab.b.name,
            ],
        );
        for ns in [&lab.a, &lab.b] {
            let addr = format!("{}/24", ns.ip);
            lab.must("ip", &["-n", &ns.name, "addr", "add", &addr, "dev", DEV]);
            lab.must("ip", &["-n", &ns.name, "link", "set", DEV, "up"]);
            lab.must("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        }
        Some(lab)
    }

    /// A fresh lab with `b` behind a NAT, as a carrier's or a home gateway's: a router
    /// namespace between `b` (10.201.0.2) and `a` (10.200.0.1) that masquerades `b`'s
    /// connections on its way out, drops what its connection tracking calls invalid, and
    /// forgets an established TCP connection idle for `forget_after` (its own
    /// `nf_conntrack_tcp_timeout_established`; `nf_conntrack_tcp_loose=0`, so a segment
    /// of a forgotten connection is not taken up again). After that, the connection is
    /// black-holed, silently, as carrier NATs do. Needs nftables (`nft`).
    pub fn behind_nat(test: &str, forget_after: Duration) -> Option<Lab> {
        let mut lab = Lab::new(test)?;
        // Re-wire: a's end stays; b moves behind the router.
        let router = Ns {
            name: format!("{}-r", lab.a.name.trim_end_matches("-a")),
            ip: Ipv4Addr::new(10, 200, 0, 254),
        };
        lab.must("ip", &["netns", "add", &router.name]);
        lab.router = Some(router);
        let r = lab
            .router
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let (a, b) = (lab.a.name.clone(), lab.b.name.clone());
        lab.must("ip", &["-n", &b, "link", "del", DEV]); // the direct link, both ends
        let veth = |lab: &Lab, ns: &str, there: &str| {
            lab.must(
                "ip",
                &[
                    "link", "add", DEV, "netns", ns, "type", "veth", "peer", "name", there,
                    "netns", &r,
                ],
            );
        };
        veth(&lab, &a, "out0");
        veth(&lab, &b, "in0");
        lab.b.ip = Ipv4Addr::new(10, 201, 0, 2);
        for (ns, dev, addr) in [
            (&a, DEV, "10.200.0.1/24"),
            (&b, DEV, "10.201.0.2/24"),
            (&r, "out0", "10.200.0.254/24"),
            (&r, "in0", "10.201.0.1/24"),
        ] {
            lab.must("ip", &["-n", ns, "addr", "add", addr, "dev", dev]);
            lab.must("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        lab.must("ip", &["-n", &r, "link", "set", "lo", "up"]);
        lab.must(
            "ip",
            &["-n", &b, "route", "add", "default", "via", "10.201.0.1"],
        );
        let rules = "table ip kalab {\n\
             chain forward { type filter hook forward priority 0; policy accept; ct state invalid drop; }\n\
             chain post { type nat hook postrouting priority 100; oifname \"out0\" masquerade; }\n\
             }\n";
        let file = std::env::temp_dir().join(format!("{r}.nft"));
        std::fs::write(&file, rules).expect("the NAT's rules");
        let file = file.to_str().expect("a UTF-8 path").to_string();
        lab.must("ip", &["netns", "exec", &r, "nft", "-f", &file]);
        let _ = std::fs::remove_file(&file);
        lab.sysctl("net.ipv4.ip_forward=1");
        lab.sysctl("net.netfilter.nf_conntrack_tcp_loose=0");
        lab.nat_forgets_after(forget_after);
        Some(lab)
    }

    /// How long the NAT keeps an idle established connection (whole seconds).
    pub fn nat_forgets_after(&self, idle: Duration) {
        let seconds = idle.as_secs().max(1);
        self.sysctl(&format!(
            "net.netfilter.nf_conntrack_tcp_timeout_established={seconds}"
        ));
    }

    /// Sets a kernel setting (`name=value`) in the NAT router's namespace.
    fn sysctl(&self, setting: &str) {
        let r = self.router.as_ref().expect("a lab behind a NAT");
        self.must("ip", &["netns", "exec", &r.name, "sysctl", "-qw", setting]);
    }

    /// Shapes both ends with a token bucket: `rate` (as `tc` writes it, e.g. `2mbit`) and
    /// a queue that holds up to `queue` of traffic before it drops.
    pub fn shape(&self, rate: &str, queue: Duration) {
        let latency = format!("{}ms", queue.as_millis());
        for ns in [&self.a, &self.b] {
            self.must(
                "tc",
                &[
                    "-n", &ns.name, "qdisc", "replace", "dev", DEV, "root", "tbf", "rate", rate,
                    "burst", "16kb", "latency", &latency,
                ],
            );
        }
    }

    /// Takes the link down (`a`'s end: both lose the carrier, and packets in flight are
    /// dropped with no word to either side) or brings it back up.
    pub fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        self.must("ip", &["-n", &self.a.name, "link", "set", DEV, state]);
    }

    fn must(&self, program: &str, args: &[&str]) {
        if let Err(why) = run(program, args) {
            panic!("lab: `{program} {}` failed: {why}", args.join(" "));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the link, and so the pair.
        for ns in [Some(&self.a), Some(&self.b), self.router.as_ref()]
            .into_iter()
            .flatten()
        {
            let _ = run("ip", &["netns", "del", &ns.name]);
        }
    }
}

impl Ns {
    /// `host:port` at this end.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// Runs `f` on a thread of its own inside this namespace (sockets made there belong
    /// to it) and returns what it returns; its panic is this thread's panic.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            let t = s.spawn(|| {
                self.enter();
                f()
            });
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Starts `f` on a thread of its own inside this namespace (a server).
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
        let path = self.path();
        thread::spawn(move || {
            enter(&path);
            f()
        })
    }

    /// Makes TCP connections from inside this namespace, from any thread.
    pub fn dialer(&self) -> Dialer {
        Dialer { path: self.path() }
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    fn enter(&self) {
        enter(&self.path());
    }
}

/// Connects from inside a namespace (see [`Ns::dialer`]).
#[derive(Clone)]
pub struct Dialer {
    path: String,
}

impl Dialer {
    /// Connects to `addr` within `timeout`, blocking; the stream is nonblocking, ready to
    /// hand to a runtime.
    pub fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        let path = self.path.clone();
        thread::spawn(move || {
            enter(&path);
            let tcp = TcpStream::connect_timeout(&addr, timeout)?;
            tcp.set_nonblocking(true)?;
            Ok(tcp)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// Moves the calling thread into the network namespace mounted at `path`.
fn enter(path: &str) {
    let ns = File::open(path).unwrap_or_else(|e| panic!("lab: open {path}: {e}"));
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&ns),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap_or_else(|e| panic!("lab: enter {path}: {e}"));
}

/// Runs a command to completion; its stderr is the error.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(Output { status, .. }) if status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

/// Deletes the namespaces of lab runs whose process is gone (a run that was killed).
fn sweep() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = run("ip", &["netns", "del", name]);
        }
    }
}
