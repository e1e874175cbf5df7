//! Outbound network access for a sandbox's namespace through a user-mode network stack.
//!
//! `slirp4netns` attaches a tap device to the namespace and forwards its connections through
//! ordinary sockets of the host, so an environment reaches the outside world while still having no
//! route to anything on the host's loopback (`--disable-host-loopback`): not Kumo's ports, not
//! another environment's Runtime API. Inside, the environment sees `tap0` (10.0.2.100/24),
//! a default route and a DNS forwarder at 10.0.2.3.

use crate::{io_err, NetNs, Result, SandboxError};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};

/// The DNS server an environment with outbound access uses.
pub const DNS_SERVER: &str = "10.0.2.3";

/// A running user-mode network stack; stops when dropped.
#[derive(Debug)]
pub struct Outbound {
    child: Child,
    /// slirp4netns exits when this closes: with us, even if we are killed.
    _exit: OwnedFd,
}

impl Drop for Outbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` can be run (checked once at start).
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[allow(unsafe_code)]
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array; each is owned exactly once below.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(io_err("pipe")(std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are not owned elsewhere.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[allow(unsafe_code)]
fn clear_cloexec(fd: &OwnedFd) -> Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    if rc != 0 {
        return Err(io_err("fcntl")(std::io::Error::last_os_error()));
    }
    Ok(())
}

impl Outbound {
    /// Starts `program` (slirp4netns) for `netns` and waits until the namespace is configured.
    pub fn attach(program: &str, netns: &NetNs) -> Result<Self> {
        let (ready_r, ready_w) = pipe()?;
        let (exit_r, exit_w) = pipe()?;
        // The child inherits the ready pipe's write end and the exit pipe's read end.
        clear_cloexec(&ready_w)?;
        clear_cloexec(&exit_r)?;
        let ns_path = format!("/proc/{}/fd/{}", std::process::id(), netns.raw_fd());
        let child = Command::new(program)
            .args([
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-sandbox",
                "--enable-seccomp",
            ])
            .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
            .arg(format!("--exit-fd={}", exit_r.as_raw_fd()))
            .args(["--netns-type=path", &ns_path, "tap0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("starting {program}")))?;
        drop(ready_w);
        drop(exit_r);
        let mut out = Self {
            child,
            _exit: exit_w,
        };
        let mut ready = [0u8; 1];
        let mut reader = std::fs::File::from(ready_r);
        match reader.read(&mut ready) {
            Ok(1) => Ok(out),
            _ => {
                let status = out.child.try_wait().ok().flatten();
                Err(SandboxError::Unavailable(format!(
                    "{program} did not configure the network namespace (exit: {status:?})"
                )))
            }
        }
    }
}
