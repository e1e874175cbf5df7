//! Linux isolation for execution environments: a process tree in its own namespaces, cgroup,
//! root filesystem and seccomp filter, as an unprivileged user.
//!
//! The crate knows nothing about functions or HTTP and has no async runtime: it prepares a
//! [`std::process::Command`] so that, between `fork` and `exec`, the child
//!
//! 1. joins the environment's cgroups (memory, pids, cpu) — limits are set before the fork;
//! 2. enters a prepared network namespace that only has loopback ([`NetNs`]);
//! 3. unshares mount, PID, IPC and UTS namespaces and forks once more so that the runtime is
//!    PID 1 of its own PID namespace (the intermediate process only waits and passes the exit
//!    status on);
//! 4. builds a new root on a tmpfs: read-only binds of the host's system directories and of the
//!    environment's code, a size-capped `/tmp` (its own ext4 on a loop device, [`TmpDisk`], or
//!    a tmpfs), a minimal `/dev`, its own `/proc`, then `pivot_root` and detaches the host's
//!    tree;
//! 5. sets resource limits, `no_new_privs`, drops every capability, switches to an unprivileged
//!    uid/gid and loads a seccomp filter that refuses mount, ptrace, module loading, kexec, bpf,
//!    keyctl, namespace changes and similar calls.
//!
//! Everything the child runs after the fork is a raw system call on memory prepared before the
//! fork: the parent is multi-threaded, so the child must not allocate or take locks.
//!
//! [`probe`] checks at start that the kernel offers all of this and says exactly what is missing.

mod cgroup;
mod child;
mod firewall;
mod netns;
mod outbound;
mod seccomp;
mod tmpdisk;

pub use cgroup::{CgroupVersion, Cgroups};
pub use firewall::{
    host_addresses, refused_host_addresses, AllowRule, Firewall, Pending, REFUSED_V4, REFUSED_V6,
};
pub use netns::NetNs;
pub use outbound::{available as outbound_available, Outbound, DNS_SERVER};
pub use tmpdisk::{available as tmpdisk_available, TmpDisk};

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp filter: {0}")]
    Seccomp(String),
    #[error("sandboxing is not available on this machine: {0}")]
    Unavailable(String),
    #[error("invalid allow_outbound entry {entry:?}: {reason}")]
    InvalidAllowRule { entry: String, reason: String },
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Resource limits of one environment.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: u64,
    /// Relative CPU weight (cgroup v1 `cpu.shares`, 1024 = one full CPU's worth).
    pub cpu_shares: u64,
    /// Hard CPU cap in microseconds per 100 ms period, if any.
    pub cpu_quota_us: Option<u64>,
    pub pids_max: u64,
    pub nofile: u64,
    /// Size of the writable `/tmp` (when it is a tmpfs; a [`TmpDisk`] has its own size).
    pub tmp_bytes: u64,
}

/// A host path made visible inside the sandbox.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    pub writable: bool,
}

/// Everything needed to start one sandboxed process tree.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique name; used for the cgroup directories.
    pub id: String,
    /// An empty host directory on which the new root is mounted.
    pub root_dir: PathBuf,
    pub binds: Vec<Bind>,
    pub limits: Limits,
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    /// Working directory inside the sandbox.
    pub workdir: PathBuf,
    /// The formatted block device mounted at `/tmp` (a [`TmpDisk`]); `None`: a tmpfs of
    /// `limits.tmp_bytes`, which counts against the memory limit.
    pub tmp_device: Option<PathBuf>,
}

/// Host system directories a language runtime needs, read-only. Paths that do not exist on this
/// host are skipped.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Files and directories of `/etc` that programs need (dynamic linker, TLS roots, name service,
/// time zones, Debian's alternatives); nothing else of `/etc` is visible.
pub const ETC_ENTRIES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/java-17-openjdk",
    "/etc/mono",
    "/etc/protocols",
    "/etc/services",
    "/etc/mime.types",
];

pub(crate) fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| SandboxError::Unavailable(format!("path with NUL byte: {}", p.display())))
}

/// A prepared sandbox: its cgroups exist and its limits are set; `configure` arms a command.
pub struct Sandbox {
    pub cgroups: Cgroups,
    plan: child::Plan,
}

impl Sandbox {
    /// Creates the cgroups and prepares everything the child will do.
    pub fn prepare(
        spec: &Spec,
        netns: Option<&NetNs>,
        cgroup_version: CgroupVersion,
    ) -> Result<Self> {
        let cgroups = Cgroups::create(cgroup_version, &spec.id, &spec.limits)?;
        let plan = child::Plan::new(spec, netns, &cgroups)?;
        Ok(Self { cgroups, plan })
    }

    /// Makes `cmd` start inside the sandbox. The program path is resolved inside the new root.
    pub fn configure(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let plan = self.plan.clone();
        // SAFETY: the closure runs in the forked child; `Plan::enter` performs only raw system
        // calls on memory allocated before the fork (see child.rs) and never returns into code
        // that could observe other threads' state.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || plan.enter());
        }
    }
}

/// Checks that this machine can run sandboxes; returns the list of what is missing.
pub fn probe() -> Result<CgroupVersion, Vec<String>> {
    let mut missing = Vec::new();
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        missing.push("kumo serve must run as root to create namespaces and cgroups".to_owned());
    }
    for ns in ["mnt", "pid", "net", "ipc", "uts"] {
        if !Path::new(&format!("/proc/self/ns/{ns}")).exists() {
            missing.push(format!(
                "kernel without {ns} namespaces (/proc/self/ns/{ns} missing)"
            ));
        }
    }
    if !Path::new("/proc/sys/kernel/seccomp/actions_avail").exists()
        && !std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("Seccomp:"))
    {
        missing.push("kernel without seccomp filters".to_owned());
    }
    let version = match cgroup::detect() {
        Ok(v) => Some(v),
        Err(e) => {
            missing.push(e);
            None
        }
    };
    if euid == 0 {
        if let Err(e) = NetNs::new() {
            missing.push(format!("cannot create a network namespace: {e}"));
        }
    }
    match version {
        Some(v) if missing.is_empty() => Ok(v),
        _ => Err(missing),
    }
}
