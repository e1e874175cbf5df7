//! The managed runtimes this node can run: the interpreters it finds and the bootstraps it installs.
//!
//! Python and Node.js bootstraps are single scripts written into the data directory. The Java and
//! C# bootstraps are compiled here, on first start, with the machine's own JDK and Mono (their
//! sources are embedded in the binary); the result is kept in the runtime build directory under a
//! hash of the sources, so later starts, and other servers sharing the directory, reuse it.
//!
//! Sandboxed environments see a compiled runtime at `/var/runtime/<language>`. The JVM only
//! accepts a class-data-sharing archive at the class path it was made with, so the Java build
//! makes two: `kumo.jsa` for the build directory's own path (unsandboxed environments) and
//! `kumo-sandbox.jsa`, from a training run in a private mount namespace where the build
//! directory is mounted at `/var/runtime/java`.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use kumo_engine::{DotnetRuntime, JavaRuntime};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod sources {
    include!(concat!(env!("OUT_DIR"), "/runtime_sources.rs"));
}

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.cjs");

/// What [`prepare`] found.
pub struct Prepared {
    /// Runtime names functions may use, sorted.
    pub names: Vec<String>,
    pub java: Option<JavaRuntime>,
    pub dotnet: Option<DotnetRuntime>,
    /// The Python bootstrap environments run, relative to the runtime directory.
    pub python_bootstrap: PathBuf,
}

/// Writes the script bootstraps into `runtime_dir`, builds the compiled ones into
/// `settings.runtime_build_dir` when needed, and lists the runtimes this machine can run.
pub fn prepare(settings: &Settings, runtime_dir: &Path, sandboxed: bool) -> Result<Prepared> {
    install_bootstraps(runtime_dir)?;
    let python_bootstrap = if compile_python_bootstrap(&settings.python, runtime_dir) {
        "python/bootstrap.pyc"
    } else {
        "python/bootstrap.py"
    };
    let mut names: Vec<String> = ["provided", "provided.al2", "provided.al2023", "go1.x"]
        .map(String::from)
        .into();
    python_names(&settings.python, &mut names);
    node_names(&settings.node, &mut names);

    let java = match java(settings, sandboxed) {
        Ok(rt) => {
            names.push("java17".into());
            Some(rt)
        }
        Err(e) => {
            tracing::warn!("java17 runtime disabled: {e:#}");
            None
        }
    };
    let dotnet = match dotnet(settings) {
        Ok(rt) => {
            names.push("dotnet8".into());
            Some(rt)
        }
        Err(e) => {
            tracing::warn!("dotnet8 runtime disabled: {e:#}");
            None
        }
    };
    names.sort();
    Ok(Prepared {
        names,
        java,
        dotnet,
        python_bootstrap: python_bootstrap.into(),
    })
}

fn install_bootstraps(dir: &Path) -> Result<()> {
    for (rel, text) in [
        ("python/bootstrap.py", PYTHON_BOOTSTRAP),
        ("node/bootstrap.cjs", NODE_BOOTSTRAP),
    ] {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("while creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("while writing {}", path.display()))?;
    }
    // Mount points for the compiled runtimes.
    for sub in ["java", "dotnet"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("while creating {}", dir.join(sub).display()))?;
    }
    Ok(())
}

/// Precompiles the Python bootstrap with the interpreter that runs it, so no cold start spends
/// milliseconds compiling it. Returns whether the `.pyc` is there; without it environments run
/// the source.
fn compile_python_bootstrap(python: &Path, runtime_dir: &Path) -> bool {
    let source = runtime_dir.join("python/bootstrap.py");
    let compiled = runtime_dir.join("python/bootstrap.pyc");
    let _ = std::fs::remove_file(&compiled);
    let status = std::process::Command::new(python)
        .args([
            "-S",
            "-c",
            "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile=sys.argv[3], doraise=True)",
        ])
        .arg(&source)
        .arg(&compiled)
        .arg("/var/runtime/python/bootstrap.py")
        .env_clear()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !status.is_ok_and(|s| s.success()) {
        let _ = std::fs::remove_file(&compiled);
        tracing::debug!("the Python bootstrap was not precompiled; environments compile it");
        return false;
    }
    true
}

/// Runs `program args` and returns its trimmed stdout.
fn probe(program: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env_clear()
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn python_names(python: &Path, names: &mut Vec<String>) {
    let version = probe(
        python,
        &[
            "-S",
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ],
    );
    match version.as_deref().and_then(|v| v.split_once(' ')) {
        Some(("3", minor)) => {
            // The host's Python serves its own version and the project's reference version.
            names.push(format!("python3.{minor}"));
            if minor != "11" {
                names.push("python3.11".into());
            }
        }
        _ => {
            tracing::warn!(python = %python.display(), "no usable Python interpreter; python runtimes disabled")
        }
    }
}

fn node_names(node: &Path, names: &mut Vec<String>) {
    match probe(node, &["-p", "process.versions.node.split('.')[0]"]) {
        Some(major) => {
            names.push(format!("nodejs{major}.x"));
            if major != "20" {
                names.push("nodejs20.x".into());
            }
        }
        None => {
            tracing::warn!(node = %node.display(), "no usable Node.js; node runtimes disabled")
        }
    }
}

fn java(settings: &Settings, sandboxed: bool) -> Result<JavaRuntime> {
    let home = &settings.java_home;
    let java = home.join("bin/java");
    for tool in ["java", "javac", "jar"] {
        if !home.join("bin").join(tool).is_file() {
            bail!(
                "{} not found (apt-get install openjdk-17-jdk-headless, or set runtimes.java_home)",
                home.join("bin").join(tool).display()
            );
        }
    }
    let version = std::process::Command::new(&java)
        .arg("-version")
        .output()
        .context("while running java -version")?;
    let banner = String::from_utf8_lossy(&version.stderr);
    if !banner.contains("version \"17") {
        bail!("{} is not Java 17: {}", java.display(), banner.trim());
    }
    let dir = build(settings, "java", sources::JAVA, |src, out| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(src.join("build.sh"))
            .arg(out)
            .env("JAVA_HOME", home)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", home.join("bin").display()),
            );
        cmd
    })?;
    if sandboxed && !dir.join(SANDBOX_ARCHIVE).exists() {
        // Without it environments still start, only slower.
        if let Err(e) = train_sandbox_archive(&java, &dir) {
            tracing::warn!("java17: no class-data archive for sandboxed environments: {e:#}");
        }
    }
    Ok(JavaRuntime { java, dir })
}

const SANDBOX_ARCHIVE: &str = "kumo-sandbox.jsa";

/// Makes `kumo-sandbox.jsa`: the training run of `build.sh`, with the build directory at the path
/// sandboxed environments see it at.
fn train_sandbox_archive(java: &Path, dir: &Path) -> Result<()> {
    let script = r#"set -e
mount -t tmpfs -o size=1m,mode=0755 kumo-train /var
mkdir -p /var/runtime/java
mount --bind "$1" /var/runtime/java
cd /
exec env -i PATH=/usr/bin:/bin "$2" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -XX:ArchiveClassesAtExit=/var/runtime/java/kumo-sandbox.jsa \
  -cp /var/runtime/java/kumo-runtime.jar kumo.Train"#;
    let output = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(dir)
        .arg(java)
        .output()
        .context("while running unshare (util-linux)")?;
    let made = dir.join(SANDBOX_ARCHIVE);
    if !output.status.success() || !made.exists() {
        let _ = std::fs::remove_file(&made);
        bail!(
            "training run failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o444))?;
    Ok(())
}

fn dotnet(settings: &Settings) -> Result<DotnetRuntime> {
    let mono = settings.mono.clone();
    if !mono.is_file() {
        bail!(
            "{} not found (apt-get install mono-complete, or set runtimes.mono)",
            mono.display()
        );
    }
    let mcs = mono.with_file_name("mcs");
    if !mcs.is_file() {
        bail!("{} not found (apt-get install mono-mcs)", mcs.display());
    }
    let bin = mono.parent().map(Path::to_owned).unwrap_or_default();
    let dir = build(settings, "dotnet", sources::DOTNET, |src, out| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(src.join("build.sh"))
            .arg(out)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
        cmd
    })?;
    Ok(DotnetRuntime { mono, dir })
}

/// Builds `files` with `command(source_dir, out_dir)` into `<build dir>/<name>-<hash>`, unless a
/// complete build is there already. Concurrent servers take turns on a lock file.
fn build(
    settings: &Settings,
    name: &str,
    files: &[(&str, &[u8])],
    command: impl Fn(&Path, &Path) -> std::process::Command,
) -> Result<PathBuf> {
    let mut hash = Sha256::new();
    for (path, bytes) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    }
    let digest = hex::encode(&hash.finalize()[..8]);
    let root = &settings.runtime_build_dir;
    std::fs::create_dir_all(root).with_context(|| format!("while creating {}", root.display()))?;
    let root = root.canonicalize()?;
    let out = root.join(format!("{name}-{digest}"));
    let done = out.join(".complete");
    if done.exists() {
        return Ok(out);
    }
    let lock = std::fs::File::create(root.join(format!("{name}-{digest}.lock")))?;
    lock.lock().context("while locking the runtime build")?;
    if done.exists() {
        return Ok(out);
    }
    let started = std::time::Instant::now();
    let src = root.join(format!("{name}-{digest}.src"));
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&out);
    for (path, bytes) in files {
        let target = src.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
    }
    std::fs::create_dir_all(&out)?;
    let output = command(&src, &out)
        .output()
        .with_context(|| format!("while building the {name} runtime"))?;
    let _ = std::fs::remove_dir_all(&src);
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&out);
        bail!(
            "building the {name} runtime failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Environments run as unprivileged users: everything they load must be world-readable.
    make_world_readable(&out)?;
    std::fs::write(&done, b"")?;
    tracing::info!(runtime = name, dir = %out.display(), ms = started.elapsed().as_millis() as u64, "built runtime");
    Ok(out)
}

fn make_world_readable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::metadata(&path)?;
        let mode = meta.permissions().mode();
        let wanted = if meta.is_dir() {
            mode | 0o555
        } else {
            mode | 0o444
        };
        if wanted != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))?;
        }
        if meta.is_dir() {
            make_world_readable(&path)?;
        }
    }
    Ok(())
}
