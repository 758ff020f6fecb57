//! The app socket (VPP's app socket API): a `SOCK_SEQPACKET` Unix socket
//! per app namespace, one [`SapiMsg`] record per packet, fds beside the
//! record with `SCM_RIGHTS`, the peer identified by `SO_PEERCRED`.
//!
//! [`SapiListener`] is the stack's end (bind a path, accept apps),
//! [`SapiSocket`] a connection (either side). Receiving checks everything
//! a peer controls: the record's size, header and body, and the number of
//! fds that came with it against what the record's kind carries; on any
//! error every received fd is closed before the error returns, so a
//! hostile peer cannot make us leak descriptors.

mod error;
mod listener;
mod socket;

pub use crate::wire::SapiMsg;
pub use error::SapiError;
pub use listener::SapiListener;
pub use socket::SapiSocket;
