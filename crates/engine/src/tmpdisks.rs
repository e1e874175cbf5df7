//! Disk-backed `/tmp`s made ahead of need.
//!
//! Each sandboxed environment gets its own ext4 on a loop device as `/tmp` (see
//! [`kumo_sandbox::TmpDisk`]): it does not count against the function's memory, and is capped at
//! its `EphemeralStorage`. Making one costs a few milliseconds (copying a formatted template,
//! reserving the space, attaching; the first of a size also runs `mkfs`, ~50 ms), so, like the
//! network pool, this keeps a few of the default size (512 MB) ready for the next cold starts and
//! makes new ones on a background thread as they are taken (see `stock.rs`). Other sizes are
//! made when needed. Every disk is used by one environment only, and never again.

use crate::stock::Stock;
use kumo_sandbox::{SandboxError, TmpDisk};
use std::path::PathBuf;
use std::sync::Arc;

/// Lambda's default `EphemeralStorage`: the size kept ready.
pub const DEFAULT_BYTES: u64 = 512 * 1024 * 1024;

/// Ready `/tmp` disks for the next cold starts.
#[derive(Debug)]
pub struct TmpDiskPool {
    /// Where the (immediately unlinked) image files are made.
    dir: PathBuf,
    stock: Arc<Stock<TmpDisk>>,
}

impl TmpDiskPool {
    /// A pool keeping `size` disks of [`DEFAULT_BYTES`] ready (0: make each one when needed),
    /// with image files in `dir`. Filling starts at the first [`TmpDiskPool::take`] or
    /// [`TmpDiskPool::refill`].
    pub fn new(dir: PathBuf, size: usize) -> Arc<Self> {
        let images = dir.clone();
        let stock = Stock::new(size, "kumo-tmppool", "/tmp disk", move || {
            TmpDisk::create(&images, DEFAULT_BYTES)
        });
        Arc::new(Self { dir, stock })
    }

    /// A disk of `bytes`: a ready one if there is one of that size, else a new one. Blocking:
    /// call it off the async runtime.
    pub(crate) fn take(self: &Arc<Self>, bytes: u64) -> Result<TmpDisk, SandboxError> {
        if bytes == DEFAULT_BYTES {
            let ready = self.stock.ready().pop();
            self.stock.refill();
            if let Some(disk) = ready {
                return Ok(disk);
            }
        }
        TmpDisk::create(&self.dir, bytes)
    }

    /// Starts filling the pool up to its size on a thread of its own, unless one is at it.
    pub fn refill(self: &Arc<Self>) {
        self.stock.refill();
    }

    /// Stops refilling and releases the ready disks (the kernel detaches them).
    pub fn close(&self) {
        self.stock.close();
    }
}
