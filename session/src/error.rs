//! `SessionError`: the session layer's typed errors, mirroring VPP's
//! `session_error_t`. The enum lives in app-interface (below this crate)
//! so apps in other processes share it without linking the session layer;
//! it is re-exported here unchanged.

pub use ct_app_interface::SessionError;
