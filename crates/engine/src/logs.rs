//! Capture of an environment's stdout and stderr as log lines, within bounds.
//!
//! Both streams share one pipe. A reader task splits it into lines as they come; when an invocation
//! ends, [`LogCapture::drain`] asks the reader to empty the pipe first, so every byte the runtime
//! wrote before posting its response belongs to that invocation.
//!
//! A function may print faster than anything can store it. What is kept is bounded, as Lambda
//! throttles logging ([`CaptureLimits`]): a bucket of `bytes_per_sec` refilled every second per
//! environment, and `invocation_bytes` per invocation; lines count their bytes plus 26, as
//! CloudWatch counts events, so a flood of empty lines is bounded too. What is over the bounds is
//! still read from the pipe (the function never blocks on a full pipe) and thrown away, and the
//! next drain adds one line saying how much was dropped. Lines waiting for a drain never hold more
//! than two seconds' worth of the rate, so an environment's memory does not grow with what its
//! function prints, busy or idle.

use base64::Engine as _;
use kumo_store::LogEvent;
use prometheus_client::metrics::counter::Counter;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// CloudWatch's limit for one event; longer lines are split.
const MAX_LINE: usize = 256 * 1024;

/// What one event costs against the bounds besides its bytes (CloudWatch's event overhead).
pub const EVENT_OVERHEAD: u64 = 26;

/// Reads of the pipe (of `READ_BUF` bytes) before the reader lets other tasks run.
const READS_PER_TURN: usize = 16;

/// Reads of the pipe a drain makes at most: more than a pipe can hold (1 MiB at most), so what
/// was written before the drain is read, while a function writing on never holds the drain up.
const READS_PER_DRAIN: usize = 64;

const READ_BUF: usize = 64 * 1024;

/// Bounds on what one environment's output adds to the log (`[logs]` in `kumo.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// Bytes one invocation may log (lines plus 26 per line).
    pub invocation_bytes: u64,
    /// Bytes per second one environment may log, with bursts up to one second's worth.
    pub bytes_per_sec: u64,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            invocation_bytes: 10 * 1024 * 1024,
            bytes_per_sec: 2 * 1024 * 1024,
        }
    }
}

/// Counters of bytes dropped at the bounds (`kumo_log_dropped_bytes_total`), one function's.
#[derive(Debug, Clone, Default)]
pub struct DropCounters {
    pub rate: Counter,
    pub invocation: Counter,
}

/// The bounds and counters a capture starts with.
#[derive(Debug, Clone, Default)]
pub struct CaptureSetup {
    pub limits: CaptureLimits,
    pub dropped: DropCounters,
}

pub struct LogCapture {
    lines: Arc<Mutex<Vec<LogEvent>>>,
    barrier: mpsc::UnboundedSender<Barrier>,
}

struct Barrier {
    ack: oneshot::Sender<()>,
    /// The invocation ends with this drain: the next one has its own byte bound.
    end_of_invocation: bool,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl LogCapture {
    /// Makes the pipe; returns the capture and the write end for the child's stdout/stderr.
    pub fn start(setup: CaptureSetup) -> io::Result<(Self, OwnedFd)> {
        let (tx, rx) = pipe::pipe()?;
        let write_end = tx.into_blocking_fd()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (barrier, barrier_rx) = mpsc::unbounded_channel();
        let splitter = Splitter::new(Arc::clone(&lines), setup);
        tokio::spawn(read_loop(rx, splitter, barrier_rx));
        Ok((Self { lines, barrier }, write_end))
    }

    /// Everything written so far, complete lines and any unterminated last line, with a line
    /// saying how much was dropped when output was over the bounds. `end_of_invocation` starts the
    /// next invocation's byte count.
    pub async fn drain(&self, end_of_invocation: bool) -> Vec<LogEvent> {
        let (ack, done) = oneshot::channel();
        if self
            .barrier
            .send(Barrier {
                ack,
                end_of_invocation,
            })
            .is_ok()
        {
            let _ = done.await;
        }
        std::mem::take(
            &mut *self
                .lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Why bytes were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Rate,
    Invocation,
}

struct Splitter {
    partial: Vec<u8>,
    /// The rest of the current line is dropped (its start was).
    skipping: Option<Over>,
    lines: Arc<Mutex<Vec<LogEvent>>>,
    /// Timestamp of the bytes being split (one clock read per read of the pipe).
    now: i64,
    limits: CaptureLimits,
    /// The rate bucket, in bytes; may go below zero by one line.
    tokens: i64,
    refilled_ms: i64,
    /// Bytes kept in this invocation.
    invocation: u64,
    /// Bytes kept since the last drain.
    pending: u64,
    dropped_rate: u64,
    dropped_invocation: u64,
    counters: DropCounters,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Splitter {
    fn new(lines: Arc<Mutex<Vec<LogEvent>>>, setup: CaptureSetup) -> Self {
        let now = now_ms();
        Self {
            partial: Vec::new(),
            skipping: None,
            lines,
            now,
            limits: setup.limits,
            tokens: to_i64(setup.limits.bytes_per_sec),
            refilled_ms: now,
            invocation: 0,
            pending: 0,
            dropped_rate: 0,
            dropped_invocation: 0,
            counters: setup.dropped,
        }
    }

    /// Refills the bucket for the time since the last refill; one clock read per read of the pipe.
    fn tick(&mut self) {
        self.now = now_ms();
        let elapsed = self.now.saturating_sub(self.refilled_ms);
        if elapsed > 0 {
            let rate = to_i64(self.limits.bytes_per_sec);
            let add = rate.saturating_mul(elapsed) / 1000;
            if add > 0 {
                self.tokens = self.tokens.saturating_add(add).min(rate);
                self.refilled_ms = self.now;
            }
        }
    }

    /// Whether nothing more may be kept now, and why.
    fn blocked(&self) -> Option<Over> {
        if self.invocation >= self.limits.invocation_bytes {
            Some(Over::Invocation)
        } else if self.tokens <= 0 || self.pending >= self.limits.bytes_per_sec.saturating_mul(2) {
            Some(Over::Rate)
        } else {
            None
        }
    }

    fn drop_bytes(&mut self, over: Over, n: usize) {
        let n = n as u64;
        match over {
            Over::Rate => self.dropped_rate += n,
            Over::Invocation => self.dropped_invocation += n,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        if let Some(over) = self.skipping {
            match rest.iter().position(|&b| b == b'\n') {
                None => return self.drop_bytes(over, rest.len()),
                Some(pos) => {
                    self.drop_bytes(over, pos + 1);
                    rest = &rest[pos + 1..];
                    self.skipping = None;
                }
            }
        }
        if let Some(over) = self.blocked() {
            // Nothing of this read can be kept: throw it away without splitting it, and the rest
            // of its last line with it.
            self.drop_bytes(over, self.partial.len() + rest.len());
            self.partial.clear();
            if rest.last().is_some_and(|&b| b != b'\n') {
                self.skipping = Some(over);
            }
            return;
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..pos]);
            self.emit();
            rest = &rest[pos + 1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= MAX_LINE {
            let tail = self.partial.split_off(MAX_LINE);
            self.emit();
            self.partial = tail;
        }
    }

    fn emit(&mut self) {
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let cost = line.len() as u64 + EVENT_OVERHEAD;
        if let Some(over) = self.blocked() {
            self.drop_bytes(over, line.len() + 1);
            line.clear();
            self.partial = line;
            return;
        }
        self.tokens = self.tokens.saturating_sub(to_i64(cost));
        self.invocation += cost;
        self.pending += cost;
        let message = String::from_utf8_lossy(&line).into_owned();
        self.push(message);
    }

    fn push(&self, message: String) {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(LogEvent {
                timestamp_ms: self.now,
                message,
            });
    }

    /// At a drain: the unterminated last line, then the truncation marker if bytes were dropped.
    fn flush(&mut self, end_of_invocation: bool) {
        if !self.partial.is_empty() {
            self.emit();
        }
        let (rate, invocation) = (self.dropped_rate, self.dropped_invocation);
        if rate + invocation > 0 {
            self.now = now_ms();
            self.push(truncation_marker(rate, invocation, self.limits));
            self.counters.rate.inc_by(rate);
            self.counters.invocation.inc_by(invocation);
            self.dropped_rate = 0;
            self.dropped_invocation = 0;
        }
        self.pending = 0;
        if end_of_invocation {
            self.invocation = 0;
            // A line cut off at the bound does not go on into the next invocation's log.
            if self.skipping == Some(Over::Invocation) {
                self.skipping = Some(Over::Rate);
            }
        }
    }
}

/// The line that says output was dropped, and why.
pub fn truncation_marker(rate: u64, invocation: u64, limits: CaptureLimits) -> String {
    let mut why = Vec::new();
    if invocation > 0 {
        why.push(format!(
            "{invocation} bytes over the limit of {} bytes per invocation (logs.max_invocation_bytes)",
            limits.invocation_bytes
        ));
    }
    if rate > 0 {
        why.push(format!(
            "{rate} bytes over the rate of {} bytes per second (logs.max_bytes_per_sec)",
            limits.bytes_per_sec
        ));
    }
    format!(
        "KUMO LOG TRUNCATED: {} bytes of function output dropped: {}",
        rate + invocation,
        why.join("; ")
    )
}

enum Read {
    /// The pipe is empty for now.
    Empty,
    /// There may be more to read.
    More,
    /// End of file: every write end is closed.
    Closed,
}

/// Reads what is in the pipe without waiting, at most `reads` times.
fn read_available(
    rx: &pipe::Receiver,
    splitter: &mut Splitter,
    buf: &mut [u8],
    reads: usize,
) -> Read {
    for _ in 0..reads {
        match rx.try_read(buf) {
            Ok(0) => return Read::Closed,
            Ok(n) => {
                splitter.tick();
                splitter.feed(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Read::Empty,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Read::Closed,
        }
    }
    Read::More
}

async fn read_loop(
    rx: pipe::Receiver,
    mut splitter: Splitter,
    mut barrier: mpsc::UnboundedReceiver<Barrier>,
) {
    let mut buf = vec![0u8; READ_BUF];
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            b = barrier.recv() => {
                let Some(b) = b else { break };
                if open {
                    open = !matches!(read_available(&rx, &mut splitter, &mut buf, READS_PER_DRAIN), Read::Closed);
                }
                splitter.flush(b.end_of_invocation);
                let _ = b.ack.send(());
            }
            ready = rx.readable(), if open => {
                if ready.is_err() {
                    open = false;
                    continue;
                }
                match read_available(&rx, &mut splitter, &mut buf, READS_PER_TURN) {
                    Read::Empty => {}
                    Read::More => tokio::task::yield_now().await,
                    Read::Closed => open = false,
                }
            }
        }
    }
}

/// Bytes of log `LogType: Tail` returns.
const TAIL_BYTES: usize = 4096;

/// Adds copies of the last lines of `lines` to `kept` and forgets what `kept` no longer needs to
/// hold the last [`TAIL_BYTES`] of the log.
pub(crate) fn keep_tail(kept: &mut Vec<LogEvent>, lines: &[LogEvent]) {
    let start = tail_start(lines);
    if start == 0 {
        kept.extend_from_slice(lines);
    } else {
        kept.clear();
        kept.extend_from_slice(&lines[start..]);
    }
    let start = tail_start(kept);
    kept.drain(..start);
}

/// The first of the last lines that hold [`TAIL_BYTES`] (with their newlines).
fn tail_start(lines: &[LogEvent]) -> usize {
    let mut bytes = 0;
    for (i, l) in lines.iter().enumerate().rev() {
        bytes += l.message.len() + 1;
        if bytes >= TAIL_BYTES {
            return i;
        }
    }
    0
}

/// Base64 of the last 4 KB of the log (`earlier` then `lines`), cut at a character boundary.
pub(crate) fn tail(earlier: &[LogEvent], lines: &[LogEvent]) -> String {
    let mut text = String::new();
    for l in earlier.iter().chain(lines) {
        text.push_str(&l.message);
        text.push('\n');
    }
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitter(invocation_bytes: u64, bytes_per_sec: u64) -> Splitter {
        Splitter::new(
            Arc::default(),
            CaptureSetup {
                limits: CaptureLimits {
                    invocation_bytes,
                    bytes_per_sec,
                },
                dropped: DropCounters::default(),
            },
        )
    }

    fn taken(s: &Splitter) -> Vec<String> {
        std::mem::take(&mut *s.lines.lock().expect("lock"))
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn splits_lines_and_long_lines() {
        let mut s = splitter(u64::MAX, 1 << 40);
        s.feed(b"one\r\ntwo\nthr");
        s.feed(b"ee");
        s.flush(false);
        assert_eq!(taken(&s), ["one", "two", "three"]);
        s.feed(&vec![b'x'; MAX_LINE + 10]);
        s.flush(true);
        let lines = taken(&s);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1].len(), 10);
    }

    #[test]
    fn empty_lines_cost_their_overhead_and_are_bounded_per_invocation() {
        let mut s = splitter(100 * EVENT_OVERHEAD, 1 << 40);
        s.feed(&[b'\n'; 1000]);
        s.flush(false);
        let lines = taken(&s);
        // 100 events fit; the 900 newlines after them are dropped, and one marker says so.
        assert_eq!(lines.len(), 101, "{:?}", &lines[95..]);
        assert!(lines[100].starts_with("KUMO LOG TRUNCATED: 900 bytes"));
        assert!(lines[100].contains("per invocation"));
        assert_eq!(s.counters.invocation.get(), 900);
        // Still the same invocation: everything goes, and the marker comes once per drain.
        s.feed(b"more\n");
        s.flush(true);
        let lines = taken(&s);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("KUMO LOG TRUNCATED: 5 bytes"));
        // The next invocation has its own bound.
        s.feed(b"next\n");
        s.flush(false);
        assert_eq!(taken(&s), ["next"]);
    }

    #[test]
    fn rate_bound_drops_whole_reads_and_the_rest_of_their_last_line() {
        let mut s = splitter(u64::MAX, 1000);
        s.tick();
        let line = [b'y'; 99];
        let mut burst = Vec::new();
        for _ in 0..30 {
            burst.extend_from_slice(&line);
            burst.push(b'\n');
        }
        s.feed(&burst);
        // 1000 bytes of budget at 125 per line: 8 lines, the last one going into debt.
        let kept = taken(&s).len();
        assert_eq!(kept, 8);
        // Out of budget: a read is thrown away whole, and its unterminated end with it.
        s.feed(b"zzz\nunterminated");
        s.feed(b" end\nnext");
        s.flush(false);
        let lines = taken(&s);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("per second"), "{lines:?}");
        assert_eq!(s.counters.rate.get(), 22 * 100 + 16 + 5 + 4);
    }

    #[test]
    fn marker_names_both_bounds() {
        let m = truncation_marker(3, 4, CaptureLimits::default());
        assert!(m.starts_with("KUMO LOG TRUNCATED: 7 bytes"));
        assert!(m.contains("max_invocation_bytes") && m.contains("max_bytes_per_sec"));
    }

    #[test]
    fn tail_spans_lines_already_passed_on() {
        let ev = |m: &str| LogEvent {
            timestamp_ms: 0,
            message: m.into(),
        };
        let mut kept = Vec::new();
        let first: Vec<LogEvent> = (0..100).map(|i| ev(&format!("{i:099}"))).collect();
        keep_tail(&mut kept, &first);
        // 41 lines of 100 bytes (with the newline) hold the last 4096 bytes; no more are kept.
        assert_eq!(kept.len(), 41);
        keep_tail(&mut kept, &[ev("short")]);
        assert_eq!(kept.len(), 42);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(tail(&kept, &[ev("END")]))
            .expect("base64");
        assert_eq!(decoded.len(), TAIL_BYTES);
        assert!(decoded.ends_with(b"short\nEND\n"));
        assert_eq!(
            tail(&[], &first),
            tail(&first[..50], &first[50..]),
            "where the lines were split does not matter"
        );
    }
}
