//! Network namespaces made ahead of need.
//!
//! A sandboxed environment needs its own network namespace with loopback up, the Runtime API
//! listener bound inside it and, with outbound access, a slirp4netns attached: about 4 ms, most
//! of it slirp4netns starting. The pool keeps a few ready so that a cold start takes one instead
//! of waiting; a background thread makes new ones as they are taken. Every namespace is used by
//! one environment only, and never again.

use kumo_sandbox::{NetNs, Outbound, SandboxError};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where the Runtime API listens inside every environment.
const RUNTIME_API: ([u8; 4], u16) = ([127, 0, 0, 1], 9001);

/// One environment's network: its namespace, the Runtime API listener and the outbound stack.
pub(crate) struct Network {
    pub netns: NetNs,
    pub listener: Option<TcpListener>,
    pub outbound: Option<Outbound>,
}

impl Network {
    fn make(outbound: Option<&str>) -> Result<Self, SandboxError> {
        let (netns, listener) = NetNs::with_listener(Some(RUNTIME_API.into()))?;
        let outbound = outbound
            .map(|program| Outbound::attach(program, &netns))
            .transpose()?;
        Ok(Self {
            netns,
            listener,
            outbound,
        })
    }
}

/// Ready networks for the next cold starts.
pub struct NetworkPool {
    outbound: Option<String>,
    size: usize,
    ready: Mutex<Vec<Network>>,
    refilling: AtomicBool,
    closed: AtomicBool,
}

impl std::fmt::Debug for NetworkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkPool")
            .field("outbound", &self.outbound)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl NetworkPool {
    /// A pool keeping `size` networks ready (0: make each one when it is needed), with
    /// `outbound` (slirp4netns) attached when given. Filling starts at the first [`take`].
    pub fn new(outbound: Option<String>, size: usize) -> Arc<Self> {
        Arc::new(Self {
            outbound,
            size,
            ready: Mutex::new(Vec::new()),
            refilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        })
    }

    pub fn outbound(&self) -> Option<&str> {
        self.outbound.as_deref()
    }

    /// A ready network if there is one, else a new one; either way the pool refills behind.
    /// Blocking: call it off the async runtime.
    pub(crate) fn take(self: &Arc<Self>) -> Result<Network, SandboxError> {
        let ready = self
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        self.refill();
        match ready {
            Some(network) => Ok(network),
            None => Network::make(self.outbound.as_deref()),
        }
    }

    /// Starts filling the pool up to its size on a thread of its own, unless one is at it.
    pub fn refill(self: &Arc<Self>) {
        if self.size == 0
            || self.closed.load(Ordering::Acquire)
            || self.refilling.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("kumo-netpool".into())
            .spawn(move || {
                loop {
                    let missing = !pool.closed.load(Ordering::Acquire)
                        && pool
                            .ready
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .len()
                            < pool.size;
                    if !missing {
                        break;
                    }
                    match Network::make(pool.outbound.as_deref()) {
                        Ok(network) => pool
                            .ready
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(network),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not prepare a network namespace");
                            break;
                        }
                    }
                }
                pool.refilling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.refilling.store(false, Ordering::Release);
        }
    }

    /// Stops refilling and releases the ready networks (their slirp4netns processes end).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}
