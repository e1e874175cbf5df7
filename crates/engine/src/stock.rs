//! A few items made ahead of need (network namespaces, `/tmp` disks): taking one is instant, and
//! a background thread makes new ones as they are taken, off the cold-start path. Every item is
//! used once and never returned.

use kumo_sandbox::SandboxError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

type Make<T> = Box<dyn Fn() -> Result<T, SandboxError> + Send + Sync>;

/// Up to `size` ready items, and how to make another.
pub(crate) struct Stock<T> {
    size: usize,
    ready: Mutex<Vec<T>>,
    refilling: AtomicBool,
    closed: AtomicBool,
    /// Name of the refill thread, and what an item is (for its warnings).
    thread: &'static str,
    what: &'static str,
    make: Make<T>,
}

impl<T> std::fmt::Debug for Stock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stock")
            .field("what", &self.what)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Stock<T> {
    /// A stock of `size` items (0: each one is made when needed). Filling starts at the first
    /// [`Stock::refill`].
    pub(crate) fn new(
        size: usize,
        thread: &'static str,
        what: &'static str,
        make: impl Fn() -> Result<T, SandboxError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            size,
            ready: Mutex::new(Vec::new()),
            refilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            thread,
            what,
            make: Box::new(make),
        })
    }

    /// The ready items, for a caller that must look at them (or drop stale ones).
    pub(crate) fn ready(&self) -> MutexGuard<'_, Vec<T>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new item, made now. Blocking.
    pub(crate) fn make(&self) -> Result<T, SandboxError> {
        (self.make)()
    }

    /// Starts filling up to the size on a thread of its own, unless one is at it.
    pub(crate) fn refill(self: &Arc<Self>) {
        if self.size == 0
            || self.closed.load(Ordering::Acquire)
            || self.refilling.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let stock = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(self.thread.into())
            .spawn(move || {
                while !stock.closed.load(Ordering::Acquire) && stock.ready().len() < stock.size {
                    match stock.make() {
                        Ok(item) => stock.ready().push(item),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not prepare a {}", stock.what);
                            break;
                        }
                    }
                }
                stock.refilling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.refilling.store(false, Ordering::Release);
        }
    }

    /// Stops refilling and releases the ready items.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ready().clear();
    }
}
