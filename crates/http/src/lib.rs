//! Serving an axum [`Router`] over HTTP/1 with bounds that a hostile client cannot get around.
//!
//! Both of Kumo's listeners use this loop: the public HTTP API (`kumo serve`) and each
//! environment's Runtime API (in `kumo-engine`). `axum::serve` keeps every connection it accepts
//! for as long as the client holds it, so a client (or a function's code) that opens thousands of
//! idle connections exhausts the server's file descriptors. [`serve`] bounds that:
//!
//! - **at most [`Limits::max_connections`] open connections**. When a new connection arrives at
//!   the cap, an idle connection (no request in progress) is closed to make room: first one that
//!   never sent a request, then one that did, last one a handler vouched for (see
//!   [`Conn::verdict`]); the longest idle of those. If every connection is in the middle of a
//!   request, the new one waits until one ends;
//! - **header read timeout**: a new connection must send a complete request head within
//!   [`Limits::header_read_timeout`], and so must a kept-alive connection from the first byte of
//!   its next request;
//! - **idle timeout**: a kept-alive connection with no request in progress is closed after
//!   [`Limits::idle_timeout`].
//!
//! A request in progress is never cut: from the moment its head is read until its response body
//! is written, no timeout applies (invocations may run for 15 minutes, `/next` waits as long as
//! there is no work).
//!
//! Each request carries a [`Conn`] extension (the connection's addresses and a slot a handler can
//! fill once per connection) and axum's `ConnectInfo<SocketAddr>`.
//!
//! This is its own crate because the engine (Runtime API) sits below the API crate and the
//! binary (HTTP API); the loop knows nothing of either and depends only on axum and hyper.

mod conn;

pub use conn::Conn;

use axum::Router;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The bounds of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most (at least 1).
    pub max_connections: usize,
    /// Time to receive a complete request head.
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets requests
/// in progress finish (idle connections close at once) and returns when every connection ended.
pub async fn serve<F>(listener: TcpListener, router: Router, limits: Limits, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    let shared = Arc::new(Shared::new(limits));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match make_room(&shared, &permits, &mut shutdown).await {
                Some(p) => p,
                None => break,
            },
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        next_id += 1;
        let conn = Conn::new(remote, local);
        let state = shared.register(next_id, Arc::clone(&conn.verdict));
        tokio::spawn(conn::run(
            stream,
            conn,
            router.clone(),
            state,
            Registration {
                shared: Arc::clone(&shared),
                id: next_id,
                _permit: permit,
            },
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

/// At the cap: closes the longest-idle connection and waits for a free slot. `None` when the
/// server is shutting down.
async fn make_room<F: Future<Output = ()>>(
    shared: &Shared,
    permits: &Arc<Semaphore>,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<OwnedSemaphorePermit> {
    shared.waiting.store(true, Ordering::SeqCst);
    let mut evicted = shared.evict_idlest();
    let permit = loop {
        tokio::select! {
            p = Arc::clone(permits).acquire_owned() => break p.ok(),
            // Every connection was busy: one has just finished a request, close it now.
            () = shared.became_idle.notified(), if !evicted => evicted = shared.evict_idlest(),
            () = shutdown.as_mut() => break None,
        }
    };
    shared.waiting.store(false, Ordering::SeqCst);
    permit
}

async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted | WouldBlock
    ) {
        return;
    }
    // EMFILE/ENFILE: file descriptors are short; others may close some.
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What the accept loop and the connections of one listener share.
struct Shared {
    limits: Limits,
    epoch: Instant,
    conns: Mutex<std::collections::HashMap<u64, Arc<ConnState>>>,
    /// The accept loop waits for a connection to become idle.
    waiting: AtomicBool,
    became_idle: Notify,
}

impl Shared {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            epoch: Instant::now(),
            conns: Mutex::new(std::collections::HashMap::new()),
            waiting: AtomicBool::new(false),
            became_idle: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(
        self: &Arc<Self>,
        id: u64,
        verdict: Arc<tokio::sync::OnceCell<bool>>,
    ) -> Arc<ConnState> {
        let state = Arc::new(ConnState {
            shared: Arc::clone(self),
            verdict,
            busy: AtomicU32::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            head_since: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::clone(&state));
        state
    }

    /// Asks an idle connection to close (never used, then used, then vouched for; the longest
    /// idle of those); false if every connection is busy.
    fn evict_idlest(&self) -> bool {
        let conns = self
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let victim = conns
            .iter()
            .filter(|(_, c)| {
                c.busy.load(Ordering::SeqCst) == 0 && !c.evicting.load(Ordering::SeqCst)
            })
            .min_by_key(|(id, c)| {
                (
                    c.verdict.get() == Some(&true),
                    c.served.load(Ordering::Relaxed) > 0,
                    c.idle_since.load(Ordering::SeqCst),
                    // Of equals, the older connection.
                    **id,
                )
            });
        match victim {
            Some((_, c)) => {
                c.evicting.store(true, Ordering::SeqCst);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's place in its listener: frees the slot when the connection ends.
struct Registration {
    shared: Arc<Shared>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// What the loop knows of one connection; updated by the connection's own task.
struct ConnState {
    shared: Arc<Shared>,
    /// The connection's [`Conn::verdict`].
    verdict: Arc<tokio::sync::OnceCell<bool>>,
    /// Requests in progress (0 or 1 on HTTP/1).
    busy: AtomicU32,
    /// Requests begun on this connection.
    served: AtomicU64,
    /// When the connection last became idle (accepted, or a response finished), in ms.
    idle_since: AtomicU64,
    /// 1 + when the first byte of the next request head arrived, in ms; 0 when none has.
    head_since: AtomicU64,
    evicting: AtomicBool,
    evict: Notify,
}

impl ConnState {
    fn begin(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn end(&self) {
        self.idle_since
            .store(self.shared.now_ms(), Ordering::SeqCst);
        if self.busy.fetch_sub(1, Ordering::SeqCst) == 1
            && self.shared.waiting.load(Ordering::SeqCst)
        {
            self.shared.became_idle.notify_one();
        }
    }

    /// Bytes arrived from the client.
    fn read_some(&self) {
        if self.busy.load(Ordering::Relaxed) == 0 && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since
                .store(self.shared.now_ms() + 1, Ordering::Relaxed);
        }
    }

    /// When the connection must be closed unless something happens first; `None` while a
    /// request is in progress.
    fn deadline(&self) -> Option<Instant> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let limits = &self.shared.limits;
        let head = self.head_since.load(Ordering::Relaxed);
        let (since, allowed) = if head > 0 {
            (head - 1, limits.header_read_timeout)
        } else if self.served.load(Ordering::Relaxed) == 0 {
            // A new connection owes its first request head from the start.
            (
                self.idle_since.load(Ordering::SeqCst),
                limits.header_read_timeout,
            )
        } else {
            (self.idle_since.load(Ordering::SeqCst), limits.idle_timeout)
        };
        Some(self.shared.epoch + Duration::from_millis(since) + allowed)
    }
}

#[cfg(test)]
mod tests;
