//! Applications and app workers: attach, listen, connect, notifications and
//! app-side session I/O (VPP: `application.c`, `application_worker.c`).
#![forbid(unsafe_code)]
