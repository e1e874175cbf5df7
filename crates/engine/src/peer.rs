//! Who may take an environment's invocations: `/next` is served to the runtime, not to a process
//! that an earlier invocation left running.
//!
//! A handler may start a process that outlives its invocation. If that process calls
//! `GET /runtime/invocation/next` it would receive the next invocation in place of the runtime.
//! The Runtime API listener is served by Kumo but lives in the environment's network namespace,
//! and TCP has no `SO_PEERCRED`; the peer is found through `/proc` instead:
//!
//! 1. the connection's client socket is the entry of the namespace's TCP table
//!    (`/proc/<pid in the namespace>/net/tcp`) whose local address is the connection's remote
//!    one; its inode names the socket;
//! 2. the process holding `socket:[inode]` among its `/proc/<pid>/fd` is the peer; only the
//!    environment's own processes (its cgroup) are looked at.
//!
//! The rule, checked once per connection (the verdict is kept for its later requests):
//!
//! - a **leftover** is a process still alive when an invocation ended that was not alive when
//!   the one before it ended (for the first invocation: when it was handed over), i.e. started
//!   by the invocation (or between the two) and left running. One read of the environment's
//!   `cgroup.procs` per invocation, when the runtime answers;
//! - `/next` is refused to a leftover and to every descendant of one;
//! - while an invocation runs, `/next` is refused to processes that were not alive when the one
//!   before it ended (a process the handler starts cannot queue itself for the next invocation
//!   before this one ends);
//! - everything else is the runtime: the first process, whatever it `exec`s into, the
//!   interpreter a shell bootstrap starts without `exec`, and the short-lived `curl` a shell
//!   runtime starts for each `/next` after replying.
//!
//! Limits: the runtime process's own threads are the runtime; a process that shares the
//! runtime's socket (a `fork` of the runtime that keeps using the inherited connection) is not
//! told apart from it; a leftover that double-forks after the invocation and exits makes an
//! orphan that is reparented to the runtime and looks like one of its fresh children. Without
//! the sandbox (`--insecure-no-sandbox`, trusted code only) there is no cgroup and no check.

use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The TCP table read is bounded: an environment that makes it larger has only itself refused.
const MAX_TABLE_BYTES: u64 = 8 << 20;
/// File descriptors looked at to find the peer, at most.
const MAX_FDS_SCANNED: usize = 16_384;
/// Parents followed from the peer up to the environment's first process, at most.
const MAX_DEPTH: usize = 64;

/// The environment's processes as the Runtime API tracks them.
pub(crate) struct Guard {
    /// The process Kumo spawned: in the sandbox it joined the namespaces and waits for the
    /// runtime (PID 1 of the environment's PID namespace) it forked.
    leader: u32,
    /// `cgroup.procs` of the environment: exactly its processes.
    procs: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The processes alive when the last invocation ended (or the first was handed over).
    settled: Option<HashSet<u32>>,
    /// An invocation is with the runtime.
    running: bool,
    leftovers: HashSet<u32>,
}

impl Guard {
    pub(crate) fn new(leader: u32, procs: PathBuf) -> Self {
        Self {
            leader,
            procs,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An invocation was handed to the runtime. Reads nothing but for the first invocation.
    pub(crate) fn invocation_started(&self) {
        let mut state = self.state();
        if state.settled.is_none() {
            state.settled = Some(read_pids(&self.procs));
        }
        state.running = true;
    }

    /// The runtime answered the running invocation: what it left running becomes a leftover.
    pub(crate) fn invocation_ended(&self) {
        let now = read_pids(&self.procs);
        let mut state = self.state();
        if !std::mem::take(&mut state.running) {
            return;
        }
        let before = state.settled.take().unwrap_or_default();
        // Leftovers that ended are forgotten (their pids may be used again).
        state.leftovers.retain(|pid| now.contains(pid));
        let new: Vec<u32> = now
            .difference(&before)
            .copied()
            .filter(|p| *p != self.leader)
            .collect();
        state.leftovers.extend(new);
        state.settled = Some(now);
    }

    /// Whether the process at the other end of the connection `remote` -> `local` may take
    /// invocations. Blocking (reads `/proc`).
    pub(crate) fn admits(&self, remote: SocketAddr, local: SocketAddr) -> bool {
        let Some(inode) = socket_inode(self.leader, remote, local) else {
            tracing::debug!(%remote, "runtime api peer: no socket found");
            return false;
        };
        let (leftovers, running) = {
            let state = self.state();
            let running = state
                .running
                .then(|| state.settled.clone().unwrap_or_default());
            (state.leftovers.clone(), running)
        };
        let allowed = |pid: u32| {
            !leftovers.contains(&pid) && running.as_ref().is_none_or(|r| r.contains(&pid))
        };
        let mut pids: Vec<u32> = read_pids(&self.procs)
            .into_iter()
            .filter(|p| *p != self.leader && allowed(*p))
            .collect();
        pids.sort_unstable();
        let Some(owner) = owner_of(&pids, inode) else {
            tracing::debug!(%remote, inode, "runtime api peer is not the runtime");
            return false;
        };
        // The chain of parents up to the leader must hold no leftover.
        let mut pid = owner;
        for _ in 0..MAX_DEPTH {
            if pid == self.leader {
                return true;
            }
            if !allowed(pid) {
                break;
            }
            match parent_of(pid) {
                Some(parent) if parent > 1 => pid = parent,
                _ => break,
            }
        }
        tracing::debug!(%remote, owner, "runtime api peer descends from a leftover process");
        false
    }
}

fn read_pids(procs: &Path) -> HashSet<u32> {
    std::fs::read_to_string(procs)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `/proc/net/tcp` notation of an address and port: the address as 32-bit words in host byte
/// order. `mapped` gives an IPv4 address in its IPv6 form (`::ffff:a.b.c.d`), as `tcp6` lists
/// the IPv6 sockets (e.g. the JVM's) that connected to an IPv4 listener.
fn tcp_table_addr(addr: SocketAddr, mapped: bool) -> String {
    let octets: Vec<u8> = match addr.ip() {
        std::net::IpAddr::V4(ip) if mapped => ip.to_ipv6_mapped().octets().to_vec(),
        std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
        std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    let mut out = String::with_capacity(40);
    for word in octets.chunks_exact(4) {
        let word = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
        out.push_str(&format!("{word:08X}"));
    }
    out.push_str(&format!(":{:04X}", addr.port()));
    out
}

/// The inode of the client's socket of the connection `remote` -> `local`, from the TCP tables
/// of the network namespace `pid` is in.
fn socket_inode(pid: u32, remote: SocketAddr, local: SocketAddr) -> Option<u64> {
    let v4 = remote.is_ipv4() && local.is_ipv4();
    let tables = [("tcp", false), ("tcp6", true)];
    tables
        .iter()
        .filter(|(name, _)| v4 || *name == "tcp6")
        .find_map(|(name, mapped)| {
            let mapped = *mapped && v4;
            find_inode(
                &format!("/proc/{pid}/net/{name}"),
                &tcp_table_addr(remote, mapped),
                &tcp_table_addr(local, mapped),
            )
        })
}

fn find_inode(table: &str, want_local: &str, want_remote: &str) -> Option<u64> {
    let mut text = String::new();
    std::fs::File::open(table)
        .ok()?
        .take(MAX_TABLE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Inode 0: a socket no process holds any more (TIME_WAIT) that a new one may replace.
        (fields.get(1) == Some(&want_local) && fields.get(2) == Some(&want_remote))
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
            .filter(|inode| *inode != 0)
    })
}

/// The first of `pids` holding `socket:[inode]`.
fn owner_of(pids: &[u32], inode: u64) -> Option<u32> {
    let target = format!("socket:[{inode}]");
    let mut scanned = 0usize;
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            scanned += 1;
            if scanned > MAX_FDS_SCANNED {
                return None;
            }
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                return Some(*pid);
            }
        }
    }
    None
}

/// The parent of `pid` (field 4 of `/proc/<pid>/stat`, after the parenthesised name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_table_names_loopback_like_the_kernel() {
        let addr: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        assert_eq!(tcp_table_addr(addr, false), "0100007F:2329");
        assert_eq!(
            tcp_table_addr(addr, true),
            "0000000000000000FFFF00000100007F:2329"
        );
    }

    /// Connects to a loopback listener as `client_addr` and finds this process at the other end.
    fn find_self(client_addr: &str) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let client =
            std::net::TcpStream::connect(format!("{client_addr}:{port}")).expect("connect");
        let (server, remote) = listener.accept().expect("accept");
        let local = server.local_addr().expect("local");
        let me = std::process::id();
        let inode = socket_inode(me, remote, local).expect("inode");
        assert_eq!(owner_of(&[me], inode), Some(me));
        drop(client);
    }

    #[test]
    fn the_peer_of_a_loopback_connection_is_found_in_this_process() {
        find_self("127.0.0.1");
    }

    #[test]
    fn an_ipv6_socket_connected_to_the_ipv4_listener_is_found_too() {
        // How the JVM connects to 127.0.0.1: an IPv6 socket with the v4-mapped address.
        find_self("[::ffff:127.0.0.1]");
    }

    #[test]
    fn the_parent_is_read_from_stat() {
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }

    #[test]
    fn a_process_started_during_an_invocation_and_left_running_is_a_leftover() {
        let dir = tempfile::tempdir().expect("tempdir");
        let procs = dir.path().join("cgroup.procs");
        std::fs::write(&procs, "10\n11\n").expect("write");
        let guard = Guard::new(10, procs.clone());
        guard.invocation_started();
        std::fs::write(&procs, "10\n11\n12\n13\n").expect("write");
        guard.invocation_ended();
        assert_eq!(guard.state().leftovers, HashSet::from([12, 13]));
        // 12 ended: forgotten; 13 is still a leftover after the next invocation, and 14, started
        // by it, is one too.
        guard.invocation_started();
        std::fs::write(&procs, "10\n11\n13\n14\n").expect("write");
        guard.invocation_ended();
        assert_eq!(guard.state().leftovers, HashSet::from([13, 14]));
        // A process started between invocations and gone by the end of the next one (a shell
        // runtime's curl for /next) never becomes one.
        std::fs::write(&procs, "10\n11\n13\n14\n15\n").expect("write");
        guard.invocation_started();
        std::fs::write(&procs, "10\n11\n13\n14\n").expect("write");
        guard.invocation_ended();
        assert_eq!(guard.state().leftovers, HashSet::from([13, 14]));
    }
}
