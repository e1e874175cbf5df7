//! cgroups for one environment: v2 where the unified hierarchy has the memory, pids and cpu
//! controllers, else the v1 controllers under `/sys/fs/cgroup/<controller>`.
//!
//! An idle environment is frozen between invocations, as Lambda does: v2's `cgroup.freeze`, or
//! v1's `freezer` controller when it is mounted. Killing a frozen environment thaws it after the
//! `SIGKILL` (a frozen v1 task only acts on the signal once thawed).

use crate::{io_err, Limits, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const V1_ROOT: &str = "/sys/fs/cgroup";
const V2_ROOTS: &[&str] = &["/sys/fs/cgroup/unified", "/sys/fs/cgroup"];
const GROUP: &str = "kumo";
/// The v1 controllers every environment joins; `freezer` is added when it is mounted.
const V1_CONTROLLERS: &[&str] = &["memory", "pids", "cpu"];
const V1_FREEZER: &str = "freezer";
/// An empty v1 freezer cgroup kept frozen (see [`Cgroups::prepare_instance`]).
const FREEZER_ANCHOR: &str = "freezer-anchor";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    /// The unified hierarchy at this path.
    V2(PathBuf),
}

/// Finds the cgroup hierarchy to use, or says what is missing.
pub fn detect() -> Result<CgroupVersion, String> {
    for root in V2_ROOTS {
        let controllers =
            fs::read_to_string(Path::new(root).join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if has("memory") && has("pids") && has("cpu") {
            return Ok(CgroupVersion::V2(PathBuf::from(root)));
        }
    }
    let missing: Vec<&str> = V1_CONTROLLERS
        .iter()
        .copied()
        .filter(|c| !Path::new(V1_ROOT).join(c).join("tasks").exists())
        .collect();
    if missing.is_empty() {
        Ok(CgroupVersion::V1)
    } else {
        Err(format!(
            "no usable cgroups: the unified hierarchy lacks memory/pids/cpu and the v1 controllers {} are not mounted under {V1_ROOT}",
            missing.join(", ")
        ))
    }
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(io_err(format!("writing {value:?} to {}", path.display())))
}

/// The cgroup directories of one environment.
#[derive(Debug)]
pub struct Cgroups {
    version: CgroupVersion,
    /// One directory per v1 controller (memory, pids, cpu), or the single v2 directory.
    dirs: Vec<PathBuf>,
    /// The peak-memory file, opened once: it is read and reset on every invocation.
    peak: std::sync::OnceLock<Option<fs::File>>,
    /// The freeze control (`freezer.state` or `cgroup.freeze`), opened once: it is written
    /// before and after every invocation.
    freeze: std::sync::OnceLock<Option<fs::File>>,
}

/// Whether v1's freezer controller is mounted.
fn v1_freezer() -> bool {
    Path::new(V1_ROOT).join(V1_FREEZER).join("tasks").exists()
}

impl Cgroups {
    fn parents(version: &CgroupVersion) -> Vec<PathBuf> {
        match version {
            CgroupVersion::V1 => V1_CONTROLLERS
                .iter()
                .copied()
                .chain(v1_freezer().then_some(V1_FREEZER))
                .map(|c| Path::new(V1_ROOT).join(c).join(GROUP))
                .collect(),
            CgroupVersion::V2(root) => vec![root.join(GROUP)],
        }
    }

    pub fn create(version: CgroupVersion, id: &str, limits: &Limits) -> Result<Self> {
        let parents = Self::parents(&version);
        for parent in &parents {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        if let CgroupVersion::V2(root) = &version {
            let _ = fs::write(root.join("cgroup.subtree_control"), "+memory +pids +cpu");
            write(
                &root.join(GROUP).join("cgroup.subtree_control"),
                "+memory +pids +cpu",
            )?;
        }
        // `id` may be `instance/env`: each Kumo server keeps its environments under its own
        // directory, so one server's cleanup never touches another's.
        let dirs: Vec<PathBuf> = parents.iter().map(|p| p.join(id)).collect();
        for (parent, dir) in parents.iter().zip(&dirs) {
            if let Some(up) = dir.parent().filter(|up| up != parent) {
                fs::create_dir_all(up).map_err(io_err(format!("creating {}", up.display())))?;
                if matches!(version, CgroupVersion::V2(_)) {
                    write(&up.join("cgroup.subtree_control"), "+memory +pids +cpu")?;
                }
            }
        }
        let cg = Self {
            version,
            dirs,
            peak: std::sync::OnceLock::new(),
            freeze: std::sync::OnceLock::new(),
        };
        for dir in &cg.dirs {
            fs::create_dir(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        if let Err(e) = cg.set_limits(limits) {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn set_limits(&self, l: &Limits) -> Result<()> {
        let mem = l.memory_bytes.to_string();
        match &self.version {
            CgroupVersion::V1 => {
                let (m, p, c) = (&self.dirs[0], &self.dirs[1], &self.dirs[2]);
                write(&m.join("memory.limit_in_bytes"), &mem)?;
                // Without swap accounting the file is absent; there is no swap to escape to then.
                let _ = fs::write(m.join("memory.memsw.limit_in_bytes"), &mem);
                let _ = fs::write(m.join("memory.swappiness"), "0");
                write(&p.join("pids.max"), &l.pids_max.to_string())?;
                write(&c.join("cpu.shares"), &l.cpu_shares.max(2).to_string())?;
                if let Some(q) = l.cpu_quota_us {
                    write(&c.join("cpu.cfs_period_us"), "100000")?;
                    write(&c.join("cpu.cfs_quota_us"), &q.max(1000).to_string())?;
                }
            }
            CgroupVersion::V2(_) => {
                let d = &self.dirs[0];
                write(&d.join("memory.max"), &mem)?;
                let _ = fs::write(d.join("memory.swap.max"), "0");
                write(&d.join("pids.max"), &l.pids_max.to_string())?;
                // cpu.weight is 1..10000 with 100 as the default share of 1024.
                let weight = (l.cpu_shares * 100 / 1024).clamp(1, 10_000);
                write(&d.join("cpu.weight"), &weight.to_string())?;
                if let Some(q) = l.cpu_quota_us {
                    write(&d.join("cpu.max"), &format!("{} 100000", q.max(1000)))?;
                }
            }
        }
        Ok(())
    }

    /// The files the child writes `0` to, to join every controller.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// The file listing the environment's processes (host pids).
    pub fn procs_file(&self) -> Option<PathBuf> {
        self.dirs.first().map(|d| d.join("cgroup.procs"))
    }

    fn memory_file(&self, v1: &str, v2: &str) -> PathBuf {
        match self.version {
            CgroupVersion::V1 => self.dirs[0].join(v1),
            CgroupVersion::V2(_) => self.dirs[0].join(v2),
        }
    }

    /// Highest memory use since creation or the last [`Cgroups::reset_peak`], in bytes.
    pub fn peak_memory(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let read = |p: PathBuf| {
            fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        let peak = self.peak_file().and_then(|f| {
            let mut buf = [0u8; 32];
            let n = f.read_at(&mut buf, 0).ok()?;
            std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
        });
        peak.or_else(|| read(self.memory_file("memory.usage_in_bytes", "memory.current")))
            .unwrap_or(0)
    }

    /// Starts a new peak measurement (per invocation); a no-op where the kernel cannot.
    pub fn reset_peak(&self) {
        use std::os::unix::fs::FileExt;
        if let Some(f) = self.peak_file() {
            let _ = f.write_at(b"0", 0);
        }
    }

    fn peak_file(&self) -> Option<&fs::File> {
        self.peak
            .get_or_init(|| {
                let path = self.memory_file("memory.max_usage_in_bytes", "memory.peak");
                fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .or_else(|_| fs::File::open(&path))
                    .ok()
            })
            .as_ref()
    }

    /// Whether the kernel's OOM killer has killed a process of this environment.
    pub fn oom_killed(&self) -> bool {
        let text = fs::read_to_string(self.memory_file("memory.oom_control", "memory.events"))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .any(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
    }

    /// Whether this environment can be frozen (v2, or v1 with the freezer controller).
    pub fn can_freeze(&self) -> bool {
        self.freeze_file().is_some()
    }

    /// Stops every process of the environment where it stands until [`Cgroups::thaw`]. The
    /// kernel completes the freeze asynchronously; this returns at once.
    pub fn freeze(&self) -> Result<()> {
        self.write_freeze(true)
    }

    /// Lets the processes of a frozen environment run again.
    pub fn thaw(&self) -> Result<()> {
        self.write_freeze(false)
    }

    fn write_freeze(&self, frozen: bool) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let Some(f) = self.freeze_file() else {
            return Ok(());
        };
        let value = match (&self.version, frozen) {
            (CgroupVersion::V1, true) => "FROZEN",
            (CgroupVersion::V1, false) => "THAWED",
            (CgroupVersion::V2(_), true) => "1",
            (CgroupVersion::V2(_), false) => "0",
        };
        f.write_at(value.as_bytes(), 0)
            .map(drop)
            .map_err(io_err(format!(
                "writing {value:?} to the freezer of {}",
                self.dirs[0].display()
            )))
    }

    fn freeze_file(&self) -> Option<&fs::File> {
        self.freeze
            .get_or_init(|| {
                let path = self.dirs.iter().find_map(|d| freeze_control(d))?;
                fs::OpenOptions::new().write(true).open(path).ok()
            })
            .as_ref()
    }

    /// Kills every process in the environment's cgroups (thawing them, so that frozen
    /// processes act on the signal).
    pub fn kill_all(&self) {
        for dir in &self.dirs {
            kill_procs(dir);
        }
        for dir in &self.dirs {
            thaw_dir(dir);
        }
    }

    /// Kills what is left and removes the directories (waits up to 2 s for the processes to go).
    pub fn remove(&self) {
        self.kill_all();
        for dir in &self.dirs {
            remove_dir(dir);
        }
    }

    /// Removes the cgroups a previous run of the same server instance left behind (after a
    /// crash), killing their processes. Other instances' environments are left alone.
    pub fn clean_leftovers(version: &CgroupVersion, instance: &str) -> usize {
        // Frozen leftovers first get the signal and a thaw, in every hierarchy, so that the
        // memory and pids directories empty out before their removal is tried.
        for parent in Self::parents(version) {
            let Ok(entries) = fs::read_dir(parent.join(instance)) else {
                continue;
            };
            for entry in entries.flatten() {
                kill_procs(&entry.path());
                thaw_dir(&entry.path());
            }
        }
        let mut removed = 0;
        for parent in Self::parents(version) {
            let Ok(entries) = fs::read_dir(parent.join(instance)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove_dir(&entry.path());
                    removed += usize::from(entry.file_name() != FREEZER_ANCHOR);
                }
            }
        }
        removed
    }

    /// Prepares a server instance's cgroups at start. With v1's freezer this leaves one empty
    /// cgroup frozen for the server's lifetime: the kernel turns its freezer machinery on and off
    /// (patching code on every CPU) whenever the number of frozen cgroups goes between zero and
    /// one, which made each freeze and thaw cost ~100 µs instead of ~5 µs.
    pub fn prepare_instance(version: &CgroupVersion, instance: &str) -> Result<()> {
        if *version != CgroupVersion::V1 || !v1_freezer() {
            return Ok(());
        }
        let anchor = Path::new(V1_ROOT)
            .join(V1_FREEZER)
            .join(GROUP)
            .join(instance)
            .join(FREEZER_ANCHOR);
        fs::create_dir_all(&anchor).map_err(io_err(format!("creating {}", anchor.display())))?;
        write(&anchor.join("freezer.state"), "FROZEN")
    }

    /// Removes everything of a server instance, its own directory included (at shutdown).
    pub fn remove_instance(version: &CgroupVersion, instance: &str) {
        Self::clean_leftovers(version, instance);
        for parent in Self::parents(version) {
            remove_dir(&parent.join(instance));
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        self.remove();
    }
}

fn kill_procs(dir: &Path) {
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs
        .lines()
        .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
    {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// The file that freezes the cgroup at `dir`, if it has one (v1 `freezer.state` outside the
/// root, v2 `cgroup.freeze`).
fn freeze_control(dir: &Path) -> Option<PathBuf> {
    ["freezer.state", "cgroup.freeze"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

fn thaw_dir(dir: &Path) {
    if let Some(path) = freeze_control(dir) {
        let value = if path.ends_with("freezer.state") {
            "THAWED"
        } else {
            "0"
        };
        let _ = fs::write(path, value);
    }
}

fn remove_dir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        kill_procs(dir);
        thaw_dir(dir);
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => return,
        }
    }
}
