//! Network namespaces made ahead of need.
//!
//! A sandboxed environment needs its own network namespace with loopback up, the Runtime API
//! listener bound inside it and, with outbound access, a slirp4netns attached: about 4 ms, most
//! of it slirp4netns starting. The pool keeps a few ready so that a cold start takes one instead
//! of waiting; a background thread makes new ones as they are taken (see `stock.rs`). Every
//! namespace is used by one environment only, and never again.
//!
//! With outbound access, each namespace also gets the outbound filter ([`Firewall`]) while
//! slirp4netns starts (the two run side by side; the namespace is handed out only once both are
//! done). The filter refuses the host's own addresses as they were when the namespace was made:
//! a ready namespace made before the host's addresses changed is discarded at [`NetworkPool::take`].

use crate::stock::Stock;
use kumo_sandbox::{Firewall, NetNs, Outbound, SandboxError};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;

/// Where the Runtime API listens inside every environment.
const RUNTIME_API: ([u8; 4], u16) = ([127, 0, 0, 1], 9001);

/// How environments reach outside hosts: the user-mode network stack and the filter before it.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// `slirp4netns`.
    pub program: String,
    pub firewall: Firewall,
}

/// One environment's network: its namespace, the Runtime API listener and the outbound stack.
pub(crate) struct Network {
    pub netns: NetNs,
    pub listener: Option<TcpListener>,
    pub outbound: Option<Outbound>,
    /// The host addresses the outbound filter lists (outside the ranges it refuses anyway).
    host_addrs: Vec<IpAddr>,
}

impl Network {
    fn make(outbound: Option<&OutboundConfig>) -> Result<Self, SandboxError> {
        let (netns, listener) = NetNs::with_listener(Some(RUNTIME_API.into()))?;
        let (outbound, host_addrs) = match outbound {
            None => (None, Vec::new()),
            Some(cfg) => {
                let filter = cfg.firewall.start(&netns)?;
                let attached = Outbound::attach(&cfg.program, &netns);
                // Waited for even if slirp4netns failed, so that nft is reaped.
                let host_addrs = filter.wait()?;
                (Some(attached?), host_addrs)
            }
        };
        Ok(Self {
            netns,
            listener,
            outbound,
            host_addrs,
        })
    }
}

/// Ready networks for the next cold starts.
pub struct NetworkPool {
    outbound: Option<OutboundConfig>,
    stock: Arc<Stock<Network>>,
}

impl std::fmt::Debug for NetworkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkPool")
            .field("outbound", &self.outbound)
            .field("stock", &self.stock)
            .finish()
    }
}

impl NetworkPool {
    /// A pool keeping `size` networks ready (0: make each one when it is needed), with
    /// `outbound` (slirp4netns and the filter) attached when given. Filling starts at the first
    /// [`take`].
    pub fn new(outbound: Option<OutboundConfig>, size: usize) -> Arc<Self> {
        let config = outbound.clone();
        let stock = Stock::new(size, "kumo-netpool", "network namespace", move || {
            Network::make(config.as_ref())
        });
        Arc::new(Self { outbound, stock })
    }

    pub fn outbound(&self) -> Option<&OutboundConfig> {
        self.outbound.as_ref()
    }

    /// A ready network if there is one, else a new one; either way the pool refills behind.
    /// Ready networks whose filter was made for other host addresses than the current ones are
    /// dropped. Blocking: call it off the async runtime.
    pub(crate) fn take(self: &Arc<Self>) -> Result<Network, SandboxError> {
        let current = match self.outbound {
            Some(_) => Some(kumo_sandbox::refused_host_addresses()?),
            None => None,
        };
        let (ready, stale) = {
            let mut ready = self.stock.ready();
            let mut stale = Vec::new();
            if let Some(current) = &current {
                let (keep, old) = std::mem::take(&mut *ready)
                    .into_iter()
                    .partition(|n: &Network| &n.host_addrs == current);
                *ready = keep;
                stale = old;
            }
            (ready.pop(), stale)
        };
        if !stale.is_empty() {
            tracing::info!(
                discarded = stale.len(),
                "the host's addresses changed: prepared network namespaces made before are discarded"
            );
        }
        drop(stale);
        self.stock.refill();
        match ready {
            Some(network) => Ok(network),
            None => self.stock.make(),
        }
    }

    /// Starts filling the pool up to its size on a thread of its own, unless one is at it.
    pub fn refill(self: &Arc<Self>) {
        self.stock.refill();
    }

    /// Stops refilling and releases the ready networks (their slirp4netns processes end).
    pub fn close(&self) {
        self.stock.close();
    }
}
