//! `show session` text for transport objects: VPP's row shape (the id
//! padded to [`SESSION_CLI_ID_LEN`] columns, then, when verbose, the state
//! in [`SESSION_CLI_STATE_LEN`]), the verbosity levels, and
//! [`TransportDisplay`], which turns a transport's `format_*` method into a
//! `Display` for callers that want a `String` or write into their own
//! formatter.

use std::fmt;

use crate::transport::Transport;
use crate::transport_id::TransportConnId;
use crate::worker::Worker;

/// Width of the connection id column in `show session` lines.
pub const SESSION_CLI_ID_LEN: usize = 60;
/// Width of the state column in `show session` lines.
pub const SESSION_CLI_STATE_LEN: usize = 15;

/// How much a `show session` line says (VPP's `verbose` levels 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verbosity {
    /// The id only (VPP 0).
    Brief,
    /// The id and the state, and the session's fifo fill (VPP 1).
    Verbose,
    /// All a transport has to say (VPP 2 and above).
    Detailed,
}

impl Verbosity {
    /// Whether the state column is shown.
    pub fn shows_state(self) -> bool {
        self >= Verbosity::Verbose
    }
}

impl From<u32> for Verbosity {
    /// VPP's numeric levels.
    fn from(v: u32) -> Self {
        match v {
            0 => Verbosity::Brief,
            1 => Verbosity::Verbose,
            _ => Verbosity::Detailed,
        }
    }
}

/// One `show session` row: `id` padded, then `state` padded when present
/// (VPP's `%-60U%-15s`).
#[derive(Debug, Clone, Copy)]
pub struct CliLine<'a> {
    /// The object's id text.
    pub id: &'a str,
    /// Its state, when the line is verbose.
    pub state: Option<&'a str>,
}

impl fmt::Display for CliLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<w$}", self.id, w = SESSION_CLI_ID_LEN)?;
        match self.state {
            Some(st) => write!(f, "{st:<w$}", w = SESSION_CLI_STATE_LEN),
            None => Ok(()),
        }
    }
}

/// [`CliLine`] as a `String`.
pub fn format_cli_line(id: &str, state: Option<&str>) -> String {
    CliLine { id, state }.to_string()
}

/// Which of a transport's objects a [`TransportDisplay`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportObject {
    /// An established connection ([`Transport::format_connection`]).
    Connection,
    /// A listener ([`Transport::format_listener`]).
    Listener,
    /// A half-open ([`Transport::format_half_open`]).
    HalfOpen,
}

/// A transport object's `show session` text as a `Display`:
/// `TransportDisplay::connection(&*t, wrk, id, Verbosity::Verbose).to_string()`.
pub struct TransportDisplay<'a> {
    transport: &'a dyn Transport,
    wrk: &'a Worker,
    object: TransportObject,
    id: TransportConnId,
    verbosity: Verbosity,
}

impl<'a> TransportDisplay<'a> {
    /// Shows `object` `id` of `transport` as seen from `wrk`.
    pub fn new(
        transport: &'a dyn Transport,
        wrk: &'a Worker,
        object: TransportObject,
        id: TransportConnId,
        verbosity: Verbosity,
    ) -> Self {
        TransportDisplay {
            transport,
            wrk,
            object,
            id,
            verbosity,
        }
    }

    /// The connection `id`.
    pub fn connection(
        transport: &'a dyn Transport,
        wrk: &'a Worker,
        id: TransportConnId,
        verbosity: Verbosity,
    ) -> Self {
        Self::new(transport, wrk, TransportObject::Connection, id, verbosity)
    }

    /// The listener `id`.
    pub fn listener(
        transport: &'a dyn Transport,
        wrk: &'a Worker,
        id: TransportConnId,
        verbosity: Verbosity,
    ) -> Self {
        Self::new(transport, wrk, TransportObject::Listener, id, verbosity)
    }

    /// The half-open `id`.
    pub fn half_open(
        transport: &'a dyn Transport,
        wrk: &'a Worker,
        id: TransportConnId,
        verbosity: Verbosity,
    ) -> Self {
        Self::new(transport, wrk, TransportObject::HalfOpen, id, verbosity)
    }
}

impl fmt::Display for TransportDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, w, id, v) = (self.transport, self.wrk, self.id, self.verbosity);
        match self.object {
            TransportObject::Connection => t.format_connection(w, id, v, f),
            TransportObject::Listener => t.format_listener(w, id, v, f),
            TransportObject::HalfOpen => t.format_half_open(w, id, v, f),
        }
    }
}

impl fmt::Debug for TransportDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportDisplay")
            .field("object", &self.object)
            .field("id", &self.id)
            .field("verbosity", &self.verbosity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_lines_keep_vpp_columns() {
        let brief = format_cli_line("[0:1][X:T] a->b", None);
        assert_eq!(brief.len(), SESSION_CLI_ID_LEN);
        let verbose = format_cli_line("[0:1][X:T] a->b", Some("LISTEN"));
        assert_eq!(verbose.len(), SESSION_CLI_ID_LEN + SESSION_CLI_STATE_LEN);
        assert!(verbose[SESSION_CLI_ID_LEN..].starts_with("LISTEN"));
    }

    #[test]
    fn numeric_levels_map_to_verbosity() {
        assert_eq!(Verbosity::from(0), Verbosity::Brief);
        assert!(!Verbosity::from(0).shows_state());
        assert!(Verbosity::from(1).shows_state());
        assert_eq!(Verbosity::from(7), Verbosity::Detailed);
    }
}
