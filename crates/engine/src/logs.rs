//! Capture of an environment's stdout and stderr as log lines.
//!
//! Both streams share one pipe. A reader task splits it into lines as they come; when an invocation
//! ends, [`LogCapture::drain`] asks the reader to empty the pipe first, so every byte the runtime
//! wrote before posting its response belongs to that invocation.

use kumo_store::LogEvent;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// CloudWatch's limit for one event; longer lines are split.
const MAX_LINE: usize = 256 * 1024;

pub struct LogCapture {
    lines: Arc<Mutex<Vec<LogEvent>>>,
    barrier: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl LogCapture {
    /// Makes the pipe; returns the capture and the write end for the child's stdout/stderr.
    pub fn start() -> io::Result<(Self, OwnedFd)> {
        let (tx, rx) = pipe::pipe()?;
        let write_end = tx.into_blocking_fd()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (barrier, barrier_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(rx, Arc::clone(&lines), barrier_rx));
        Ok((Self { lines, barrier }, write_end))
    }

    /// Everything written so far, complete lines and any unterminated last line.
    pub async fn drain(&self) -> Vec<LogEvent> {
        let (ack, done) = oneshot::channel();
        if self.barrier.send(ack).is_ok() {
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

struct Splitter {
    partial: Vec<u8>,
    lines: Arc<Mutex<Vec<LogEvent>>>,
}

impl Splitter {
    fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
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
        let message = String::from_utf8_lossy(&line).into_owned();
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(LogEvent {
                timestamp_ms: now_ms(),
                message,
            });
    }

    fn flush(&mut self) {
        if !self.partial.is_empty() {
            self.emit();
        }
    }
}

/// Reads what is in the pipe without waiting; returns false at end of file.
fn read_available(rx: &pipe::Receiver, splitter: &mut Splitter, buf: &mut [u8]) -> bool {
    loop {
        match rx.try_read(buf) {
            Ok(0) => return false,
            Ok(n) => splitter.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

async fn read_loop(
    rx: pipe::Receiver,
    lines: Arc<Mutex<Vec<LogEvent>>>,
    mut barrier: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut splitter = Splitter {
        partial: Vec::new(),
        lines,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            ack = barrier.recv() => {
                let Some(ack) = ack else { break };
                if open {
                    open = read_available(&rx, &mut splitter, &mut buf);
                }
                splitter.flush();
                let _ = ack.send(());
            }
            ready = rx.readable(), if open => {
                open = ready.is_ok() && read_available(&rx, &mut splitter, &mut buf);
                if !open {
                    splitter.flush();
                }
            }
        }
    }
}
