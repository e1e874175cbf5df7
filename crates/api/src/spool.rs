//! Where request bodies wait while their signature is not yet verified.
//!
//! A SigV4 signature covers the SHA-256 of the body, so when the caller did not sign an
//! `x-amz-content-sha256` header the whole body must be read before the signature can be checked.
//! The access key id travels in clear in every `Authorization` header, so anyone who saw one
//! request can send a body of the largest allowed size with a made-up signature. Holding such
//! bodies in memory let a few concurrent requests take the server's memory.
//!
//! A [`Spool`] hashes a body while it streams in and keeps it:
//! - in memory when it is small (up to [`SpoolLimits::memory_per_body`]) and the server-wide
//!   budget for unverified bodies in memory ([`SpoolLimits::memory_total`]) has room;
//! - otherwise in an unlinked temporary file in the data directory, with at most
//!   [`SpoolLimits::files_at_once`] such bodies being received at once; a body that cannot get a
//!   place within [`SpoolLimits::wait`] is refused (429, which SDKs retry).
//!
//! Only after the signature verifies does the caller turn the [`Spooled`] body into bytes for the
//! handler, so memory taken by unverified bodies stays bounded whatever clients send.

use axum::body::{Body, Bytes, HttpBody};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds on bodies waiting for their signature.
#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    /// Bytes of unverified bodies held in memory across all requests.
    pub memory_total: usize,
    /// The largest unverified body kept in memory; larger ones go to a file.
    pub memory_per_body: usize,
    /// Unverified bodies being written to files at once.
    pub files_at_once: usize,
    /// How long a body waits for a file place before it is refused.
    pub wait: Duration,
    /// After `grace`, an unverified body must keep arriving at `min_rate` bytes per second on
    /// average, so that a trickle cannot hold a place in the spool for hours.
    pub grace: Duration,
    pub min_rate: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        Self {
            memory_total: 32 << 20,
            memory_per_body: 1 << 20,
            files_at_once: 4,
            wait: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            min_rate: 64 * 1024,
        }
    }
}

/// Memory budget accounting is in KiB so that the semaphore's permit count stays small.
const UNIT: usize = 1024;

/// A spool for unverified bodies. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: Arc<PathBuf>,
    limits: SpoolLimits,
    memory: Arc<Semaphore>,
    files: Arc<Semaphore>,
}

/// Why a body could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("too many unverified request bodies are being received at once")]
    Busy,
    #[error("request body arrived slower than {0} bytes per second")]
    TooSlow(u64),
    #[error("reading the request body failed: {0}")]
    Body(String),
    #[error("spool file in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

enum Data {
    Memory(Vec<u8>, Option<OwnedSemaphorePermit>),
    File(tokio::fs::File, OwnedSemaphorePermit),
}

/// A body received in full, with its SHA-256, not yet handed to anyone.
pub struct Spooled {
    sha256_hex: String,
    len: usize,
    data: Data,
    dir: Arc<PathBuf>,
}

impl Spool {
    /// A spool whose files go to `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, limits: SpoolLimits) -> Self {
        let units = (limits.memory_total / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            dir: Arc::new(dir.into()),
            limits,
            memory: Arc::new(Semaphore::new(units)),
            files: Arc::new(Semaphore::new(limits.files_at_once.max(1))),
        }
    }

    /// Reads `body` (at most `limit` bytes) while hashing it. `declared` is the Content-Length,
    /// if any (else the body's own size hint): bodies that announce a large size go straight to
    /// a file, empty ones take nothing.
    pub async fn take(
        &self,
        mut body: Body,
        declared: Option<u64>,
        limit: usize,
    ) -> Result<Spooled, SpoolError> {
        let declared = declared.or(body.size_hint().exact());
        if declared == Some(0) {
            return Ok(Spooled {
                sha256_hex: format!("{:x}", Sha256::digest(b"")),
                len: 0,
                data: Data::Memory(Vec::new(), None),
                dir: Arc::clone(&self.dir),
            });
        }
        let want = declared
            .map_or(self.limits.memory_per_body, |d| {
                usize::try_from(d).unwrap_or(usize::MAX)
            })
            .min(self.limits.memory_per_body);
        let units = u32::try_from(want.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        let mut memory = Arc::clone(&self.memory).try_acquire_many_owned(units).ok();
        let in_memory_max = if memory.is_some() { want } else { 0 };
        let mut hasher = Sha256::new();
        let mut len = 0usize;
        let mut buf: Vec<u8> = Vec::new();
        let mut file: Option<(tokio::fs::File, OwnedSemaphorePermit)> = None;
        // The rate is measured from the start, or from when the body got its file place (time
        // spent waiting for one is not the client's fault).
        let (mut since, mut since_len) = (tokio::time::Instant::now(), 0usize);
        let rate = self.limits.min_rate.max(1);
        loop {
            let due = u64::try_from(len - since_len).unwrap_or(u64::MAX) / rate;
            let deadline = since + self.limits.grace + Duration::from_secs(due);
            let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
            let Some(frame) = tokio::time::timeout_at(deadline, next)
                .await
                .map_err(|_| SpoolError::TooSlow(rate))?
            else {
                break;
            };
            let frame = frame.map_err(|e| SpoolError::Body(e.to_string()))?;
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            len += chunk.len();
            if len > limit {
                return Err(SpoolError::TooLarge(limit));
            }
            hasher.update(&chunk);
            match &mut file {
                Some((f, _)) => f.write_all(&chunk).await.map_err(|e| self.io(e))?,
                None if len <= in_memory_max => buf.extend_from_slice(&chunk),
                None => {
                    let mut f = self.open_file().await?;
                    (since, since_len) = (tokio::time::Instant::now(), len);
                    f.0.write_all(&buf).await.map_err(|e| self.io(e))?;
                    f.0.write_all(&chunk).await.map_err(|e| self.io(e))?;
                    buf = Vec::new();
                    memory = None;
                    file = Some(f);
                }
            }
        }
        let data = match file {
            Some((mut f, permit)) => {
                f.flush().await.map_err(|e| self.io(e))?;
                Data::File(f, permit)
            }
            None => Data::Memory(buf, memory),
        };
        Ok(Spooled {
            sha256_hex: format!("{:x}", hasher.finalize()),
            len,
            data,
            dir: Arc::clone(&self.dir),
        })
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.dir.as_ref().clone(),
            source,
        }
    }

    /// A file place (waiting up to the limit), and an unlinked file in the spool directory.
    async fn open_file(&self) -> Result<(tokio::fs::File, OwnedSemaphorePermit), SpoolError> {
        let permit =
            tokio::time::timeout(self.limits.wait, Arc::clone(&self.files).acquire_owned())
                .await
                .map_err(|_| SpoolError::Busy)?
                .map_err(|_| SpoolError::Busy)?;
        let dir = Arc::clone(&self.dir);
        let file = tokio::task::spawn_blocking(move || unlinked_file(&dir))
            .await
            .map_err(|e| self.io(std::io::Error::other(e)))?
            .map_err(|e| self.io(e))?;
        Ok((tokio::fs::File::from_std(file), permit))
    }
}

/// A new file only this process can reach: created 0600, then its name removed at once, so that
/// nothing is left behind whatever happens to the request or the process.
fn unlinked_file(dir: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(format!("body-{}", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

impl Spooled {
    /// The body's SHA-256, lowercase hex, as SigV4 uses it.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// The body, for a request whose signature verified.
    pub async fn into_bytes(self) -> Result<Bytes, SpoolError> {
        match self.data {
            Data::Memory(buf, _permit) => Ok(Bytes::from(buf)),
            Data::File(mut f, _permit) => {
                let io = |source| SpoolError::Io {
                    dir: self.dir.as_ref().clone(),
                    source,
                };
                f.seek(std::io::SeekFrom::Start(0)).await.map_err(io)?;
                let mut buf = Vec::with_capacity(self.len);
                f.read_to_end(&mut buf).await.map_err(io)?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(dir: &Path, limits: SpoolLimits) -> Spool {
        Spool::new(dir.join("spool"), limits)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kumo-spool-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[tokio::test]
    async fn small_bodies_stay_in_memory_and_hash_like_sha256() {
        let dir = scratch("small");
        let s = spool(&dir, SpoolLimits::default());
        let got = s
            .take(Body::from("{}"), Some(2), 100)
            .await
            .expect("spooled");
        assert_eq!(
            got.sha256_hex(),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(matches!(got.data, Data::Memory(..)));
        assert_eq!(got.into_bytes().await.expect("bytes"), Bytes::from("{}"));
    }

    #[tokio::test]
    async fn large_bodies_go_to_an_unlinked_file_and_come_back_whole() {
        let dir = scratch("large");
        let limits = SpoolLimits {
            memory_per_body: 1024,
            ..SpoolLimits::default()
        };
        let s = spool(&dir, limits);
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        // No Content-Length: starts in memory, spills when it outgrows the reservation.
        let got = s
            .take(Body::from(body.clone()), None, 10_000)
            .await
            .expect("spooled");
        assert!(matches!(got.data, Data::File(..)));
        assert_eq!(got.sha256_hex(), format!("{:x}", Sha256::digest(&body)));
        let names: Vec<_> = std::fs::read_dir(dir.join("spool"))
            .expect("spool dir")
            .collect();
        assert!(names.is_empty(), "spool files are unlinked: {names:?}");
        assert_eq!(got.into_bytes().await.expect("bytes"), Bytes::from(body));
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let dir = scratch("limit");
        let s = spool(&dir, SpoolLimits::default());
        let err = s
            .take(Body::from(vec![0u8; 101]), Some(101), 100)
            .await
            .err()
            .expect("too large");
        assert!(matches!(err, SpoolError::TooLarge(100)), "{err:?}");
    }

    #[tokio::test]
    async fn the_memory_budget_sends_further_bodies_to_files() {
        let dir = scratch("budget");
        let s = spool(
            &dir,
            SpoolLimits {
                memory_total: 2048,
                memory_per_body: 2048,
                ..SpoolLimits::default()
            },
        );
        let first = s
            .take(Body::from(vec![1u8; 2000]), Some(2000), 4096)
            .await
            .expect("first");
        assert!(matches!(first.data, Data::Memory(..)));
        let second = s
            .take(Body::from(vec![2u8; 2000]), Some(2000), 4096)
            .await
            .expect("second");
        assert!(matches!(second.data, Data::File(..)), "budget is taken");
        drop(first);
        let third = s
            .take(Body::from(vec![3u8; 2000]), Some(2000), 4096)
            .await
            .expect("third");
        assert!(matches!(third.data, Data::Memory(..)), "budget came back");
    }

    #[tokio::test]
    async fn empty_bodies_take_no_budget() {
        let dir = scratch("empty");
        let s = spool(
            &dir,
            SpoolLimits {
                memory_total: 1024,
                ..SpoolLimits::default()
            },
        );
        let held = s
            .take(Body::from(vec![0u8; 1000]), Some(1000), 4096)
            .await
            .expect("holds the budget");
        let empty = s.take(Body::empty(), None, 4096).await.expect("empty");
        assert_eq!(
            empty.sha256_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(matches!(empty.data, Data::Memory(_, None)));
        drop(held);
    }

    #[tokio::test]
    async fn a_body_that_finds_no_file_place_in_time_is_refused() {
        let dir = scratch("busy");
        let s = spool(
            &dir,
            SpoolLimits {
                memory_per_body: 16,
                files_at_once: 1,
                wait: Duration::from_millis(50),
                ..SpoolLimits::default()
            },
        );
        let held = s
            .take(Body::from(vec![0u8; 100]), None, 1000)
            .await
            .expect("first");
        let err = s
            .take(Body::from(vec![0u8; 100]), None, 1000)
            .await
            .err()
            .expect("busy");
        assert!(matches!(err, SpoolError::Busy), "{err:?}");
        drop(held);
        assert!(s.take(Body::from(vec![0u8; 100]), None, 1000).await.is_ok());
    }
}
