//! One connection: hyper's HTTP/1 state machine, watched for timeouts, eviction and shutdown.

use crate::{ConnState, Registration};
use axum::body::{Body, Bytes};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OnceCell};

/// The connection a request came on, as a request extension.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The client's address.
    pub remote: SocketAddr,
    /// The server's address of the connection.
    pub local: SocketAddr,
    /// A verdict about the connection that a handler computes once and every later request on
    /// the same connection reuses (the Runtime API: whether the peer is the runtime). At the
    /// cap, connections with a `true` verdict are the last to be closed.
    pub verdict: Arc<OnceCell<bool>>,
}

impl Conn {
    pub(crate) fn new(remote: SocketAddr, local: SocketAddr) -> Self {
        Self {
            remote,
            local,
            verdict: Arc::new(OnceCell::new()),
        }
    }
}

/// Serves one accepted connection until it ends, times out, is evicted or the server stops.
pub(crate) async fn run(
    stream: TcpStream,
    conn: Conn,
    router: Router,
    state: Arc<ConnState>,
    registration: Registration,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        state: Arc::clone(&state),
    });
    let service = Service {
        router,
        state: Arc::clone(&state),
        conn,
    };
    let http = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    let mut http = pin!(http);
    let mut evicted = pin!(state.evict.notified());
    // The listener waits for every clone to be dropped: this one lives as long as the connection.
    let _alive = stop.clone();
    // A dropped sender (the listener's task was aborted) stops the connection too.
    let mut stopped = pin!(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    let mut timer = pin!(tokio::time::sleep_until(far));
    let mut closing = false;
    poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = http.as_mut().poll(cx) {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended");
                }
                return Poll::Ready(());
            }
            if closing {
                break;
            }
            let asked =
                evicted.as_mut().poll(cx).is_ready() || stopped.as_mut().poll(cx).is_ready();
            if !asked {
                break;
            }
            closing = true;
            if state.busy.load(Ordering::SeqCst) == 0 && state.served.load(Ordering::SeqCst) == 0 {
                // Never sent a request: nothing to finish or flush.
                return Poll::Ready(());
            }
            // Finishes the request in progress (or flushes the last response), then closes;
            // hyper needs to be polled again to act on it.
            http.as_mut().graceful_shutdown();
        }
        match state.deadline() {
            None => Poll::Pending,
            Some(deadline) => {
                if tokio::time::Instant::now() >= deadline {
                    return Poll::Ready(());
                }
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(()),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    })
    .await;
    drop(registration);
}

/// The socket, telling the connection's state when request bytes arrive.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, with the connection's extensions and a marker that the connection is busy from
/// the request head until the end of the response body.
#[derive(Clone)]
struct Service {
    router: Router,
    state: Arc<ConnState>,
    conn: Conn,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = hyper::Response<BusyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        self.state.begin();
        let busy = Busy(Arc::clone(&self.state));
        req.extensions_mut().insert(self.conn.clone());
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(self.conn.remote));
        let mut router = self.router.clone();
        let response = tower_service::Service::call(&mut router, req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| BusyBody { body, _busy: busy }))
        })
    }
}

/// Marks the connection busy while alive.
struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its connection marked busy until hyper is done with it.
struct BusyBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
