//! Accepting an `Event` invocation: the event is stored in the [`kumo_store::EventQueue`] (a
//! committed transaction) before the caller is told it was accepted, so nothing accepted is lost.

use crate::clock::now_ms;
use crate::context::Events;
use kumo_store::{NewEvent, StoreError};
use kumo_types::FunctionName;
use tracing::debug;

/// Largest payload of an `Event` invocation (Lambda: 1 MB).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// Largest payload of the deprecated `InvokeAsync` operation.
pub const MAX_INVOKE_ASYNC_PAYLOAD: usize = 256 * 1024;

/// An event that was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("{size} byte payload is too large for the Event invocation type (limit {MAX_ASYNC_PAYLOAD} bytes)")]
    TooLarge { size: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One event to accept.
pub struct EventRequest {
    pub function: FunctionName,
    /// The ARN the caller used, passed to the runtime.
    pub invoked_arn: String,
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
    pub trace_id: Option<String>,
}

impl Events {
    /// Stores the event and wakes the dispatcher; returns the event's request id once the event
    /// is on disk.
    pub async fn accept(&self, req: EventRequest) -> Result<String, AcceptError> {
        if req.payload.len() > MAX_ASYNC_PAYLOAD {
            return Err(AcceptError::TooLarge {
                size: req.payload.len(),
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        self.queue
            .enqueue(vec![NewEvent {
                id: id.clone(),
                function: req.function.to_string(),
                invoked_arn: req.invoked_arn,
                payload: req.payload,
                client_context: req.client_context,
                trace_id: req.trace_id,
                enqueued_ms: now,
                due_ms: now,
            }])
            .await?;
        self.wake_dispatcher();
        debug!(function = %req.function, request_id = %id, "event queued");
        Ok(id)
    }
}
