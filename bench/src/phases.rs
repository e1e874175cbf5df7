//! The measurements, in order, and the results they produce.

use crate::client::{Client, Prepared};
use crate::functions::{self, Function};
use crate::kumo;
use crate::stats::{ms, summarize, Summary};
use crate::Args;
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const PAYLOAD: &[u8] = br#"{"ping":1}"#;

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub date: String,
    pub command: String,
    pub quick: bool,
    pub machine: Machine,
    pub skipped: Vec<String>,
    pub floor_warm: Option<Summary>,
    pub warm: Vec<(String, Summary)>,
    pub cold: Vec<Cold>,
    pub throughput: Vec<Throughput>,
    pub density: Vec<Density>,
    pub scaleout: Vec<ScaleOut>,
    pub control: Option<Control>,
    /// Raw warm samples for the latency CDF (ms), per series.
    #[serde(skip)]
    pub warm_samples: Vec<(String, Vec<f64>)>,
}

#[derive(Debug, Default, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

#[derive(Debug, Serialize)]
pub struct Cold {
    pub runtime: String,
    /// Invoke to response with no warm environment.
    pub invoke: Summary,
    /// `Init Duration` from the REPORT lines.
    pub init_duration: Summary,
    pub floor_label: String,
    /// Starting the bare program.
    pub floor: Summary,
}

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub target: String,
    pub clients: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Density {
    pub runtime: String,
    pub environments: usize,
    /// Mean resident memory (VmRSS) of an idle environment's runtime process (the interpreter
    /// running Kumo's bootstrap).
    pub runtime_rss_mib: f64,
    /// Mean proportional set size of all of an idle environment's processes (the runtime and
    /// the sandbox's init): what one more environment costs the machine.
    pub env_pss_mib: f64,
    /// The bare interpreter, idle.
    pub floor_rss_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ScaleOut {
    pub environments: usize,
    pub sleep_ms: u64,
    /// Until every request has been answered.
    pub all_answered_ms: f64,
    /// `all_answered_ms - sleep_ms`: the time to bring every environment up.
    pub scale_out_ms: f64,
    pub sandboxes_per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Control {
    pub functions: usize,
    pub create_per_second: f64,
    /// Listing all functions, page by page (50 per page).
    pub list_all_ms: f64,
    pub list_page: Summary,
    pub big_zip_mib: f64,
    pub create_big_zip: Summary,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: (mem_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn invoke_path(name: &str) -> String {
    format!("/2015-03-31/functions/{name}/invocations")
}

async fn create(kumo: &Client, name: &str, f: &Function, memory: u32) -> Result<()> {
    let zip = base64::engine::general_purpose::STANDARD.encode(&f.zip);
    kumo.call_json(
        "POST",
        "/2015-03-31/functions",
        json!({
            "FunctionName": name, "Runtime": f.runtime, "Handler": f.handler,
            "Role": "arn:aws:iam::123456789012:role/bench", "MemorySize": memory, "Timeout": 30,
            "Code": {"ZipFile": zip},
        }),
    )
    .await
    .with_context(|| format!("while creating {name}"))?;
    Ok(())
}

/// Invokes once and checks the answer is a success.
async fn invoke_ok(c: &Client, p: &Prepared) -> Result<Duration> {
    let (status, headers, body, took) = c.send_full(p).await?;
    if status != 200 || headers.contains_key("x-amz-function-error") {
        bail!(
            "invoke answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(took)
}

async fn sequential(c: &Client, path: &str, n: usize) -> Result<Vec<f64>> {
    let mut p = c.prepare("POST", path, PAYLOAD.to_vec())?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        p = c.refresh(&p)?;
        out.push(ms(invoke_ok(c, &p).await?));
    }
    Ok(out)
}

pub async fn run(args: Args) -> Result<()> {
    let repo = std::env::current_dir()?;
    let started = Instant::now();
    let mut r = Results {
        date: time_now(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: args.quick,
        machine: machine(),
        ..Default::default()
    };
    std::fs::create_dir_all(&args.out)?;
    let work = tempfile::Builder::new()
        .prefix("kumo-bench-fn-")
        .tempdir()?;
    let (funcs, skipped) = functions::build(&args.runtimes, work.path(), &repo)?;
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    r.skipped = skipped;
    let build_dir = repo.join("target/kumo-runtimes");
    let server = kumo::start_kumo(&args.kumo, &build_dir)?;
    let floor = kumo::start_floor()?;
    let kc = Client::new(&server.url, true)?;
    let fc = Client::new(&floor.url, false)?;
    eprintln!("kumo at {}, floor at {}", server.url, floor.url);
    for f in &funcs {
        create(&kc, &format!("bench-{}", f.key), f, 256).await?;
    }

    let q = args.quick;
    if args.phase("warm") {
        let n = if q { 200 } else { 3000 };
        let floor_path = invoke_path("floor");
        sequential(&fc, &floor_path, n / 10).await?;
        let samples = sequential(&fc, &floor_path, n).await?;
        r.floor_warm = Some(summarize(&samples));
        r.warm_samples.push(("floor (axum echo)".into(), samples));
        for f in &funcs {
            let path = invoke_path(&format!("bench-{}", f.key));
            sequential(&kc, &path, 20).await?;
            let samples = sequential(&kc, &path, n).await?;
            eprintln!("warm {}: {:?}", f.key, summarize(&samples));
            r.warm.push((f.key.into(), summarize(&samples)));
            r.warm_samples.push((f.key.into(), samples));
        }
    }
    if args.phase("cold") {
        let n = if q { 5 } else { 30 };
        for f in &funcs {
            r.cold.push(cold(&kc, f, n).await?);
            eprintln!("cold {}: done", f.key);
        }
    }
    if args.phase("throughput") {
        let levels: &[usize] = if q { &[1, 8] } else { &[1, 2, 8, 32] };
        let secs = if q { 2.0 } else { 20.0 };
        let python = funcs.iter().find(|f| f.key == "python");
        for &clients in levels {
            r.throughput
                .push(throughput(&fc, "floor", &invoke_path("floor"), clients, secs).await?);
            if let Some(f) = python {
                let path = invoke_path(&format!("bench-{}", f.key));
                // Bring the environments up first: this phase measures warm throughput.
                throughput(&kc, "warm-up", &path, clients, 0.5).await?;
                r.throughput
                    .push(throughput(&kc, "kumo python", &path, clients, secs).await?);
            }
            eprintln!("throughput {clients}: done");
        }
    }
    if args.phase("density") {
        let data = server.data_dir.as_ref().context("kumo data dir")?.path();
        r.density = density(data, &funcs)?;
    }
    if args.phase("scaleout") {
        let envs = if q { 10 } else { 50 };
        let rounds = if q { 1 } else { 3 };
        for round in 0..rounds {
            r.scaleout.push(scaleout(&kc, envs, round).await?);
        }
    }
    if args.phase("control") {
        let (n, big) = if q { (200, 2) } else { (10_000, 20) };
        r.control = Some(control(&kc, n, big).await?);
    }
    drop(server);
    drop(floor);
    eprintln!("finished in {:.0} s", started.elapsed().as_secs_f64());
    crate::report::write(&r, &args)
}

fn time_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

async fn cold(kc: &Client, f: &Function, n: usize) -> Result<Cold> {
    let name = format!("bench-{}", f.key);
    let path = invoke_path(&name);
    let mut invoke = Vec::new();
    let mut init = Vec::new();
    for i in 0..n {
        // A configuration change retires the warm environments: the next invoke starts cold.
        kc.call_json(
            "PUT",
            &format!("/2015-03-31/functions/{name}/configuration"),
            json!({"Environment": {"Variables": {"BENCH_ROUND": i.to_string()}}}),
        )
        .await?;
        let p = kc.prepare_with(
            "POST",
            &path,
            PAYLOAD.to_vec(),
            &[("x-amz-log-type", "Tail")],
        )?;
        let (status, headers, body, took) = kc.send_full(&p).await?;
        if status != 200 || headers.contains_key("x-amz-function-error") {
            bail!(
                "cold invoke of {name}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        let log = headers
            .get("x-amz-log-result")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let init_ms = log
            .split("Init Duration: ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse::<f64>().ok())
            .with_context(|| format!("no Init Duration in the cold invoke's log: {log}"))?;
        invoke.push(ms(took));
        init.push(init_ms);
    }
    let mut floor = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        // A clean environment, as environments get (e.g. NODE_EXTRA_CA_CERTS costs node 20 ms).
        let status = std::process::Command::new(&f.floor[0])
            .args(&f.floor[1..])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("{:?} failed", f.floor);
        }
        floor.push(ms(started.elapsed()));
    }
    Ok(Cold {
        runtime: f.key.into(),
        invoke: summarize(&invoke),
        init_duration: summarize(&init),
        floor_label: f.floor_label.clone(),
        floor: summarize(&floor),
    })
}

async fn throughput(
    c: &Client,
    target: &str,
    path: &str,
    clients: usize,
    secs: f64,
) -> Result<Throughput> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let c = c.clone();
        let mut p = c.prepare("POST", path, PAYLOAD.to_vec())?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                p = match c.refresh(&p) {
                    Ok(p) => p,
                    Err(_) => {
                        errors += 1;
                        continue;
                    }
                };
                match invoke_ok(&c, &p).await {
                    Ok(d) => lat.push(ms(d)),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("throughput error: {e:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = summarize(&lat);
    Ok(Throughput {
        target: target.into(),
        clients,
        seconds: elapsed,
        requests: lat.len() as u64,
        errors,
        per_second: lat.len() as f64 / elapsed,
        p99_ms: s.p99_ms,
    })
}

/// Resident memory of idle environments, by runtime, next to the bare interpreter's.
fn density(data_dir: &Path, funcs: &[Function]) -> Result<Vec<Density>> {
    // runtime -> [(runtime process RSS, environment PSS)] in KiB
    let mut by_runtime: std::collections::BTreeMap<&str, Vec<(u64, u64)>> = Default::default();
    for dir in kumo::environment_cgroups(data_dir) {
        let procs = kumo::cgroup_processes(&dir);
        let Some((pid, cmd)) = procs.iter().find(|(_, cmd)| !cmd.contains(" serve ")) else {
            continue;
        };
        let key = if cmd.contains("bootstrap.py") {
            "python"
        } else if cmd.contains("bootstrap.cjs") {
            "node"
        } else if cmd.contains("kumo.Bootstrap") {
            "java"
        } else if cmd.contains("KumoBootstrap.exe") {
            "dotnet"
        } else {
            "go"
        };
        let rss = kumo::rss_kib(*pid).unwrap_or(0);
        let pss: u64 = procs.iter().filter_map(|(p, _)| kumo::pss_kib(*p)).sum();
        by_runtime.entry(key).or_default().push((rss, pss));
    }
    let mut out = Vec::new();
    for f in funcs {
        let Some(samples) = by_runtime.get(f.key) else {
            continue;
        };
        let n = samples.len() as f64;
        out.push(Density {
            runtime: f.key.into(),
            environments: samples.len(),
            runtime_rss_mib: samples.iter().map(|s| s.0).sum::<u64>() as f64 / n / 1024.0,
            env_pss_mib: samples.iter().map(|s| s.1).sum::<u64>() as f64 / n / 1024.0,
            floor_rss_mib: idle_floor_rss(f.key)?,
        });
    }
    Ok(out)
}

/// The bare interpreter, started and left waiting on stdin.
fn idle_floor_rss(key: &str) -> Result<Option<f64>> {
    let argv: &[&str] = match key {
        "python" => &[
            "/usr/bin/python3",
            "-c",
            "import sys; print('ready', flush=True); sys.stdin.read()",
        ],
        "node" => &[
            "/usr/bin/node",
            "-e",
            "console.log('ready'); process.stdin.resume()",
        ],
        _ => return Ok(None),
    };
    let mut child = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let rss = kumo::rss_kib(child.id());
    drop(child.stdin.take());
    child.wait()?;
    Ok(rss.map(|k| k as f64 / 1024.0))
}

async fn scaleout(kc: &Client, envs: usize, round: usize) -> Result<ScaleOut> {
    let name = format!("bench-sleep-{round}");
    let sleep_ms = 1000u64;
    let f = Function::python(
        "sleep",
        b"import time\ndef handler(event, context):\n    time.sleep(event['ms'] / 1000)\n    return 1\n",
    )?;
    create(kc, &name, &f, 128).await?;
    let body = format!("{{\"ms\":{sleep_ms}}}").into_bytes();
    let p = kc.prepare("POST", &invoke_path(&name), body)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..envs {
        let (kc, p) = (kc.clone(), p.clone());
        tasks.push(tokio::spawn(async move { invoke_ok(&kc, &p).await }));
    }
    for t in tasks {
        t.await??;
    }
    let all = ms(started.elapsed());
    let scale = (all - sleep_ms as f64).max(0.001);
    kc.call(
        "DELETE",
        &format!("/2015-03-31/functions/{name}"),
        Vec::new(),
    )
    .await?;
    Ok(ScaleOut {
        environments: envs,
        sleep_ms,
        all_answered_ms: all,
        scale_out_ms: scale,
        sandboxes_per_second: envs as f64 / (scale / 1000.0),
    })
}

async fn control(kc: &Client, n: usize, big_mib: usize) -> Result<Control> {
    let tiny = Function::python("tiny", b"def handler(e, c):\n    return e\n")?;
    let tiny = std::sync::Arc::new(tiny);
    let started = Instant::now();
    let workers = 8;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (kc, tiny) = (kc.clone(), tiny.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                create(&kc, &format!("cp-{i:05}"), &tiny, 128).await?;
                i += workers;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let create_per_second = n as f64 / started.elapsed().as_secs_f64();

    let mut pages = Vec::new();
    let mut seen = 0usize;
    let mut marker: Option<String> = None;
    let started = Instant::now();
    loop {
        let path = match &marker {
            Some(m) => format!("/2015-03-31/functions/?MaxItems=50&Marker={m}"),
            None => "/2015-03-31/functions/?MaxItems=50".to_owned(),
        };
        let p = kc.prepare("GET", &path, Vec::new())?;
        let (status, body, took) = kc.send(&p).await?;
        if status != 200 {
            bail!("ListFunctions: {status} {}", String::from_utf8_lossy(&body));
        }
        pages.push(ms(took));
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        seen += v["Functions"].as_array().map_or(0, Vec::len);
        match v["NextMarker"].as_str() {
            Some(m) if !m.is_empty() => marker = Some(percent_encode(m)),
            _ => break,
        }
    }
    let list_all_ms = ms(started.elapsed());
    if seen < n {
        bail!("ListFunctions returned {seen} functions, expected at least {n}");
    }

    // Incompressible content, stored: the zip is as big as the data.
    let mut data = vec![0u8; big_mib * 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let zip = {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        use std::io::Write;
        w.start_file("app.py", zip::write::SimpleFileOptions::default())?;
        w.write_all(b"def handler(e, c):\n    return e\n")?;
        w.start_file(
            "blob.bin",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )?;
        w.write_all(&data)?;
        w.finish()?;
        out.into_inner()
    };
    let big = Function {
        key: "big",
        runtime: "python3.11",
        handler: "app.handler",
        zip,
        floor: Vec::new(),
        floor_label: String::new(),
    };
    let mut creates = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        create(kc, &format!("big-{i}"), &big, 128).await?;
        creates.push(ms(started.elapsed()));
    }
    Ok(Control {
        functions: seen,
        create_per_second,
        list_all_ms,
        list_page: summarize(&pages),
        big_zip_mib: big.zip.len() as f64 / 1024.0 / 1024.0,
        create_big_zip: summarize(&creates),
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
