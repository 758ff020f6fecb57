//! Sync shim: std / parking_lot normally, loom's types under `cfg(loom)`,
//! with parking_lot-shaped APIs in both, so the code loom checks is the code
//! that ships. The crates above use this module too. To be written.
