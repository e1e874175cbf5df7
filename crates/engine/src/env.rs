//! One execution environment: a runtime process, its Runtime API and its log capture.

use crate::logs::LogCapture;
use crate::runtime_api::RuntimeApi;
use kumo_types::{FunctionConfig, RuntimeFamily};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// The interpreters that run the managed runtimes' bootstraps.
#[derive(Debug, Clone)]
pub struct RuntimeCommands {
    pub python: PathBuf,
    pub node: PathBuf,
    /// Directory holding `python/bootstrap.py` and `node/bootstrap.cjs`.
    pub bootstrap_dir: PathBuf,
    /// The Python bootstrap to run, relative to `bootstrap_dir`: the precompiled
    /// `python/bootstrap.pyc` when the server made one, else `python/bootstrap.py`.
    pub python_bootstrap: PathBuf,
    /// `java17`, when this machine has a JDK.
    pub java: Option<JavaRuntime>,
    /// `dotnet8` (on Mono), when this machine has Mono.
    pub dotnet: Option<DotnetRuntime>,
    /// The open-files soft limit of runtimes run without the sandbox: the one the server
    /// started with, before it raised its own (`None`: inherit). The sandbox sets 1024.
    pub open_files: Option<u64>,
}

/// The JVM and the directory holding `kumo-runtime.jar` and its class-data-sharing archives:
/// `kumo.jsa` for this path, `kumo-sandbox.jsa` for `/var/runtime/java` where sandboxed
/// environments see it (an archive is only valid at the class path it was made with).
#[derive(Debug, Clone)]
pub struct JavaRuntime {
    pub java: PathBuf,
    pub dir: PathBuf,
}

/// Mono and the directory holding `KumoBootstrap.exe` and `Amazon.Lambda.Core.dll`, seen by
/// sandboxed environments at `/var/runtime/dotnet`.
#[derive(Debug, Clone)]
pub struct DotnetRuntime {
    pub mono: PathBuf,
    pub dir: PathBuf,
}

/// How environments are isolated; `None` in the engine config runs bare processes.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub cgroups: kumo_sandbox::CgroupVersion,
    /// Name of this server's cgroup directory (derived from its data directory).
    pub instance: String,
    /// Environments run as uids `uid_base..uid_base + uid_count`, one per environment at a time.
    pub uid_base: u32,
    pub uid_count: u32,
    /// Hard-cap CPU at the memory-proportional share (Lambda's model) instead of only weighting it.
    pub cpu_hard_limit: bool,
    /// The user-mode network stack giving environments outbound access (`slirp4netns`), or
    /// `None` for environments with loopback only.
    pub outbound: Option<String>,
    /// Network namespaces prepared ahead (made with the same `outbound`).
    pub networks: Arc<crate::network::NetworkPool>,
    /// Disk-backed `/tmp`s (prepared ahead); `None`: `/tmp` is a tmpfs counted as memory.
    pub tmp_disks: Option<Arc<crate::tmpdisks::TmpDiskPool>>,
}

/// Where an environment finds things, as seen from inside it.
struct Layout {
    task_root: PathBuf,
    runtime_dir: PathBuf,
    tmp: PathBuf,
    runtime_api: String,
}

/// The isolation of one sandboxed environment; dropping it stops everything in it.
struct Isolation {
    sandbox: kumo_sandbox::Sandbox,
    _outbound: Option<kumo_sandbox::Outbound>,
    _netns: kumo_sandbox::NetNs,
    /// Held until the environment is gone (its mount keeps the device; then it is detached).
    _tmp: Option<kumo_sandbox::TmpDisk>,
}

static NEXT_UID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Why an environment could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The package has no usable entry point (Lambda's `Runtime.InvalidEntrypoint`).
    InvalidEntrypoint(String),
    /// The platform failed (I/O, process limits).
    Platform(String),
}

pub struct Env {
    pub id: String,
    pub function: String,
    pub log_stream: String,
    pub revision: String,
    pub api: RuntimeApi,
    pub logs: LogCapture,
    pub exited: watch::Receiver<Option<String>>,
    pub started: Instant,
    pub last_used: Instant,
    pub invocations: u64,
    pid: Option<u32>,
    scratch: PathBuf,
    live: Arc<Mutex<HashSet<u32>>>,
    isolation: Option<Isolation>,
    /// Frozen by [`Env::freeze`] and not thawed since.
    frozen: bool,
}

impl Env {
    /// `idle_timeout`: how long the environment may stay idle (its Runtime API keeps an idle
    /// connection open longer than that).
    // Each argument comes from a different owner (function, code store, engine settings, pool,
    // metrics); a struct for them would be built only at the one call.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        function: &FunctionConfig,
        task_dir: &Path,
        scratch_root: &Path,
        commands: &RuntimeCommands,
        region: &str,
        live: Arc<Mutex<HashSet<u32>>>,
        sandbox: Option<&SandboxConfig>,
        capture: crate::logs::CaptureSetup,
        idle_timeout: std::time::Duration,
    ) -> Result<Self, StartError> {
        let started = Instant::now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let date = time::OffsetDateTime::now_utc();
        let log_stream = format!(
            "{:04}/{:02}/{:02}/[$LATEST]{id}",
            date.year(),
            u8::from(date.month()),
            date.day()
        );
        let platform = |e: std::io::Error| StartError::Platform(e.to_string());
        let scratch = scratch_root.join(&id);
        let cleanup = |e: StartError| {
            let _ = std::fs::remove_dir_all(&scratch);
            e
        };
        let (isolation, listener, layout) = match sandbox {
            Some(cfg) => {
                let spec = sandbox_spec(&id, function, task_dir, &scratch, commands, cfg);
                let cgroups = cfg.cgroups.clone();
                let networks = Arc::clone(&cfg.networks);
                let tmp_disks = cfg.tmp_disks.clone();
                let scratch_dir = scratch.clone();
                let prepared = tokio::task::spawn_blocking(move || {
                    prepare_isolation(spec, &scratch_dir, cgroups, &networks, tmp_disks.as_ref())
                })
                .await
                .map_err(|e| StartError::Platform(e.to_string()))
                .and_then(|r| r.map_err(|e| StartError::Platform(e.to_string())))
                .map_err(cleanup)?;
                let layout = Layout {
                    task_root: PathBuf::from("/var/task"),
                    runtime_dir: PathBuf::from("/var/runtime"),
                    tmp: PathBuf::from("/tmp"),
                    runtime_api: "127.0.0.1:9001".into(),
                };
                (Some(prepared.0), prepared.1, layout)
            }
            None => {
                let tmp = scratch.join("tmp");
                std::fs::create_dir_all(&tmp)
                    .map_err(platform)
                    .map_err(cleanup)?;
                let layout = Layout {
                    task_root: task_dir.to_owned(),
                    runtime_dir: commands.bootstrap_dir.clone(),
                    tmp,
                    runtime_api: String::new(),
                };
                (None, None, layout)
            }
        };
        let api = RuntimeApi::start(listener, idle_timeout)
            .await
            .map_err(platform)
            .map_err(cleanup)?;
        let mut layout = layout;
        if layout.runtime_api.is_empty() {
            layout.runtime_api = api.addr.to_string();
        }
        let (logs, write_end) = LogCapture::start(capture)
            .map_err(platform)
            .map_err(cleanup)?;

        let (program, args) =
            command(function, task_dir, &layout, commands, isolation.is_some()).map_err(cleanup)?;

        let vars = environment(function, &layout, region, &log_stream);
        let stderr = write_end.try_clone().map_err(platform).map_err(cleanup)?;
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args)
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        match &isolation {
            Some(iso) => iso.sandbox.configure(cmd.as_std_mut()),
            None => {
                cmd.current_dir(task_dir);
                if let Some(limit) = commands.open_files {
                    limit_open_files(cmd.as_std_mut(), limit);
                }
            }
        }
        let before_spawn = started.elapsed();
        let spawned = cmd.spawn();
        tracing::debug!(
            prepare_ms = before_spawn.as_secs_f64() * 1000.0,
            spawn_ms = (started.elapsed() - before_spawn).as_secs_f64() * 1000.0,
            "environment process started"
        );
        let mut child = spawned.map_err(|e| {
            cleanup(
                if matches!(function.runtime.family(), RuntimeFamily::Provided) {
                    StartError::InvalidEntrypoint(format!("fork/exec {}: {e}", program.display()))
                } else {
                    StartError::Platform(format!("starting {}: {e}", program.display()))
                },
            )
        })?;
        drop(cmd);
        let pid = child.id();
        if let (Some(pid), Some(procs)) = (
            pid,
            isolation
                .as_ref()
                .and_then(|iso| iso.sandbox.cgroups.procs_file()),
        ) {
            api.guard(pid, procs);
        }
        if let Some(pid) = pid {
            live.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(pid);
        }
        let (exit_tx, exited) = watch::channel(None);
        let reaped = Arc::clone(&live);
        tokio::spawn(async move {
            let status = child.wait().await;
            // The pid is free for reuse from here on: forget it before anyone can signal it.
            if let Some(pid) = pid {
                reaped
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&pid);
            }
            let reason = match status {
                Ok(s) => describe_exit(s),
                Err(e) => format!("wait failed: {e}"),
            };
            let _ = exit_tx.send(Some(reason));
        });
        Ok(Self {
            id,
            function: function.name.to_string(),
            log_stream,
            revision: function.revision_id.clone(),
            api,
            logs,
            exited,
            started,
            last_used: Instant::now(),
            invocations: 0,
            pid,
            scratch,
            live,
            isolation,
            frozen: false,
        })
    }

    /// Peak resident memory of the runtime process, in MB.
    pub fn max_memory_mb(&self) -> u64 {
        if let Some(iso) = &self.isolation {
            return iso.sandbox.cgroups.peak_memory().div_ceil(1024 * 1024);
        }
        let Some(pid) = self.pid else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb.div_ceil(1024))
    }

    /// Starts a new peak-memory measurement (one per invocation).
    pub fn reset_peak_memory(&self) {
        if let Some(iso) = &self.isolation {
            iso.sandbox.cgroups.reset_peak();
        }
    }

    /// Whether the kernel killed the environment for using more than its memory.
    pub fn oom_killed(&self) -> bool {
        self.isolation
            .as_ref()
            .is_some_and(|iso| iso.sandbox.cgroups.oom_killed())
    }

    /// Stops the environment's processes until [`Env::thaw`] (between invocations, so that
    /// nothing in it runs while it is idle). Without a freezer it keeps running.
    pub fn freeze(&mut self) {
        if let Some(iso) = &self.isolation {
            match iso.sandbox.cgroups.freeze() {
                Ok(()) => self.frozen = true,
                Err(e) => {
                    tracing::warn!(env = %self.id, error = %e, "could not freeze an idle environment")
                }
            }
        }
    }

    /// Lets a frozen environment run again; `false` if it cannot, and must not be used.
    pub fn thaw(&mut self) -> bool {
        if !self.frozen {
            return true;
        }
        match &self.isolation {
            Some(iso) => match iso.sandbox.cgroups.thaw() {
                Ok(()) => {
                    self.frozen = false;
                    true
                }
                Err(e) => {
                    tracing::warn!(env = %self.id, error = %e, "could not thaw an environment");
                    false
                }
            },
            None => true,
        }
    }

    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Kills every process of the environment and removes its scratch space.
    pub fn destroy(&self) {
        if let Some(iso) = &self.isolation {
            // The cgroup names exactly the environment's processes, whatever their pids.
            iso.sandbox.cgroups.kill_all();
        } else if let Some(pid) = self.pid {
            // Signal the process group only while its leader is unreaped (its pid is still ours).
            let mut live = self
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if live.remove(&pid) {
                kill_group(pid);
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.destroy();
        // Removing cgroups waits for the kernel to finish the kills: keep it off async threads.
        let isolation = self.isolation.take();
        let scratch = std::mem::take(&mut self.scratch);
        let finish = move || {
            drop(isolation);
            let _ = std::fs::remove_dir_all(&scratch);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(finish);
            }
            Err(_) => finish(),
        }
    }
}

/// Creates the namespace (with the Runtime API listener inside), the outbound network and the
/// cgroups of one environment. Blocking.
fn prepare_isolation(
    mut spec: kumo_sandbox::Spec,
    scratch: &Path,
    cgroups: kumo_sandbox::CgroupVersion,
    networks: &Arc<crate::network::NetworkPool>,
    tmp_disks: Option<&Arc<crate::tmpdisks::TmpDiskPool>>,
) -> Result<(Isolation, Option<std::net::TcpListener>), kumo_sandbox::SandboxError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| kumo_sandbox::SandboxError::Io { what, source }
    };
    std::fs::create_dir_all(&spec.root_dir).map_err(io("creating the sandbox root"))?;
    std::fs::write(
        scratch.join("resolv.conf"),
        format!("nameserver {}\n", kumo_sandbox::DNS_SERVER),
    )
    .map_err(io("writing resolv.conf"))?;
    let t0 = std::time::Instant::now();
    let tmp = tmp_disks
        .map(|pool| pool.take(spec.limits.tmp_bytes))
        .transpose()?;
    spec.tmp_device = tmp.as_ref().map(|d| d.device().to_owned());
    let t_tmp = t0.elapsed();
    let network = networks.take()?;
    let t1 = t0.elapsed();
    let sandbox = kumo_sandbox::Sandbox::prepare(&spec, Some(&network.netns), cgroups)?;
    tracing::debug!(
        tmp_us = t_tmp.as_micros() as u64,
        network_us = (t1 - t_tmp).as_micros() as u64,
        cgroups_us = (t0.elapsed() - t1).as_micros() as u64,
        "sandbox prepared"
    );
    let isolation = Isolation {
        sandbox,
        _outbound: network.outbound,
        _netns: network.netns,
        _tmp: tmp,
    };
    Ok((isolation, network.listener))
}

/// The program and arguments that start `function`'s runtime.
fn command(
    function: &FunctionConfig,
    task_dir: &Path,
    layout: &Layout,
    commands: &RuntimeCommands,
    sandboxed: bool,
) -> Result<(PathBuf, Vec<PathBuf>), StartError> {
    let unavailable = || {
        StartError::Platform(format!(
            "the {} runtime is not available on this node",
            function.runtime.as_str()
        ))
    };
    // An executable of the package: `bootstrap` for OS-only runtimes, the handler for `go1.x`.
    let executable = |name: &str| {
        if name.is_empty() || name.contains("..") || !task_dir.join(name).is_file() {
            return Err(StartError::InvalidEntrypoint(format!(
                "Couldn't find valid bootstrap(s): [{}]",
                layout.task_root.join(name).display()
            )));
        }
        Ok((layout.task_root.join(name), Vec::new()))
    };
    match function.runtime.family() {
        RuntimeFamily::Python => Ok((
            commands.python.clone(),
            vec![
                "-S".into(),
                "-u".into(),
                layout.runtime_dir.join(&commands.python_bootstrap),
            ],
        )),
        RuntimeFamily::Node => Ok((
            commands.node.clone(),
            vec![layout.runtime_dir.join("node/bootstrap.cjs")],
        )),
        RuntimeFamily::Java => {
            let rt = commands.java.as_ref().ok_or_else(unavailable)?;
            let (dir, archive) = if sandboxed {
                (layout.runtime_dir.join("java"), "kumo-sandbox.jsa")
            } else {
                (rt.dir.clone(), "kumo.jsa")
            };
            // The heap gets 85% of the memory size; the rest is metaspace, code and stacks.
            let heap_kb = u64::from(function.memory_mb) * 1024 * 85 / 100;
            let args = [
                "-XX:+UseSerialGC".to_owned(),
                "-XX:TieredStopAtLevel=1".into(),
                "-XX:-UsePerfData".into(),
                "-Xshare:auto".into(),
                format!("-XX:SharedArchiveFile={}", dir.join(archive).display()),
                "-Xlog:cds=off,cds+dynamic=off".into(),
                // The host may lack the en_US.UTF-8 locale LANG names; Lambda's JVM is UTF-8.
                "-Dfile.encoding=UTF-8".into(),
                format!("-XX:MaxHeapSize={heap_kb}k"),
                "-cp".into(),
                dir.join("kumo-runtime.jar").display().to_string(),
                "kumo.Bootstrap".into(),
            ];
            Ok((
                rt.java.clone(),
                args.into_iter().map(PathBuf::from).collect(),
            ))
        }
        RuntimeFamily::Dotnet => {
            let rt = commands.dotnet.as_ref().ok_or_else(unavailable)?;
            let dir = if sandboxed {
                layout.runtime_dir.join("dotnet")
            } else {
                rt.dir.clone()
            };
            Ok((
                rt.mono.clone(),
                vec!["--debug".into(), dir.join("KumoBootstrap.exe")],
            ))
        }
        RuntimeFamily::Go => executable(&function.handler),
        RuntimeFamily::Ruby => Err(unavailable()),
        RuntimeFamily::Provided => executable("bootstrap"),
    }
}

/// What the sandbox of a function's environment looks like.
fn sandbox_spec(
    id: &str,
    f: &FunctionConfig,
    task_dir: &Path,
    scratch: &Path,
    commands: &RuntimeCommands,
    cfg: &SandboxConfig,
) -> kumo_sandbox::Spec {
    use kumo_sandbox::{Bind, Limits, Spec, ETC_ENTRIES, SYSTEM_DIRS};
    let ro = |p: &Path| Bind {
        source: p.to_owned(),
        target: p.to_owned(),
        writable: false,
    };
    let mut binds: Vec<Bind> = SYSTEM_DIRS
        .iter()
        .chain(ETC_ENTRIES)
        .map(Path::new)
        .filter(|p| p.exists() && *p != Path::new("/etc/resolv.conf"))
        .map(ro)
        .collect();
    if cfg.outbound.is_some() {
        binds.push(Bind {
            source: scratch.join("resolv.conf"),
            target: "/etc/resolv.conf".into(),
            writable: false,
        });
    }
    binds.push(Bind {
        source: task_dir.to_owned(),
        target: "/var/task".into(),
        writable: false,
    });
    binds.push(Bind {
        source: commands.bootstrap_dir.clone(),
        target: "/var/runtime".into(),
        writable: false,
    });
    // The compiled runtimes, on mount points inside /var/runtime.
    let compiled = match f.runtime.family() {
        RuntimeFamily::Java => commands.java.as_ref().map(|rt| (&rt.dir, "java")),
        RuntimeFamily::Dotnet => commands.dotnet.as_ref().map(|rt| (&rt.dir, "dotnet")),
        _ => None,
    };
    if let Some((dir, sub)) = compiled {
        binds.push(Bind {
            source: dir.clone(),
            target: Path::new("/var/runtime").join(sub),
            writable: false,
        });
    }
    let memory_bytes = u64::from(f.memory_mb) * 1024 * 1024;
    // Lambda: 1,769 MB buys one vCPU.
    let cpu_shares = (u64::from(f.memory_mb) * 1024 / 1769).max(2);
    let uid = cfg.uid_base
        + NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % cfg.uid_count.max(1);
    Spec {
        id: format!("{}/{id}", cfg.instance),
        root_dir: scratch.join("root"),
        binds,
        limits: Limits {
            memory_bytes,
            cpu_shares,
            cpu_quota_us: cfg
                .cpu_hard_limit
                .then(|| (u64::from(f.memory_mb) * 100_000 / 1769).max(1000)),
            pids_max: 1024,
            nofile: 1024,
            tmp_bytes: u64::from(f.ephemeral_storage_mb) * 1024 * 1024,
        },
        uid,
        gid: uid,
        hostname: "kumo".into(),
        workdir: "/var/task".into(),
        tmp_device: None,
    }
}

/// Sets the child's open-files soft limit (keeping the hard one) between fork and exec.
#[allow(unsafe_code)]
fn limit_open_files(cmd: &mut std::process::Command, soft: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child and only calls getrlimit/setrlimit, which are
    // async-signal-safe, on a struct on its own stack.
    unsafe {
        cmd.pre_exec(move || {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur = soft.min(limit.rlim_max);
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
            Ok(())
        });
    }
}

#[allow(unsafe_code)]
pub(crate) fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the child leads its own process group
    // (spawned with process_group(0)), so -pgid names exactly the environment's processes.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(sig)) => format!("signal: {sig}"),
        (None, None) => "exited without providing a reason".into(),
    }
}

/// The variables a runtime sees: Lambda's set, then the function's own.
fn environment(
    f: &FunctionConfig,
    layout: &Layout,
    region: &str,
    log_stream: &str,
) -> BTreeMap<String, String> {
    let task = layout.task_root.display().to_string();
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_owned(), val);
    };
    set("_HANDLER", f.handler.clone());
    set("AWS_LAMBDA_RUNTIME_API", layout.runtime_api.clone());
    set("AWS_LAMBDA_FUNCTION_NAME", f.name.to_string());
    set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string());
    set("AWS_LAMBDA_LOG_GROUP_NAME", f.log_group());
    set("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
    set("AWS_REGION", region.to_owned());
    set("AWS_DEFAULT_REGION", region.to_owned());
    if !matches!(f.runtime.family(), RuntimeFamily::Provided) {
        set(
            "AWS_EXECUTION_ENV",
            format!("AWS_Lambda_{}", f.runtime.as_str()),
        );
    }
    set("LAMBDA_TASK_ROOT", task.clone());
    set(
        "LAMBDA_RUNTIME_DIR",
        layout.runtime_dir.display().to_string(),
    );
    set("TZ", ":UTC".into());
    set("LANG", "en_US.UTF-8".into());
    set("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin".into());
    set(
        "LD_LIBRARY_PATH",
        format!("/lib64:/usr/lib64:{task}:{task}/lib:/opt/lib"),
    );
    set("TMPDIR", layout.tmp.display().to_string());
    set("HOME", layout.tmp.display().to_string());
    if matches!(f.runtime.family(), RuntimeFamily::Node) {
        set(
            "NODE_PATH",
            "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules".into(),
        );
    }
    for (k, val) in &f.environment {
        v.insert(k.clone(), val.clone());
    }
    v
}
