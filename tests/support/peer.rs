//! Peer processes no one here wrote (Python `websockets`, Node `ws`, Chromium), each
//! printing one JSON object per line. `scripts/install-peers.sh` installs them at pinned
//! versions; a missing one fails the test that needs it with a message saying so.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn need(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is not installed ({} missing): run scripts/install-peers.sh (the test command does)",
        path.display()
    );
    path
}

pub fn python() -> PathBuf {
    match std::env::var_os("KEEPALIVE_INTEROP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => need(
            root().join("target/interop/venv/bin/python"),
            "Python websockets",
        ),
    }
}

/// A peer process whose stdout is one JSON object per line.
pub struct Peer {
    pub name: &'static str,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    pub seen: Vec<String>,
}

impl Peer {
    pub fn spawn(name: &'static str, program: PathBuf, args: &[&str]) -> Peer {
        // Chromium's stderr is start-up noise (no D-Bus in a sandbox); the others' is news.
        let stderr = if name == "chromium" {
            Stdio::null()
        } else {
            Stdio::inherit()
        };
        let mut child = Command::new(&program)
            .args(args)
            .current_dir(root().join("tests/interop"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            // Its own process group, so that a signal reaches every process it starts
            // (Chromium's renderers), and none outlives the test.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        Peer {
            name,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    pub fn python(args: &[&str]) -> Peer {
        let mut all = vec!["py_peer.py"];
        all.extend_from_slice(args);
        Peer::spawn("python websockets", python(), &all)
    }

    /// The Python peer inside the network namespace `ns` (`ip netns exec` runs it in
    /// place: the process is the peer, and signals reach it).
    pub fn python_in(ns: &str, args: &[&str]) -> Peer {
        let python = python();
        let python = python.to_str().expect("a UTF-8 path");
        let mut all = vec!["netns", "exec", ns, python, "py_peer.py"];
        all.extend_from_slice(args);
        Peer::spawn("python websockets", PathBuf::from("ip"), &all)
    }

    pub fn node(args: &[&str]) -> Peer {
        need(root().join("tests/interop/node_modules/ws"), "Node ws");
        let mut all = vec!["node_peer.js"];
        all.extend_from_slice(args);
        Peer::spawn("node ws", PathBuf::from("node"), &all)
    }

    /// The next line with `"event":"<event>"`, within `within`.
    pub async fn expect(&mut self, event: &str, within: Duration) -> String {
        let needle = format!(r#""event":"{event}""#);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    if line.contains(&needle) {
                        return line;
                    }
                }
                Ok(_) => panic!(
                    "{} ended before {event:?}; it printed {:#?}",
                    self.name, self.seen
                ),
                Err(_) => panic!(
                    "{} sent no {event:?} within {within:?}; it printed {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// The next line the peer prints within `within`; `None` when it ended or fell
    /// silent.
    pub async fn line(&mut self, within: Duration) -> Option<String> {
        let line = tokio::time::timeout(within, self.lines.next_line()).await;
        let line = line.ok()?.ok()??;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Sends `sig` to the peer's whole process group.
    pub fn signal(&self, sig: &str) {
        let group = format!("-{}", self.child.id().expect("running"));
        let ok = std::process::Command::new("kill")
            .args([sig, "--", &group])
            .status()
            .map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "kill {sig} -- {group}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A number or `null` field of a peer's JSON line.
pub fn field(line: &str, name: &str) -> Option<i64> {
    let start = line.find(&format!(r#""{name}":"#))? + name.len() + 3;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}
