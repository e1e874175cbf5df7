use super::*;
use axum::routing::get;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(300);

/// Starts `serve` on a loopback port with a slow route (`/slow`, 1.5 s) and a fast one.
async fn start(max_connections: usize) -> SocketAddr {
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow"
        }),
    );
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = Limits {
        max_connections,
        header_read_timeout: SHORT,
        idle_timeout: SHORT * 2,
    };
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    addr
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn get_on(s: &mut std::net::TcpStream, path: &str) -> String {
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_header_connections_are_closed() {
    let addr = start(16).await;
    tokio::task::spawn_blocking(move || {
        let mut silent = std::net::TcpStream::connect(addr).expect("connect");
        let mut slow = std::net::TcpStream::connect(addr).expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nhost:").expect("write");
        assert!(closed_within(&mut silent, Duration::from_secs(3)));
        assert!(closed_within(&mut slow, Duration::from_secs(3)));
    })
    .await
    .expect("test thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connection_gets_the_idle_timeout_and_requests_are_never_cut() {
    let addr = start(16).await;
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        // The slow request takes longer than both timeouts, and still answers.
        assert!(get_on(&mut s, "/slow").ends_with("slow"));
        // Idle longer than the header timeout but shorter than the idle timeout: still open.
        std::thread::sleep(SHORT + SHORT / 2);
        assert!(get_on(&mut s, "/").ends_with("ok"));
        assert!(closed_within(&mut s, Duration::from_secs(3)));
    })
    .await
    .expect("test thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let addr = start(2).await;
    tokio::task::spawn_blocking(move || {
        let mut first = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut first, "/").ends_with("ok"));
        let mut second = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut second, "/").ends_with("ok"));
        let mut third = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut third, "/").ends_with("ok"));
        assert!(closed_within(&mut first, Duration::from_millis(200)));
        assert!(get_on(&mut second, "/").ends_with("ok"));
    })
    .await
    .expect("test thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_busy_connections_are_kept_and_a_new_one_waits() {
    let addr = start(1).await;
    tokio::task::spawn_blocking(move || {
        let mut busy = std::net::TcpStream::connect(addr).expect("connect");
        write!(busy, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
        std::thread::sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        let mut next = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut next, "/").ends_with("ok"));
        assert!(started.elapsed() >= Duration::from_millis(1000));
        let mut buf = [0u8; 4096];
        let n = busy.read(&mut buf).expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("slow"));
    })
    .await
    .expect("test thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_requests_in_progress_and_closes_idle_connections() {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "slow"
        }),
    );
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = Limits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, limits, async move {
        let _ = stop_rx.await;
    }));
    let client = tokio::task::spawn_blocking(move || {
        let mut idle = std::net::TcpStream::connect(addr).expect("connect");
        let mut busy = std::net::TcpStream::connect(addr).expect("connect");
        write!(busy, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").expect("write");
        std::thread::sleep(Duration::from_millis(200));
        stop_tx.send(()).expect("stop");
        assert!(closed_within(&mut idle, Duration::from_secs(2)));
        let mut buf = [0u8; 4096];
        let n = busy.read(&mut buf).expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("slow"));
    });
    let started = std::time::Instant::now();
    client.await.expect("client");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns once the slow request is answered")
        .expect("serve task");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_silent_connections_go_before_used_ones() {
    let addr = start(2).await;
    tokio::task::spawn_blocking(move || {
        let mut used = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut used, "/").ends_with("ok"));
        std::thread::sleep(Duration::from_millis(20));
        // Newer, but never sent a request: it goes first.
        let mut silent = std::net::TcpStream::connect(addr).expect("connect");
        std::thread::sleep(Duration::from_millis(20));
        let mut third = std::net::TcpStream::connect(addr).expect("connect");
        assert!(get_on(&mut third, "/").ends_with("ok"));
        assert!(closed_within(&mut silent, Duration::from_millis(200)));
        assert!(get_on(&mut used, "/").ends_with("ok"));
    })
    .await
    .expect("test thread");
}
