//! The processes under test: `kumo serve` and the floor server.

use crate::client::{KEY, SECRET};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running process that printed its URL.
pub struct Server {
    pub url: String,
    child: Child,
    pub data_dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets Kumo stop its environments.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn wait_for_url(child: &mut Child, marker: &str) -> Result<String> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(url) = line.strip_prefix(marker) {
            let url = url.trim().to_owned();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok(url);
        }
    }
    bail!("the server exited before printing its address")
}

pub fn start_kumo(bin: &Path, build_dir: &Path) -> Result<Server> {
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p kumo`",
            bin.display()
        );
    }
    let data = tempfile::Builder::new().prefix("kumo-bench-").tempdir()?;
    let config = data.path().join("kumo.toml");
    std::fs::write(
        &config,
        "[limits]\naccount_concurrency = 1000\nidle_timeout_secs = 900\n",
    )?;
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--config")
        .arg(&config)
        .env("KUMO_AUTH_ACCESS_KEY_ID", KEY)
        .env("KUMO_AUTH_SECRET_ACCESS_KEY", SECRET)
        .env("KUMO_RUNTIMES_BUILD_DIR", build_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(
            data.path().join("stderr.log"),
        )?))
        .spawn()
        .with_context(|| format!("while starting {}", bin.display()))?;
    let url = wait_for_url(&mut child, "kumo listening on ")
        .with_context(|| format!("see {}", data.path().join("stderr.log").display()))?;
    Ok(Server {
        url,
        child,
        data_dir: Some(data),
    })
}

pub fn start_floor() -> Result<Server> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("--floor-server")
        .stdout(Stdio::piped())
        .spawn()?;
    let url = wait_for_url(&mut child, "floor listening on ")?;
    Ok(Server {
        url,
        child,
        data_dir: None,
    })
}

/// The floor: the least an HTTP server can do with the same request, on the same stack Kumo
/// uses (tokio, hyper, axum).
pub async fn serve_floor() -> Result<()> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/{*path}",
        post(
            |body: axum::body::Bytes| async move { ([("content-type", "application/json")], body) },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("floor listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// This server's environments' cgroup directories (memory controller), named as Kumo names
/// them: `kumo/<hash of the data directory>/<environment>`.
pub fn environment_cgroups(data_dir: &Path) -> Vec<PathBuf> {
    use std::hash::{Hash, Hasher};
    let Ok(canonical) = data_dir.canonicalize() else {
        return Vec::new();
    };
    let mut hasher = std::hash::DefaultHasher::new();
    canonical.hash(&mut hasher);
    let instance = format!("{:016x}", hasher.finish());
    let mut out = Vec::new();
    for root in ["/sys/fs/cgroup/memory/kumo", "/sys/fs/cgroup/unified/kumo"] {
        if let Ok(entries) = std::fs::read_dir(Path::new(root).join(&instance)) {
            out.extend(
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.is_dir()),
            );
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// Resident memory (VmRSS, KiB) of a process.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Proportional set size (KiB): resident memory with shared pages divided among their sharers.
pub fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The processes of a cgroup, with their command lines.
pub fn cgroup_processes(dir: &Path) -> Vec<(u32, String)> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .map(|pid: u32| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            (pid, cmd)
        })
        .collect()
}
