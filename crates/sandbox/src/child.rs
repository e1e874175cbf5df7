//! What the child does between `fork` and `exec`.
//!
//! [`Plan::new`] turns a [`Spec`] into C strings and numbers before the fork; [`Plan::enter`]
//! runs in the child and only makes system calls on that prepared memory: no allocation, no
//! locks, no formatting (the parent is multi-threaded, so anything else could deadlock).

#![allow(unsafe_code)]

use crate::cgroup::Cgroups;
use crate::{cstring, NetNs, Result, Spec};
use seccompiler::BpfProgram;
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Device nodes made visible in the sandbox's `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

#[derive(Clone)]
struct BindPlan {
    source: CString,
    target: CString,
    writable: bool,
}

#[derive(Clone)]
pub(crate) struct Plan {
    cgroup_procs: Vec<CString>,
    netns_fd: Option<i32>,
    hostname: CString,
    root: CString,
    dirs: Vec<CString>,
    files: Vec<CString>,
    binds: Vec<BindPlan>,
    tmp: CString,
    tmp_opts: CString,
    tmp_device: Option<CString>,
    tmp_lost_found: CString,
    dev: CString,
    proc_: CString,
    symlinks: Vec<(CString, CString)>,
    old_root: CString,
    old_root_inside: CString,
    workdir: CString,
    nofile: u64,
    uid: u32,
    gid: u32,
    seccomp: Arc<Vec<BpfProgram>>,
}

fn inside(root: &Path, target: &Path) -> PathBuf {
    root.join(target.strip_prefix("/").unwrap_or(target))
}

impl Plan {
    pub(crate) fn new(spec: &Spec, netns: Option<&NetNs>, cgroups: &Cgroups) -> Result<Self> {
        let root = &spec.root_dir;
        let c = |p: &Path| cstring(p);
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut add_dirs = |target: &Path, dirs: &mut Vec<CString>| -> Result<()> {
            let mut acc = PathBuf::from("/");
            for comp in target.components().skip(1) {
                acc.push(comp);
                if seen.insert(acc.clone()) {
                    dirs.push(c(&inside(root, &acc))?);
                }
            }
            Ok(())
        };
        let mut binds = Vec::new();
        let mut symlinks = Vec::new();
        for b in &spec.binds {
            if b.source.is_symlink() {
                // Merged-/usr hosts: /bin -> usr/bin and the like become the same links.
                let link = std::fs::read_link(&b.source).map_err(crate::io_err(format!(
                    "reading link {}",
                    b.source.display()
                )))?;
                if let Some(parent) = b.target.parent() {
                    add_dirs(parent, &mut dirs)?;
                }
                symlinks.push((c(&link)?, c(&inside(root, &b.target))?));
                continue;
            }
            if b.source.is_dir() {
                add_dirs(&b.target, &mut dirs)?;
            } else {
                if let Some(parent) = b.target.parent() {
                    add_dirs(parent, &mut dirs)?;
                }
                files.push(c(&inside(root, &b.target))?);
            }
            binds.push(BindPlan {
                source: c(&b.source)?,
                target: c(&inside(root, &b.target))?,
                writable: b.writable,
            });
        }
        for d in ["/tmp", "/proc", "/dev", "/.old-root"] {
            add_dirs(Path::new(d), &mut dirs)?;
        }
        // /dev is a fresh tmpfs mounted after the other directories exist; its entries are
        // created after that mount, in order.
        let dev_root = inside(root, Path::new("/dev"));
        for dev in DEVICES {
            binds.push(BindPlan {
                source: c(&Path::new("/dev").join(dev))?,
                target: c(&dev_root.join(dev))?,
                writable: true,
            });
        }
        let dev_links = [
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ]
        .iter()
        .map(|(target, name)| Ok((c(Path::new(target))?, c(&dev_root.join(name))?)))
        .collect::<Result<Vec<_>>>()?;
        symlinks.extend(dev_links);
        let l = &spec.limits;
        Ok(Self {
            cgroup_procs: cgroups
                .procs_files()
                .iter()
                .map(|p| c(p))
                .collect::<Result<_>>()?,
            netns_fd: netns.map(NetNs::raw_fd),
            hostname: CString::new(spec.hostname.clone()).unwrap_or_default(),
            root: c(root)?,
            dirs,
            files,
            binds,
            tmp: c(&inside(root, Path::new("/tmp")))?,
            tmp_opts: CString::new(format!(
                "size={},mode=1777,uid={},gid={}",
                l.tmp_bytes.max(4096),
                spec.uid,
                spec.gid
            ))
            .unwrap_or_default(),
            tmp_device: spec.tmp_device.as_deref().map(c).transpose()?,
            tmp_lost_found: c(&inside(root, Path::new("/tmp/lost+found")))?,
            dev: c(&dev_root)?,
            proc_: c(&inside(root, Path::new("/proc")))?,
            symlinks,
            old_root: c(&inside(root, Path::new("/.old-root")))?,
            old_root_inside: c(Path::new("/.old-root"))?,
            workdir: c(&spec.workdir)?,
            nofile: l.nofile,
            uid: spec.uid,
            gid: spec.gid,
            seccomp: Arc::new(crate::seccomp::programs()?),
        })
    }

    /// Runs in the forked child. Returns only in the process that goes on to `exec`.
    pub(crate) fn enter(&self) -> io::Result<()> {
        // SAFETY: every call below is a system call on pointers to memory owned by `self`
        // (prepared before the fork) or on stack values; nothing allocates.
        unsafe {
            for path in &self.cgroup_procs {
                let fd = check(libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC))?;
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(fd) = self.netns_fd {
                check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            check(libc::unshare(
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
            ))?;
            let pid = check(libc::fork())?;
            if pid > 0 {
                intermediate(pid);
            }
            // From here on: PID 1 of the new PID namespace.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::sethostname(self.hostname.as_ptr(), self.hostname.as_bytes().len());
            self.build_root()?;
            self.drop_privileges()
        }
    }

    unsafe fn build_root(&self) -> io::Result<()> {
        let null = std::ptr::null::<libc::c_char>();
        check(libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            c"tmpfs".as_ptr(),
            self.root.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID,
            c"size=1m,mode=0755".as_ptr().cast(),
        ))?;
        for d in &self.dirs {
            if libc::mkdir(d.as_ptr(), 0o755) != 0 && *libc::__errno_location() != libc::EEXIST {
                return Err(io::Error::last_os_error());
            }
        }
        for f in &self.files {
            let fd = check(libc::open(
                f.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            ))?;
            libc::close(fd);
        }
        check(libc::mount(
            c"tmpfs".as_ptr(),
            self.dev.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"size=64k,mode=0755".as_ptr().cast(),
        ))?;
        for (target, link) in &self.symlinks {
            check(libc::symlink(target.as_ptr(), link.as_ptr()))?;
        }
        for b in &self.binds {
            if b.writable {
                // Device nodes: an empty file to bind onto, created in the fresh /dev.
                let fd = libc::open(
                    b.target.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
            }
            check(libc::mount(
                b.source.as_ptr(),
                b.target.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ))?;
            if !b.writable {
                check(libc::mount(
                    null,
                    b.target.as_ptr(),
                    null,
                    libc::MS_BIND
                        | libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV,
                    std::ptr::null(),
                ))?;
            }
        }
        match &self.tmp_device {
            Some(device) => {
                // The environment's own ext4 (see tmpdisk.rs), owned by its user like the tmpfs.
                check(libc::mount(
                    device.as_ptr(),
                    self.tmp.as_ptr(),
                    c"ext4".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"noinit_itable".as_ptr().cast(),
                ))?;
                libc::rmdir(self.tmp_lost_found.as_ptr());
                check(libc::chown(self.tmp.as_ptr(), self.uid, self.gid))?;
                check(libc::chmod(self.tmp.as_ptr(), 0o1777))?;
            }
            None => {
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    self.tmp.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    self.tmp_opts.as_ptr().cast(),
                ))?;
            }
        }
        check(libc::mount(
            c"proc".as_ptr(),
            self.proc_.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ))?;
        check(libc::syscall(
            libc::SYS_pivot_root,
            self.root.as_ptr(),
            self.old_root.as_ptr(),
        ) as i32)?;
        check(libc::chdir(c"/".as_ptr()))?;
        check(libc::umount2(
            self.old_root_inside.as_ptr(),
            libc::MNT_DETACH,
        ))?;
        libc::rmdir(self.old_root_inside.as_ptr());
        check(libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID,
            std::ptr::null(),
        ))?;
        check(libc::chdir(self.workdir.as_ptr()))?;
        Ok(())
    }

    unsafe fn drop_privileges(&self) -> io::Result<()> {
        let nofile = libc::rlimit {
            rlim_cur: self.nofile,
            rlim_max: self.nofile,
        };
        check(libc::setrlimit(libc::RLIMIT_NOFILE, &nofile))?;
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        check(libc::setrlimit(libc::RLIMIT_CORE, &no_core))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        for cap in 0..64 {
            // EINVAL past the kernel's last capability.
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(self.gid, self.gid, self.gid))?;
        // Leaving uid 0 without keep-caps clears the permitted and effective capability sets.
        check(libc::setresuid(self.uid, self.uid, self.uid))?;
        for prog in self.seccomp.iter() {
            let fprog = libc::sock_fprog {
                len: u16::try_from(prog.len()).unwrap_or(u16::MAX),
                filter: prog.as_ptr().cast_mut().cast(),
            };
            check(libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &fprog as *const libc::sock_fprog,
            ))?;
        }
        Ok(())
    }
}

fn check<T: PartialOrd + Default>(rc: T) -> io::Result<T> {
    if rc < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The process between the host and the namespace's PID 1: waits for it and exits the same way.
unsafe fn intermediate(child: libc::pid_t) -> ! {
    // Let go of every descriptor but stdio, so the parent sees the exec status pipe close as soon
    // as the real child execs.
    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    let mut status = 0;
    loop {
        let r = libc::waitpid(child, &mut status, 0);
        if r == child {
            break;
        }
        if r < 0 && *libc::__errno_location() != libc::EINTR {
            libc::_exit(127);
        }
    }
    if libc::WIFEXITED(status) {
        libc::_exit(libc::WEXITSTATUS(status));
    }
    let sig = libc::WTERMSIG(status);
    libc::signal(sig, libc::SIG_DFL);
    libc::kill(libc::getpid(), sig);
    libc::_exit(128 + sig)
}
