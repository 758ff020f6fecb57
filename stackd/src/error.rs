//! `StackdError`: why a daemon could not start, or an app could not be
//! given its queues.

use ct_app_interface::sapi::SapiError;
use ct_fifo_segment::MsgQueueError;
use ct_session::SessionError;
use thiserror::Error;

/// What can go wrong in the daemon (app mistakes are answered on the
/// socket, not returned here).
#[derive(Debug, Error)]
pub enum StackdError {
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The stack refused a step.
    #[error("stack: {0}")]
    Session(#[from] SessionError),
    /// A system call failed (eventfd, thread, socket file).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An app socket failed.
    #[error(transparent)]
    Sapi(#[from] SapiError),
    /// An app socket's file could not be made: `what` failed on `path`.
    #[error("app socket {}: {what}: {source}", path.display())]
    Socket {
        /// The socket's path (or its directory's).
        path: std::path::PathBuf,
        /// The step that failed.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A message queue could not be made.
    #[error("message queue: {0}")]
    MsgQueue(#[from] MsgQueueError),
}

impl StackdError {
    /// The code an app gets for this failure in a reply.
    pub(crate) fn code(&self) -> i32 {
        match self {
            StackdError::Session(e) => e.code(),
            StackdError::MsgQueue(_) => SessionError::SegCreate.code(),
            _ => SessionError::Alloc.code(),
        }
    }
}
