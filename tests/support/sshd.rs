//! The test node harness lives in the `stoa-testnode` crate (testnode/support).
#![allow(unused_imports)]
pub use stoa_testnode::*;
