//! Privileged tests: real processes in real sandboxes (the suite runs as root, as `kumo serve` does).

use kumo_sandbox::{probe, Bind, Limits, NetNs, Sandbox, Spec, SYSTEM_DIRS};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    _dir: tempfile::TempDir,
    spec: Spec,
}

fn env(id: &str, memory_mb: u64, pids_max: u64) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let task = dir.path().join("task");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&task).expect("task dir");
    std::fs::create_dir_all(&root).expect("root dir");
    std::fs::write(task.join("code.txt"), "function code").expect("code file");
    let mut binds: Vec<Bind> = SYSTEM_DIRS
        .iter()
        .map(Path::new)
        .filter(|p| p.exists())
        .map(|p| Bind {
            source: p.into(),
            target: p.into(),
            writable: false,
        })
        .collect();
    binds.push(Bind {
        source: task,
        target: PathBuf::from("/var/task"),
        writable: false,
    });
    let spec = Spec {
        id: format!("test-{id}-{}", std::process::id()),
        root_dir: root,
        binds,
        limits: Limits {
            memory_bytes: memory_mb * 1024 * 1024,
            cpu_shares: 1024,
            cpu_quota_us: None,
            pids_max,
            nofile: 1024,
            tmp_bytes: 8 * 1024 * 1024,
        },
        uid: 61_234,
        gid: 61_234,
        hostname: "sandbox".into(),
        workdir: PathBuf::from("/var/task"),
        tmp_device: None,
    };
    Env { _dir: dir, spec }
}

fn run(env: &Env, script: &str) -> (Output, Sandbox) {
    let version = probe().expect("this machine supports sandboxes");
    let netns = NetNs::new().expect("netns");
    let sandbox = Sandbox::prepare(&env.spec, Some(&netns), version).expect("prepare");
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sandbox.configure(&mut cmd);
    let out = cmd.output().expect("run sandboxed shell");
    (out, sandbox)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn runs_unprivileged_as_pid_one_in_its_own_root() {
    let e = env("identity", 64, 64);
    let (out, _sb) = run(&e, "echo $(id -u) $$ $(hostname) $(pwd); cat code.txt; echo; ls /; ls /proc | grep -c '^[0-9]'");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("61234 1 sandbox /var/task"));
    assert_eq!(lines.next(), Some("function code"));
    let rest: Vec<&str> = lines.collect();
    assert!(
        !rest.contains(&"root"),
        "host /root must not be visible: {rest:?}"
    );
    assert!(
        !rest.contains(&"home"),
        "host /home must not be visible: {rest:?}"
    );
    // Only the shell and its `ls`/`grep` pipeline are in the PID namespace.
    let procs: usize = rest.last().and_then(|n| n.parse().ok()).unwrap_or(99);
    assert!(procs <= 4, "saw {procs} processes");
}

#[test]
fn code_is_read_only_and_tmp_is_writable_and_capped() {
    let e = env("fs", 64, 64);
    let (out, _sb) = run(
        &e,
        "echo x > /var/task/new 2>/dev/null && echo task-writable; echo y > /tmp/ok && echo tmp-ok; \
         dd if=/dev/zero of=/tmp/big bs=1M count=20 2>/dev/null || echo tmp-full",
    );
    assert_eq!(stdout(&out), "tmp-ok\ntmp-full");
}

#[test]
fn privileged_calls_are_refused() {
    let e = env("privs", 64, 64);
    let (out, _sb) = run(
        &e,
        "mount -t tmpfs none /tmp 2>/dev/null && echo mounted; unshare -n true 2>/dev/null && echo unshared; \
         grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status",
    );
    let text = stdout(&out);
    assert!(
        !text.contains("mounted") && !text.contains("unshared"),
        "{text}"
    );
    assert!(text.contains("CapEff:\t0000000000000000"), "{text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
}

#[test]
fn io_uring_other_socket_families_and_x32_calls_are_refused() {
    let e = env("seccomp", 64, 64);
    // Each line: the call and the errno it ended with (0: it worked).
    let script = r#"exec python3 -S -c '
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(name, nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *args)
    print(name, 0 if rc >= 0 else ctypes.get_errno())
params = ctypes.create_string_buffer(120)
call("io_uring_setup", 425, 4, params)
call("io_uring_enter", 426, 0, 0, 0, 0, None, 0)
call("io_uring_register", 427, 0, 0, None, 0)
call("socket_vsock", 41, socket.AF_VSOCK, socket.SOCK_STREAM, 0)
call("socket_packet", 41, socket.AF_PACKET, socket.SOCK_DGRAM, 0)
pair = (ctypes.c_int * 2)()
call("socketpair_vsock", 53, socket.AF_VSOCK, socket.SOCK_STREAM, 0, pair)
call("x32_getpid", 0x40000000 + 39)
call("x32_mount", 0x40000000 + 165, 0, 0, 0, 0, 0)
call("socket_inet", 41, socket.AF_INET, socket.SOCK_STREAM, 0)
call("socket_inet6", 41, socket.AF_INET6, socket.SOCK_DGRAM, 0)
call("socket_netlink", 41, socket.AF_NETLINK, socket.SOCK_RAW, 0)
call("socketpair_unix", 53, socket.AF_UNIX, socket.SOCK_STREAM, 0, pair)
call("getpid", 39)
'"#;
    let (out, _sb) = run(&e, script);
    let text = stdout(&out);
    let (eperm, eafnosupport) = (libc::EPERM, libc::EAFNOSUPPORT);
    let expected = format!(
        "io_uring_setup {eperm}\nio_uring_enter {eperm}\nio_uring_register {eperm}\n\
         socket_vsock {eafnosupport}\nsocket_packet {eafnosupport}\nsocketpair_vsock {eafnosupport}\n\
         x32_getpid {eperm}\nx32_mount {eperm}\n\
         socket_inet 0\nsocket_inet6 0\nsocket_netlink 0\nsocketpair_unix 0\ngetpid 0"
    );
    assert_eq!(text, expected, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn network_has_only_loopback() {
    let e = env("net", 64, 64);
    let (out, _sb) = run(
        &e,
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
    );
    assert_eq!(stdout(&out), "lo");
}

#[test]
fn memory_limit_kills_and_is_reported() {
    let e = env("oom", 32, 64);
    let (out, sb) = run(
        &e,
        "python3 -S -c 'x = b\"x\" * (200 * 1024 * 1024)'; echo survived",
    );
    assert!(
        !stdout(&out).contains("survived") || sb.cgroups.oom_killed(),
        "memory limit was not enforced"
    );
    assert!(sb.cgroups.oom_killed(), "the OOM kill must be visible");
    assert!(
        sb.cgroups.peak_memory() >= 16 * 1024 * 1024,
        "peak {}",
        sb.cgroups.peak_memory()
    );
}

#[test]
fn fork_bomb_is_contained_by_the_pids_limit() {
    let e = env("pids", 64, 16);
    // A fork loop: every child sleeps; the parent counts how many forks succeeded. When the
    // namespace's PID 1 exits, the kernel kills the rest.
    let script = "exec python3 -S -c 'import os, time\nn = 0\nfor _ in range(40):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n    n += 1\nprint(n)'";
    let (out, _sb) = run(&e, script);
    let started: usize = stdout(&out)
        .lines()
        .last()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(99);
    assert!(
        started < 16,
        "{started} processes started despite pids.max = 16"
    );
}

#[test]
fn outbound_network_has_a_route_but_not_to_host_loopback() {
    use std::io::Write as _;
    let e = env("outbound", 64, 64);
    let version = probe().expect("sandbox support");
    let netns = NetNs::new().expect("netns");
    let _net = kumo_sandbox::Outbound::attach("slirp4netns", &netns).expect("slirp4netns attaches");
    // A host service on loopback that the sandbox must not reach through the gateway.
    let host = std::net::TcpListener::bind("127.0.0.1:0").expect("host listener");
    let port = host.local_addr().expect("addr").port();
    let sandbox = Sandbox::prepare(&e.spec, Some(&netns), version).expect("prepare");
    let script = format!(
        "exec python3 -S -c 'import socket\nprint(open(\"/proc/net/route\").read().count(\"tap0\") > 0)\ns = socket.socket()\ns.settimeout(3)\ntry:\n    s.connect((\"10.0.2.2\", {port}))\n    print(\"reached host\")\nexcept OSError:\n    print(\"refused\")'"
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sandbox.configure(&mut cmd);
    let out = cmd.output().expect("run");
    let _ = std::io::stderr().write_all(&out.stderr);
    assert_eq!(stdout(&out), "True\nrefused");
}

/// Runs `script` (Python) in a sandbox whose namespace has the outbound filter and slirp4netns.
fn run_filtered(id: &str, allow: &[&str], script: &str) -> String {
    use std::io::Write as _;
    let e = env(id, 64, 64);
    let version = probe().expect("sandbox support");
    let netns = NetNs::new().expect("netns");
    let allow = allow
        .iter()
        .map(|a| a.parse().expect("allow rule"))
        .collect();
    let firewall = kumo_sandbox::Firewall::new(allow).expect("nft is installed");
    firewall.install(&netns).expect("ruleset loads");
    let _net = kumo_sandbox::Outbound::attach("slirp4netns", &netns).expect("slirp4netns attaches");
    let sandbox = Sandbox::prepare(&e.spec, Some(&netns), version).expect("prepare");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-S", "-c", script])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sandbox.configure(&mut cmd);
    let out = cmd.output().expect("run");
    let _ = std::io::stderr().write_all(&out.stderr);
    stdout(&out)
}

/// Python that connects to each `(host, port)` and prints one word per target: `reached`,
/// `refused` (ECONNREFUSED within 2 s) or what else happened.
fn connect_script(targets: &[(String, u16)]) -> String {
    let list = targets
        .iter()
        .map(|(h, p)| format!("({h:?}, {p})"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "import socket, time, errno\nfor t in [{list}]:\n    s = socket.socket(socket.AF_INET6 if ':' in t[0] else socket.AF_INET)\n    s.settimeout(5)\n    start = time.monotonic()\n    try:\n        s.connect(t)\n        print('reached')\n    except ConnectionRefusedError:\n        print('refused' if time.monotonic() - start < 2 else 'slow-refusal')\n    except OSError as e:\n        print(errno.errorcode.get(e.errno, str(e)))\n"
    )
}

#[test]
fn outbound_filter_refuses_metadata_and_host_addresses_but_honours_the_allow_list() {
    // A host service listening on every interface.
    let host = std::net::TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = host.local_addr().expect("addr").port();
    let own: Vec<String> = kumo_sandbox::host_addresses()
        .expect("host addresses")
        .into_iter()
        .filter(|a| a.is_ipv4() && !a.is_loopback())
        .map(|a| a.to_string())
        .collect();
    let mut targets = vec![("169.254.169.254".to_owned(), 80)];
    targets.extend(own.iter().map(|a| (a.clone(), port)));
    let script = connect_script(&targets);
    let refused = run_filtered("filter", &[], &script);
    assert_eq!(
        refused,
        vec!["refused"; targets.len()].join("\n"),
        "targets {targets:?}"
    );
    if let Some(first) = own.first() {
        // Allowed: the same host address and port are reached.
        let allowed = run_filtered(
            "filter-allow",
            &[&format!("{first}/32:{port}")],
            &connect_script(&[(first.clone(), port)]),
        );
        assert_eq!(allowed, "reached");
    }
}

#[test]
fn function_cannot_remove_the_outbound_filter() {
    let script = format!(
        "import subprocess\nr = subprocess.run(['/usr/sbin/nft', 'flush', 'ruleset'], capture_output=True)\nprint('flushed' if r.returncode == 0 else 'denied')\n{}",
        connect_script(&[("169.254.169.254".to_owned(), 80)])
    );
    assert_eq!(
        run_filtered("filter-flush", &[], &script),
        "denied\nrefused"
    );
}

#[test]
fn tmp_disk_is_the_environments_own_capped_ext4() {
    let mut e = env("tmpdisk", 32, 64);
    let images = tempfile::tempdir().expect("image dir");
    let disk = kumo_sandbox::TmpDisk::create(images.path(), 48 * 1024 * 1024).expect("tmp disk");
    // The image has no name left on the host: only the device holds it.
    assert_eq!(std::fs::read_dir(images.path()).expect("list").count(), 0);
    e.spec.tmp_device = Some(disk.device().to_owned());
    // 40 MB through a 32 MB memory limit: disk, not memory; then past the 48 MB cap.
    let (out, sb) = run(
        &e,
        "stat -f -c %T /tmp; stat -c '%u %a' /tmp; ls -A /tmp; \
         dd if=/dev/zero of=/tmp/a bs=1M count=40 2>/dev/null && sync && rm /tmp/a && echo wrote; \
         dd if=/dev/zero of=/tmp/b bs=1M count=49 2>/dev/null || echo tmp-full",
    );
    assert_eq!(stdout(&out), "ext2/ext3\n61234 1777\nwrote\ntmp-full");
    assert!(!sb.cgroups.oom_killed());
}

#[test]
fn frozen_environment_makes_no_progress_and_dies_when_killed() {
    let e = env("freeze", 64, 64);
    let version = probe().expect("sandbox support");
    let netns = NetNs::new().expect("netns");
    let sandbox = Sandbox::prepare(&e.spec, Some(&netns), version).expect("prepare");
    if !sandbox.cgroups.can_freeze() {
        eprintln!("no cgroup freezer on this machine; skipped");
        return;
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; done"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    sandbox.configure(&mut cmd);
    let mut child = cmd.spawn().expect("spawn");
    let inner = wait_for(|| {
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
    });
    // The shell truncates the file before each write: frozen between the two, it stays empty
    // (read as 0), which is standing still too.
    let counter = || {
        std::fs::read_to_string(format!("/proc/{inner}/root/tmp/n"))
            .ok()
            .map(|s| s.trim().parse::<u64>().unwrap_or(0))
    };
    wait_for(counter);
    sandbox.cgroups.freeze().expect("freeze");
    // The freeze completes asynchronously: wait until the counter stands still.
    let frozen_at = wait_for(|| {
        let a = counter()?;
        std::thread::sleep(std::time::Duration::from_millis(100));
        (counter()? == a).then_some(a)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(counter(), Some(frozen_at), "a frozen environment ran");
    sandbox.cgroups.thaw().expect("thaw");
    wait_for(|| counter().filter(|n| *n > frozen_at));
    sandbox.cgroups.freeze().expect("freeze again");
    sandbox.cgroups.kill_all();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a killed frozen environment did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Polls `f` for up to 10 s.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
