//! Network namespaces with only a loopback interface.
//!
//! An environment's Runtime API listens on `127.0.0.1:9001` *inside* the environment's own
//! network namespace: the listening socket is created there by a short-lived thread and then
//! served from the host process. So the runtime finds its API where AWS puts it, and nothing in
//! the environment can reach another environment's API or Kumo's own ports.

use crate::{io_err, Result, SandboxError};
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};

/// A network namespace kept alive by an open handle.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// Creates a namespace with `lo` up.
    pub fn new() -> Result<Self> {
        Self::with_listener(None).map(|(ns, _)| ns)
    }

    /// Creates a namespace with `lo` up and a TCP listener bound inside it.
    pub fn with_listener(addr: Option<SocketAddr>) -> Result<(Self, Option<TcpListener>)> {
        // setns/unshare act on the calling thread only: do it on a thread of our own that ends
        // right after, so no thread of the host process ever changes namespace.
        std::thread::spawn(move || -> Result<(Self, Option<TcpListener>)> {
            #[allow(unsafe_code)]
            // SAFETY: unshare(2) has no memory-safety preconditions; it affects only this thread.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(io_err("unshare(CLONE_NEWNET)")(
                    std::io::Error::last_os_error(),
                ));
            }
            loopback_up()?;
            let listener = addr
                .map(|a| {
                    TcpListener::bind(a).map_err(io_err(format!("binding {a} in the namespace")))
                })
                .transpose()?;
            let fd =
                File::open("/proc/thread-self/ns/net").map_err(io_err("opening the namespace"))?;
            Ok((Self { fd: fd.into() }, listener))
        })
        .join()
        .map_err(|_| SandboxError::Unavailable("namespace thread panicked".into()))?
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

#[allow(unsafe_code)]
fn loopback_up() -> Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name is set below; the socket is
    // closed by OwnedFd.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io_err("socket for lo")(std::io::Error::last_os_error()));
        }
        let sock = <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io_err("reading lo flags")(std::io::Error::last_os_error()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io_err("bringing lo up")(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
