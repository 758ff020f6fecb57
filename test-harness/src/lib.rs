//! Echo apps, scenario tests, the deterministic simulator and benches for
//! ct-stack.
#![forbid(unsafe_code)]

pub mod anchors;
pub mod bench;
pub mod ct_pair;
pub mod echo;
pub mod sim;
