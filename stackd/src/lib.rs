//! The ct-stack daemon (`ct-stackd`) and its library entry point: hosts the
//! session layer and the ct transport for apps in other processes. Apps
//! attach over a `SOCK_SEQPACKET` Unix socket per app namespace (VPP's app
//! socket API), receive segment fds with `SCM_RIGHTS`, and trade events
//! with the stack through message queues in shared memory.
#![forbid(unsafe_code)]
