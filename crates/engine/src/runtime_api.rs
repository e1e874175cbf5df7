//! The Runtime API (2018-06-01) endpoint of one environment.
//!
//! Each environment gets its own listener, so a runtime can only ever see and answer the
//! invocations of its own environment. The engine hands an invocation over with
//! [`RuntimeApi::dispatch`]; the runtime takes it with `GET /runtime/invocation/next` and answers
//! with `/response` or `/error`, which completes the oneshot the engine is waiting on.
//!
//! The listener is bounded like the HTTP API's (`kumo_http`): at most [`MAX_CONNECTIONS`] per
//! environment (an idle one makes room for a new one, the runtime's own last), a header-read
//! timeout, and an idle timeout longer than an idle environment lives, so a runtime's kept-alive
//! connection is never cut while its environment waits (or is frozen) between invocations. In
//! the sandbox, `/next` is served only to the runtime, not to a process an earlier invocation
//! left running (see `peer.rs`).

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kumo_types::MAX_RESPONSE_PAYLOAD;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Open Runtime API connections per environment. A runtime uses one or two; the rest is room
/// for a new connection while an old one is still closing.
pub const MAX_CONNECTIONS: usize = 16;
/// Time for a runtime to send a complete request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One invocation on its way to the runtime.
pub struct Pending {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub invoked_arn: String,
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
    pub reply: oneshot::Sender<RuntimeReply>,
    /// Set when the runtime has fetched the invocation with `/next`.
    pub delivered: Arc<std::sync::atomic::AtomicBool>,
}

/// How the runtime answered an invocation.
#[derive(Debug)]
pub enum RuntimeReply {
    Response(Bytes),
    /// An error document and the (normalised) error type header.
    Error {
        body: Bytes,
        error_type: String,
    },
}

/// The phase of the environment as the runtime has shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Initializing,
    /// The runtime asked for its first invocation: init is done.
    Ready,
    /// The runtime reported an init error (body, error type).
    InitFailed(Bytes, String),
}

struct Shared {
    next_rx: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    current: Mutex<Option<(String, oneshot::Sender<RuntimeReply>)>>,
    phase: watch::Sender<Phase>,
    /// Who may take invocations; unset without the sandbox.
    guard: OnceLock<Arc<crate::peer::Guard>>,
}

/// The engine's handle on an environment's Runtime API.
pub struct RuntimeApi {
    next_tx: mpsc::Sender<Pending>,
    pub phase: watch::Receiver<Phase>,
    pub addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Serves the API on `listener` (bound inside the environment's network namespace), or on a
    /// fresh loopback port of the host when the environment shares the host's network.
    /// `env_idle_timeout` is how long an idle environment lives.
    pub async fn start(
        listener: Option<std::net::TcpListener>,
        env_idle_timeout: Duration,
    ) -> std::io::Result<Self> {
        let listener = match listener {
            Some(l) => {
                l.set_nonblocking(true)?;
                tokio::net::TcpListener::from_std(l)?
            }
            None => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
        };
        let addr = listener.local_addr()?;
        let (next_tx, next_rx) = mpsc::channel(1);
        let (phase_tx, phase) = watch::channel(Phase::Initializing);
        let shared = Arc::new(Shared {
            next_rx: tokio::sync::Mutex::new(next_rx),
            current: Mutex::new(None),
            phase: phase_tx,
            guard: OnceLock::new(),
        });
        let guarded = Arc::clone(&shared);
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2018-06-01/ping", get(|| async { "pong" }))
            .fallback(|| async {
                api_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "Unknown Runtime API path",
                )
            })
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared);
        let limits = kumo_http::Limits {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: env_idle_timeout + Duration::from_secs(60),
        };
        let server = tokio::spawn(kumo_http::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        Ok(Self {
            next_tx,
            phase,
            addr,
            server,
            shared: guarded,
        })
    }

    /// From now on `/next` is served only to the runtime: `leader` is the process Kumo spawned,
    /// `procs` the `cgroup.procs` file listing the environment's processes.
    pub(crate) fn guard(&self, leader: u32, procs: std::path::PathBuf) {
        let _ = self
            .shared
            .guard
            .set(Arc::new(crate::peer::Guard::new(leader, procs)));
    }

    /// Queues an invocation for the runtime's next `/next`.
    pub async fn dispatch(&self, pending: Pending) -> bool {
        self.next_tx.send(pending).await.is_ok()
    }
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

/// Whether the peer of `conn` may take invocations (decided once per connection).
async fn admitted(shared: &Shared, conn: Option<Extension<kumo_http::Conn>>) -> bool {
    let Some(guard) = shared.guard.get() else {
        return true;
    };
    let Some(Extension(conn)) = conn else {
        return false;
    };
    *conn
        .verdict
        .get_or_init(|| async {
            let guard = Arc::clone(guard);
            let (remote, local) = (conn.remote, conn.local);
            tokio::task::spawn_blocking(move || guard.admits(remote, local))
                .await
                .unwrap_or(false)
        })
        .await
}

async fn next(
    State(shared): State<Arc<Shared>>,
    conn: Option<Extension<kumo_http::Conn>>,
) -> Response {
    if !admitted(&shared, conn).await {
        return api_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "only the runtime process of this environment may fetch invocations",
        );
    }
    shared.phase.send_if_modified(|p| {
        if *p == Phase::Initializing {
            *p = Phase::Ready;
            true
        } else {
            false
        }
    });
    let pending = {
        let mut rx = shared.next_rx.lock().await;
        rx.recv().await
    };
    let Some(p) = pending else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Shutdown",
            "environment is shutting down",
        );
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", &p.request_id);
    put("lambda-runtime-deadline-ms", &p.deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &p.invoked_arn);
    if let Some(cc) = &p.client_context {
        put("lambda-runtime-client-context", cc);
    }
    if let Some(t) = &p.trace_id {
        put("lambda-runtime-trace-id", t);
    }
    put("content-type", "application/json");
    p.delivered.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(guard) = shared.guard.get() {
        guard.invocation_started();
    }
    *shared
        .current
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((p.request_id, p.reply));
    (StatusCode::OK, headers, Body::from(p.payload)).into_response()
}

/// Takes the reply channel of the current invocation if `id` names it.
fn take_current(shared: &Shared, id: &str) -> Result<oneshot::Sender<RuntimeReply>, Response> {
    let mut current = shared
        .current
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match current.take() {
        Some((cur, reply)) if cur == id => Ok(reply),
        other => {
            *current = other;
            Err(api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "Invalid request ID",
            ))
        }
    }
}

/// The runtime answered the current invocation (and the engine has the answer): what the
/// invocation started and left running is a leftover from now on. Runs before the runtime gets
/// its `202`, so before it can start anything for the next `/next`; after a yield, so the engine
/// answers the client first.
async fn invocation_ended(shared: &Shared) {
    if let Some(guard) = shared.guard.get() {
        tokio::task::yield_now().await;
        guard.invocation_ended();
    }
}

/// Reads a body of at most the response limit. A larger body is still read to its end (and
/// dropped), so the runtime's request completes and its connection stays usable.
async fn read_limited(body: Body) -> Result<Bytes, usize> {
    use axum::body::HttpBody as _;
    let mut body = body;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_RESPONSE_PAYLOAD {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > MAX_RESPONSE_PAYLOAD {
        Err(total)
    } else {
        Ok(Bytes::from(buf))
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let reply = match take_current(&shared, &id) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match read_limited(body).await {
        Ok(bytes) => {
            let _ = reply.send(RuntimeReply::Response(bytes));
            invocation_ended(&shared).await;
            accepted()
        }
        Err(size) => {
            let message = format!(
                "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_PAYLOAD} bytes)."
            );
            let doc = serde_json::json!({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message});
            let _ = reply.send(RuntimeReply::Error {
                body: Bytes::from(doc.to_string()),
                error_type: "Function.ResponseSizeTooLarge".into(),
            });
            invocation_ended(&shared).await;
            api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_PAYLOAD} bytes)."),
            )
        }
    }
}

/// Keeps `Runtime.X`/`Function.X` error types; anything else becomes `Runtime.Unknown`.
pub fn normalize_error_type(raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return "Runtime.Unknown".into();
    };
    let valid = |rest: &str| {
        let mut chars = rest.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_alphabetic())
    };
    match raw.split_once('.') {
        Some(("Runtime" | "Function", rest)) if valid(rest) => raw.to_owned(),
        Some(("Function", _)) => "Function.Unknown".into(),
        _ => "Runtime.Unknown".into(),
    }
}

fn error_type(headers: &HeaderMap) -> String {
    normalize_error_type(
        headers
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok()),
    )
}

/// The error document to forward; built from the header when the body is empty.
fn error_body(bytes: Bytes, headers: &HeaderMap) -> Bytes {
    if !bytes.is_empty() {
        return bytes;
    }
    let t = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown");
    Bytes::from(serde_json::json!({"errorType": t, "errorMessage": ""}).to_string())
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let reply = match take_current(&shared, &id) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let bytes = read_limited(body).await.unwrap_or_default();
    let _ = reply.send(RuntimeReply::Error {
        body: error_body(bytes, &headers),
        error_type: error_type(&headers),
    });
    invocation_ended(&shared).await;
    accepted()
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    if *shared.phase.borrow() != Phase::Initializing {
        return api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init error reported outside the init phase",
        );
    }
    let bytes = read_limited(body).await.unwrap_or_default();
    let _ = shared.phase.send(Phase::InitFailed(
        error_body(bytes, &headers),
        error_type(&headers),
    ));
    accepted()
}

#[cfg(test)]
mod tests {
    use super::normalize_error_type;

    #[test]
    fn error_types_are_normalised() {
        assert_eq!(
            normalize_error_type(Some("Runtime.ImportModuleError")),
            "Runtime.ImportModuleError"
        );
        assert_eq!(normalize_error_type(Some("ValueError")), "Runtime.Unknown");
        assert_eq!(
            normalize_error_type(Some("Function.bad")),
            "Function.Unknown"
        );
        assert_eq!(normalize_error_type(None), "Runtime.Unknown");
    }
}
