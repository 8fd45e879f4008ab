// Shared by several test targets; each uses a different part.
#![allow(dead_code)]
//! Helpers shared by the conformance and differential test targets.

pub mod exceptions;
pub mod limbo_suite;
pub mod rng;
