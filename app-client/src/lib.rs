//! The app side of ct-stack for programs that talk to a running
//! `ct-stackd` (VPP VCL's role): attach by socket path, map the segments
//! the stack sends, and use `std::net`-shaped listeners and streams whose
//! data moves through cut-through fifos in shared memory.
//!
//! Depends on fifo-segment and app-interface only, never on the session
//! layer.
#![forbid(unsafe_code)]
