//! The functions measured: a no-op per runtime, and the bare program each runtime's cold start is
//! compared with (the floor).

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Function {
    /// Short name used in reports: python, node, java, dotnet, go.
    pub key: &'static str,
    pub runtime: &'static str,
    pub handler: &'static str,
    pub zip: Vec<u8>,
    /// The bare program start that is this runtime's cold-start floor.
    pub floor: Vec<String>,
    pub floor_label: String,
}

impl Function {
    /// A Python function of one module, `app.py`, without a floor.
    pub fn python(key: &'static str, source: &[u8]) -> Result<Self> {
        Ok(Self {
            key,
            runtime: "python3.11",
            handler: "app.handler",
            zip: zip(&[("app.py", source.to_vec(), 0o644)])?,
            floor: Vec::new(),
            floor_label: String::new(),
        })
    }
}

fn zip(files: &[(&str, Vec<u8>, u32)]) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, bytes, mode) in files {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(*mode);
            w.start_file(*name, opts)?;
            w.write_all(bytes)?;
        }
        w.finish()?;
    }
    Ok(out.into_inner())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("while running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Builds the functions of `keys` in `work`; a runtime whose toolchain is missing is reported and
/// left out.
pub fn build(keys: &[String], work: &Path, repo: &Path) -> Result<(Vec<Function>, Vec<String>)> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for key in keys {
        let built = match key.as_str() {
            "python" => python(),
            "node" => node(),
            "java" => java(work),
            "dotnet" => dotnet(work),
            "go" => go(work, repo),
            other => bail!("unknown runtime {other:?} (python, node, java, dotnet, go)"),
        };
        match built {
            Ok(f) => out.push(f),
            Err(e) => skipped.push(format!("{key}: {e:#}")),
        }
    }
    Ok((out, skipped))
}

fn python() -> Result<Function> {
    Ok(Function {
        key: "python",
        runtime: "python3.11",
        handler: "app.handler",
        zip: zip(&[(
            "app.py",
            b"def handler(event, context):\n    return event\n".to_vec(),
            0o644,
        )])?,
        floor: vec!["/usr/bin/python3".into(), "-c".into(), "pass".into()],
        floor_label: "python3 -c pass".into(),
    })
}

fn node() -> Result<Function> {
    Ok(Function {
        key: "node",
        runtime: "nodejs20.x",
        handler: "index.handler",
        zip: zip(&[(
            "index.js",
            b"exports.handler = async (event) => event;\n".to_vec(),
            0o644,
        )])?,
        floor: vec!["/usr/bin/node".into(), "-e".into(), "0".into()],
        floor_label: "node -e 0".into(),
    })
}

fn java(work: &Path) -> Result<Function> {
    if !have("javac") {
        bail!("javac not found (openjdk-17-jdk-headless)");
    }
    let src = work.join("java/src/bench");
    let classes = work.join("java/classes");
    std::fs::create_dir_all(&src)?;
    std::fs::write(
        src.join("Noop.java"),
        "package bench;\npublic class Noop {\n  public Object handle(Object in) { return in; }\n}\n",
    )?;
    std::fs::write(
        src.join("Hello.java"),
        "package bench;\npublic class Hello {\n  public static void main(String[] a) {}\n}\n",
    )?;
    run(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(&classes)
        .arg(src.join("Noop.java"))
        .arg(src.join("Hello.java")))?;
    let noop = std::fs::read(classes.join("bench/Noop.class"))?;
    Ok(Function {
        key: "java",
        runtime: "java17",
        handler: "bench.Noop::handle",
        zip: zip(&[("bench/Noop.class", noop, 0o644)])?,
        floor: vec![
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java".into(),
            "-XX:+UseSerialGC".into(),
            "-XX:TieredStopAtLevel=1".into(),
            "-Xshare:auto".into(),
            "-cp".into(),
            classes.display().to_string(),
            "bench.Hello".into(),
        ],
        floor_label: "java (empty main, default CDS)".into(),
    })
}

fn dotnet(work: &Path) -> Result<Function> {
    if !have("mcs") || !have("mono") {
        bail!("mcs/mono not found (mono-complete)");
    }
    let dir = work.join("dotnet");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("Noop.cs"),
        "namespace Bench { public class Noop { public System.IO.Stream Handle(System.IO.Stream input) { return input; } } }\n",
    )?;
    std::fs::write(
        dir.join("Hello.cs"),
        "public static class Hello { public static void Main() {} }\n",
    )?;
    run(Command::new("mcs")
        .arg("-nologo")
        .arg("-target:library")
        .arg(format!("-out:{}", dir.join("Noop.dll").display()))
        .arg(dir.join("Noop.cs")))?;
    run(Command::new("mcs")
        .arg("-nologo")
        .arg(format!("-out:{}", dir.join("Hello.exe").display()))
        .arg(dir.join("Hello.cs")))?;
    Ok(Function {
        key: "dotnet",
        runtime: "dotnet8",
        handler: "Noop::Bench.Noop::Handle",
        zip: zip(&[("Noop.dll", std::fs::read(dir.join("Noop.dll"))?, 0o644)])?,
        floor: vec![
            "/usr/bin/mono".into(),
            dir.join("Hello.exe").display().to_string(),
        ],
        floor_label: "mono (empty Main)".into(),
    })
}

fn go(work: &Path, repo: &Path) -> Result<Function> {
    if !have("go") {
        bail!("go not found (golang-go)");
    }
    let dir = work.join("go");
    let hello = work.join("go-hello");
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(&hello)?;
    let runtime = repo.join("runtimes/go").canonicalize()?;
    std::fs::write(
        dir.join("go.mod"),
        format!(
            "module bench/noop\n\ngo 1.19\n\nrequire github.com/aws/aws-lambda-go v1.47.0\n\nreplace github.com/aws/aws-lambda-go => {}\n",
            runtime.display()
        ),
    )?;
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport (\n\t\"encoding/json\"\n\n\t\"github.com/aws/aws-lambda-go/lambda\"\n)\n\nfunc main() {\n\tlambda.Start(func(in json.RawMessage) (json.RawMessage, error) { return in, nil })\n}\n",
    )?;
    std::fs::write(hello.join("go.mod"), "module bench/hello\n\ngo 1.19\n")?;
    std::fs::write(hello.join("main.go"), "package main\n\nfunc main() {}\n")?;
    let build = |d: &PathBuf| {
        run(Command::new("go")
            .args(["build", "-o", "bootstrap", "."])
            .current_dir(d)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOCACHE", work.join("gocache")))
    };
    build(&dir)?;
    build(&hello)?;
    Ok(Function {
        key: "go",
        runtime: "provided.al2023",
        handler: "bootstrap",
        zip: zip(&[("bootstrap", std::fs::read(dir.join("bootstrap"))?, 0o755)])?,
        floor: vec![hello.join("bootstrap").display().to_string()],
        floor_label: "Go binary (empty main)".into(),
    })
}
