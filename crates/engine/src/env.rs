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
    /// Directory holding `python/bootstrap.py` and `node/bootstrap.mjs`.
    pub bootstrap_dir: PathBuf,
}

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
}

impl Env {
    pub async fn start(
        function: &FunctionConfig,
        task_dir: &Path,
        scratch_root: &Path,
        commands: &RuntimeCommands,
        region: &str,
        live: Arc<Mutex<HashSet<u32>>>,
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
        let api = RuntimeApi::start().await.map_err(platform)?;
        let (logs, write_end) = LogCapture::start().map_err(platform)?;
        let scratch = scratch_root.join(&id);
        let tmp = scratch.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(platform)?;

        let (program, args): (PathBuf, Vec<PathBuf>) = match function.runtime.family() {
            RuntimeFamily::Python => (
                commands.python.clone(),
                vec![
                    "-S".into(),
                    "-u".into(),
                    commands.bootstrap_dir.join("python/bootstrap.py"),
                ],
            ),
            RuntimeFamily::Node => (
                commands.node.clone(),
                vec![commands.bootstrap_dir.join("node/bootstrap.mjs")],
            ),
            _ => {
                let bootstrap = task_dir.join("bootstrap");
                if !bootstrap.is_file() {
                    let _ = std::fs::remove_dir_all(&scratch);
                    return Err(StartError::InvalidEntrypoint(format!(
                        "Couldn't find valid bootstrap(s): [{}]",
                        bootstrap.display()
                    )));
                }
                (bootstrap, Vec::new())
            }
        };

        let vars = environment(
            function,
            task_dir,
            commands,
            region,
            &api.addr.to_string(),
            &log_stream,
            &tmp,
        );
        let stderr = write_end.try_clone().map_err(platform)?;
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args)
            .env_clear()
            .envs(vars)
            .current_dir(task_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&scratch);
            if matches!(function.runtime.family(), RuntimeFamily::Provided) {
                StartError::InvalidEntrypoint(format!("fork/exec {}: {e}", program.display()))
            } else {
                StartError::Platform(format!("starting {}: {e}", program.display()))
            }
        })?;
        drop(cmd);
        let pid = child.id();
        if let Some(pid) = pid {
            live.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(pid);
        }
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await;
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
        })
    }

    /// Peak resident memory of the runtime process, in MB.
    pub fn max_memory_mb(&self) -> u64 {
        let Some(pid) = self.pid else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb.div_ceil(1024))
    }

    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Kills every process of the environment and removes its scratch space.
    pub fn destroy(&self) {
        if let Some(pid) = self.pid {
            kill_group(pid);
            self.live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&pid);
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.destroy();
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
    task_dir: &Path,
    commands: &RuntimeCommands,
    region: &str,
    runtime_api: &str,
    log_stream: &str,
    tmp: &Path,
) -> BTreeMap<String, String> {
    let task = task_dir.display().to_string();
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_owned(), val);
    };
    set("_HANDLER", f.handler.clone());
    set("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned());
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
        commands.bootstrap_dir.display().to_string(),
    );
    set("TZ", ":UTC".into());
    set("LANG", "en_US.UTF-8".into());
    set("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin".into());
    set(
        "LD_LIBRARY_PATH",
        format!("/lib64:/usr/lib64:{task}:{task}/lib:/opt/lib"),
    );
    set("TMPDIR", tmp.display().to_string());
    set("HOME", tmp.display().to_string());
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
