//! Starting and stopping the dispatcher and the scheduler.

use crate::context::Events;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running dispatcher and scheduler.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

impl Workers {
    /// Stops claiming events and firing rules. Events still running stay claimed in the store
    /// unless they end before the engine stops; the next start queues them again.
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Starts the dispatcher and the scheduler on the current runtime.
pub fn start(events: Events) -> Workers {
    let (stop, rx) = watch::channel(false);
    let stopping = Arc::clone(&events.stopping);
    let handles = vec![
        tokio::spawn(crate::dispatch::dispatcher(events.clone(), rx.clone())),
        tokio::spawn(crate::scheduler::scheduler(events, rx)),
    ];
    Workers {
        stop,
        handles,
        stopping,
    }
}
