//! Which destinations an environment's outbound traffic may reach.
//!
//! slirp4netns opens the environment's connections from the host's own network stack, so without
//! a filter a function reaches everything the host reaches: the cloud metadata service at
//! 169.254.169.254 (which hands out the host's credentials), the private networks the host sits
//! on, and the host's own addresses (every service of the host that listens on all interfaces).
//!
//! Before slirp4netns is attached, an nftables ruleset is loaded into the environment's network
//! namespace (by `nft`, run in that namespace). Its output chain
//!
//! 1. accepts loopback (the Runtime API at 127.0.0.1:9001, the function's own sockets);
//! 2. accepts DNS to slirp4netns's forwarder ([`crate::DNS_SERVER`] port 53, UDP and TCP);
//! 3. accepts the operator's allow-list ([`AllowRule`]: a CIDR and a port, or a CIDR alone);
//! 4. refuses [`REFUSED_V4`], [`REFUSED_V6`] and the host's own addresses, TCP with a reset (the
//!    connect fails at once with ECONNREFUSED), anything else with an ICMP "administratively
//!    prohibited";
//! 5. accepts the rest: public addresses stay reachable.
//!
//! The function cannot change these rules: it has no capabilities (no CAP_NET_ADMIN) and cannot
//! make a user namespace in which it would have them. The host's addresses are read when each
//! namespace is made; [`refused_host_addresses`] lets the caller notice a change and discard
//! namespaces made before it. Only addresses outside the fixed ranges count, so link-local
//! addresses coming and going with container interfaces do not.

use crate::{io_err, NetNs, Result, SandboxError};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

/// IPv4 destinations refused unless allowed: "this network", private ranges, carrier-grade NAT,
/// loopback, link-local (with the cloud metadata service), multicast, reserved and broadcast.
pub const REFUSED_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
];

/// IPv6 destinations refused unless allowed: unspecified and loopback, IPv4-mapped, unique local,
/// link-local and multicast.
pub const REFUSED_V6: &[&str] = &[
    "::/127",
    "::ffff:0:0/96",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// One allow-list entry: destinations in `addr/prefix`, on `port` (TCP and UDP) or, without a
/// port, on every port and protocol.
///
/// Written `10.1.2.3/32:5432`, `10.0.0.0/8` (all ports), `10.1.2.3:5432` (IPv4 host),
/// `[fd00::/64]:443` or `fd00::/64` (IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    pub addr: IpAddr,
    pub prefix: u8,
    pub port: Option<u16>,
}

fn invalid(entry: &str, reason: impl Into<String>) -> SandboxError {
    SandboxError::InvalidAllowRule {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

impl FromStr for AllowRule {
    type Err = SandboxError;

    fn from_str(entry: &str) -> Result<Self> {
        let s = entry.trim();
        // Split "<cidr>:<port>" where the port is optional; IPv6 networks with a port are bracketed.
        let (net, port) = if let Some(rest) = s.strip_prefix('[') {
            let (net, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid(entry, "missing ']'"))?;
            match after {
                "" => (net, None),
                _ => (
                    net,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| invalid(entry, "expected ':PORT' after ']'"))?,
                    ),
                ),
            }
        } else if let Some((addr, tail)) = s.split_once('/') {
            match tail.split_once(':') {
                Some((prefix, port)) => (&s[..addr.len() + 1 + prefix.len()], Some(port)),
                None => (s, None),
            }
        } else if s.matches(':').count() == 1 {
            // An IPv4 host and a port; more colons would be a bare IPv6 address.
            let (addr, port) = s.split_once(':').unwrap_or((s, ""));
            (addr, Some(port))
        } else {
            (s, None)
        };
        let (addr, prefix) = match net.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (net, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| invalid(entry, format!("{addr:?} is not an IP address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| invalid(entry, format!("prefix length must be 0 to {max}")))?,
        };
        if network(addr, prefix) != addr {
            return Err(invalid(
                entry,
                format!(
                    "host bits set after /{prefix} (the network is {}/{prefix})",
                    network(addr, prefix)
                ),
            ));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid(entry, format!("{p:?} is not a port (1 to 65535)")))
            })
            .transpose()?;
        Ok(Self { addr, prefix, port })
    }
}

impl std::fmt::Display for AllowRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(port)) => write!(f, "[{a}/{}]:{port}", self.prefix),
            (a, Some(port)) => write!(f, "{a}/{}:{port}", self.prefix),
            (a, None) => write!(f, "{a}/{}", self.prefix),
        }
    }
}

/// `addr` with the bits after `prefix` cleared.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

fn contains(net: &str, addr: IpAddr) -> bool {
    let Some((base, prefix)) = net.split_once('/') else {
        return false;
    };
    match (base.parse::<IpAddr>(), prefix.parse::<u8>()) {
        (Ok(base), Ok(prefix)) => {
            base.is_ipv4() == addr.is_ipv4() && network(addr, prefix) == network(base, prefix)
        }
        _ => false,
    }
}

/// The addresses of the host's interfaces, sorted (read with `getifaddrs`).
pub fn host_addresses() -> Result<Vec<IpAddr>> {
    let mut addrs = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    #[allow(unsafe_code)]
    // SAFETY: getifaddrs fills `list` with a linked list we only read and free once below; every
    // `ifa_addr` is checked for null and read as the structure its family names.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return Err(io_err("listing the host's addresses")(
                std::io::Error::last_os_error(),
            ));
        }
        let mut cur = list;
        while !cur.is_null() {
            let sa = (*cur).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let sin = &*sa.cast::<libc::sockaddr_in>();
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*sa.cast::<libc::sockaddr_in6>();
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// The host's addresses that the ruleset lists itself: those outside [`REFUSED_V4`] and
/// [`REFUSED_V6`] (the others are refused by their range already), sorted.
pub fn refused_host_addresses() -> Result<Vec<IpAddr>> {
    Ok(host_addresses()?
        .into_iter()
        .filter(|a| outside_fixed_ranges(*a))
        .collect())
}

fn outside_fixed_ranges(addr: IpAddr) -> bool {
    let fixed = if addr.is_ipv4() {
        REFUSED_V4
    } else {
        REFUSED_V6
    };
    !fixed.iter().any(|n| contains(n, addr))
}

/// The outbound filter of every environment: the `nft` program and the operator's allow-list.
#[derive(Debug, Clone)]
pub struct Firewall {
    nft: String,
    allow: Vec<AllowRule>,
}

/// An `nft` run loading the ruleset into a namespace; [`Pending::wait`] for its outcome.
#[derive(Debug)]
pub struct Pending {
    child: Child,
    /// The host addresses the ruleset lists ([`refused_host_addresses`]).
    host_addrs: Vec<IpAddr>,
}

impl Firewall {
    /// Finds `nft` (on `PATH`, else in `/usr/sbin` or `/sbin`); `None` if it is not installed.
    pub fn new(allow: Vec<AllowRule>) -> Option<Self> {
        let nft = ["nft", "/usr/sbin/nft", "/sbin/nft"]
            .into_iter()
            .find(|p| crate::outbound_available(p))?;
        Some(Self {
            nft: nft.to_owned(),
            allow,
        })
    }

    pub fn allow(&self) -> &[AllowRule] {
        &self.allow
    }

    /// The nftables ruleset for a host with `host_addrs`.
    pub fn ruleset(&self, host_addrs: &[IpAddr]) -> String {
        use std::fmt::Write as _;
        let mut r = String::from(
            "table inet kumo {\n  chain output {\n    type filter hook output priority filter; policy accept;\n    oif \"lo\" accept\n",
        );
        let _ = writeln!(
            r,
            "    ip daddr {} meta l4proto {{ tcp, udp }} th dport 53 accept",
            crate::DNS_SERVER
        );
        for rule in &self.allow {
            let family = if rule.addr.is_ipv4() { "ip" } else { "ip6" };
            let _ = match rule.port {
                Some(port) => writeln!(
                    r,
                    "    {family} daddr {}/{} meta l4proto {{ tcp, udp }} th dport {port} accept",
                    rule.addr, rule.prefix
                ),
                None => writeln!(r, "    {family} daddr {}/{} accept", rule.addr, rule.prefix),
            };
        }
        // Host addresses inside a refused range are already refused (and nft would reject the
        // overlap in one set).
        let set = |fixed: &[&str], v4: bool| {
            fixed
                .iter()
                .map(|n| (*n).to_owned())
                .chain(
                    host_addrs
                        .iter()
                        .filter(|a| a.is_ipv4() == v4 && outside_fixed_ranges(**a))
                        .map(IpAddr::to_string),
                )
                .collect::<Vec<_>>()
        };
        let (v4, v6) = (set(REFUSED_V4, true), set(REFUSED_V6, false));
        let _ = writeln!(r, "    ip daddr {{ {} }} goto refuse", v4.join(", "));
        let _ = writeln!(r, "    ip6 daddr {{ {} }} goto refuse", v6.join(", "));
        r.push_str(
            "  }\n  chain refuse {\n    meta l4proto tcp reject with tcp reset\n    reject with icmpx admin-prohibited\n  }\n}\n",
        );
        r
    }

    /// Starts loading the ruleset into `netns`, so that other preparation (slirp4netns) can go
    /// on meanwhile; nothing may run in the namespace before [`Pending::wait`] returns `Ok`.
    pub fn start(&self, netns: &NetNs) -> Result<Pending> {
        use std::os::unix::process::CommandExt;
        let host_addrs = refused_host_addresses()?;
        let ns_fd = netns.raw_fd();
        let mut cmd = Command::new(&self.nft);
        cmd.args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        #[allow(unsafe_code)]
        // SAFETY: runs in the forked child before exec and only makes the setns system call on a
        // descriptor the child inherited (it is closed at exec); no allocation, no locks.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(io_err(format!("starting {}", self.nft)))?;
        let ruleset = self.ruleset(&host_addrs);
        let written = child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(ruleset.as_bytes()));
        if let Some(Err(e)) = written {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io_err("writing the ruleset to nft")(e));
        }
        Ok(Pending { child, host_addrs })
    }

    /// Loads the ruleset into `netns` and waits for it; returns the host addresses it lists.
    pub fn install(&self, netns: &NetNs) -> Result<Vec<IpAddr>> {
        self.start(netns)?.wait()
    }
}

impl Pending {
    /// Waits for `nft`; an error if the ruleset was not loaded. Returns the host addresses the
    /// ruleset lists ([`refused_host_addresses`] when it was made).
    pub fn wait(self) -> Result<Vec<IpAddr>> {
        let out = self
            .child
            .wait_with_output()
            .map_err(io_err("waiting for nft"))?;
        if !out.status.success() {
            return Err(SandboxError::Unavailable(format!(
                "nft could not load the outbound filter ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(self.host_addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> AllowRule {
        s.parse().expect("valid rule")
    }

    #[test]
    fn allow_rules_parse_in_every_written_form() {
        let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
        assert_eq!(
            rule("10.213.0.5/32:8080"),
            AllowRule {
                addr: v4([10, 213, 0, 5]),
                prefix: 32,
                port: Some(8080)
            }
        );
        assert_eq!(
            rule("10.0.0.0/8"),
            AllowRule {
                addr: v4([10, 0, 0, 0]),
                prefix: 8,
                port: None
            }
        );
        assert_eq!(
            rule("192.168.1.9:5432"),
            AllowRule {
                addr: v4([192, 168, 1, 9]),
                prefix: 32,
                port: Some(5432)
            }
        );
        let fd00: IpAddr = "fd00::".parse().expect("v6");
        assert_eq!(
            rule("[fd00::/64]:443"),
            AllowRule {
                addr: fd00,
                prefix: 64,
                port: Some(443)
            }
        );
        assert_eq!(
            rule("fd00::/64"),
            AllowRule {
                addr: fd00,
                prefix: 64,
                port: None
            }
        );
        assert_eq!(rule("fd00::/64:443").port, Some(443));
        assert_eq!(rule("fd00::1").prefix, 128);
        assert_eq!(rule("10.213.0.5/32:8080").to_string(), "10.213.0.5/32:8080");
        assert_eq!(rule("[fd00::/64]:443").to_string(), "[fd00::/64]:443");
    }

    #[test]
    fn bad_allow_rules_say_what_is_wrong() {
        for (entry, says) in [
            ("10.213.0.5/24", "host bits"),
            ("10.0.0.0/33", "prefix length"),
            ("10.0.0.0/8:0", "not a port"),
            ("10.0.0.0/8:70000", "not a port"),
            ("example.com:80", "not an IP address"),
            ("[fd00::/64", "missing ']'"),
            ("", "not an IP address"),
        ] {
            let err = entry.parse::<AllowRule>().expect_err(entry).to_string();
            assert!(err.contains(says), "{entry}: {err}");
        }
    }

    #[test]
    fn ruleset_allows_before_it_refuses_and_lists_host_addresses_once() {
        let fw = Firewall {
            nft: "nft".into(),
            allow: vec![rule("10.213.0.5/32:8080"), rule("fd00::/64")],
        };
        let hosts: Vec<IpAddr> = ["192.0.2.2", "10.1.1.1", "fd00::2", "2001:db8::1"]
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        let r = fw.ruleset(&hosts);
        let at = |needle: &str| r.find(needle).unwrap_or_else(|| panic!("{needle} in {r}"));
        assert!(
            at("ip daddr 10.213.0.5/32 meta l4proto { tcp, udp } th dport 8080 accept")
                < at("goto refuse")
        );
        assert!(at("ip6 daddr fd00::/64 accept") < at("goto refuse"));
        assert!(at("169.254.0.0/16") > at("th dport 53 accept"));
        assert!(r.contains(", 192.0.2.2 }"), "{r}");
        assert!(r.contains(", 2001:db8::1 }"), "{r}");
        // Inside 10.0.0.0/8 and fc00::/7: not listed again.
        assert!(!r.contains("10.1.1.1") && !r.contains("fd00::2"), "{r}");
    }
}
