//! Disjoint uid ranges for the Kumo servers of one host.
//!
//! Environments run as uids `base..base + count`, one per environment at a time. Two servers on
//! one host with the same range would give their environments the same uids, so one tenant's
//! processes could signal, trace or read the files of another server's. Unless `sandbox.uid_base`
//! is configured, each server claims a slot at start: slot `n` is the range
//! `DEFAULT_BASE + n * count ..`, held by an exclusive lock on `/run/kumo/uid-slot-<n>.lock` for
//! as long as the server runs (the kernel drops the lock when the process ends, crash included).

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The first uid of slot 0 (and the start of every automatic range).
pub const DEFAULT_BASE: u32 = 200_000;
/// Where the slot locks live.
pub const LOCK_DIR: &str = "/run/kumo";
/// How many servers may run at once with automatic ranges.
const SLOTS: u32 = 64;

/// A uid range this server uses; the lock (if any) is held while the value lives.
#[derive(Debug)]
pub struct UidRange {
    pub base: u32,
    pub slot: Option<u32>,
    _lock: Option<File>,
}

/// The range for this server: `configured` as it is, or the first free slot of `count` uids.
pub fn claim(configured: Option<u32>, count: u32) -> Result<UidRange> {
    match configured {
        Some(base) => Ok(UidRange {
            base,
            slot: None,
            _lock: None,
        }),
        None => claim_slot(Path::new(LOCK_DIR), count),
    }
}

fn claim_slot(dir: &Path, count: u32) -> Result<UidRange> {
    std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    for slot in 0..SLOTS {
        let Some(base) = slot
            .checked_mul(count)
            .and_then(|off| DEFAULT_BASE.checked_add(off))
            .filter(|base| base.checked_add(count).is_some())
        else {
            break;
        };
        let path: PathBuf = dir.join(format!("uid-slot-{slot}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("while opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                return Ok(UidRange {
                    base,
                    slot: Some(slot),
                    _lock: Some(file),
                })
            }
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("while locking {}", path.display()))
            }
        }
    }
    bail!(
        "no free uid range: {SLOTS} Kumo servers already run on this host (locks in {}); set sandbox.uid_base to give this one its own range",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_get_disjoint_slots_and_a_released_slot_is_reused() {
        let dir = std::env::temp_dir().join(format!("kumo-uids-{}", std::process::id()));
        let a = claim_slot(&dir, 1000).expect("first slot");
        let b = claim_slot(&dir, 1000).expect("second slot");
        assert_eq!((a.base, a.slot), (DEFAULT_BASE, Some(0)));
        assert_eq!((b.base, b.slot), (DEFAULT_BASE + 1000, Some(1)));
        drop(a);
        let c = claim_slot(&dir, 1000).expect("freed slot");
        assert_eq!(c.slot, Some(0));
        drop((b, c));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_configured_base_is_used_as_is() {
        let r = claim(Some(300_000), 10).expect("configured");
        assert_eq!((r.base, r.slot), (300_000, None));
    }
}
