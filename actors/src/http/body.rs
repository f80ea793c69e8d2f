//! Reading an AdmissionReview body within a deadline and a memory budget.
//!
//! In: the request's payload stream, the body deadline, and the [`BodyBudget`] shared by all
//! requests. Out: the body's bytes with the share of the budget they hold, or a
//! [`BodyError`] that maps to 408 (too slow), 413 (too large), 503 (the budget stayed
//! full until the deadline) or 400 (the stream broke). The budget counts bytes actually
//! received, chunk by chunk, so a client trickling a body holds only what it has sent, and
//! is released when the response has been built: the memory of reviews in flight is bounded
//! whatever the number of connections.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bytes of request bodies held at once by default: eight reviews of the largest size.
pub const DEFAULT_BYTES_IN_FLIGHT: usize = 8 * super::webhook::MAX_BODY_BYTES;

/// The bytes of request bodies all requests may hold at once.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    capacity: usize,
    /// How long a client has to send its body.
    pub read_timeout: Duration,
}

impl BodyBudget {
    /// A budget of `capacity` bytes (at least one largest body) and a body deadline.
    pub fn new(capacity: usize, read_timeout: Duration) -> Self {
        let capacity = capacity.clamp(super::webhook::MAX_BODY_BYTES, Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(capacity)),
            capacity,
            read_timeout,
        }
    }

    /// Bytes held by requests now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.bytes.available_permits()
    }
}

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget::new(DEFAULT_BYTES_IN_FLIGHT, super::limits::BODY_READ_TIMEOUT)
    }
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The deadline passed first.
    #[error("the request body did not arrive within {0:?}")]
    TooSlow(Duration),
    /// Larger than the limit.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The budget of bytes in flight stayed full until the deadline.
    #[error("too many admission reviews in flight; try again")]
    Busy,
    /// The stream failed.
    #[error("the request body could not be read: {0}")]
    Broken(String),
}

/// A body and its share of the budget, released when dropped.
#[derive(Debug)]
pub struct HeldBody {
    /// The bytes.
    pub bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

/// Reads the whole payload, at most `max` bytes, before the budget's deadline.
pub async fn read_body(
    mut payload: web::Payload,
    declared: Option<usize>,
    max: usize,
    budget: &BodyBudget,
) -> Result<HeldBody, BodyError> {
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    let deadline = Instant::now() + budget.read_timeout;
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(max));
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => return Err(BodyError::TooSlow(budget.read_timeout)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        // `max` is below the capacity, so the count always fits and can always be granted.
        let wanted = u32::try_from(chunk.len()).map_err(|_| BodyError::TooLarge(max))?;
        let permit =
            tokio::time::timeout_at(deadline, budget.bytes.clone().acquire_many_owned(wanted))
                .await
                .map_err(|_| BodyError::Busy)?
                .map_err(|_| BodyError::Busy)?;
        match held.as_mut() {
            Some(h) => h.merge(permit),
            None => held = Some(permit),
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HeldBody {
        bytes: body.freeze(),
        _held: held,
    })
}
