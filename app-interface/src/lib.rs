//! What a ct-stack app and the stack trade across a process boundary (VPP
//! `application_interface.h` and the app socket API): the records on the
//! app socket, the messages on the shared-memory message queues, and the
//! app-side session I/O that builtin apps (app-worker) and apps in other
//! processes (app-client) both use.
//!
//! This crate depends on fifo-segment only: a program that talks to the
//! stack daemon links it without the session layer.
#![forbid(unsafe_code)]
