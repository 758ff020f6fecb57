//! The cut-through (ct) transport: sessions between two local apps paired
//! through shared-memory fifos (VPP: `application_local.c`).
#![forbid(unsafe_code)]
