//! Helpers shared by the conformance and differential test targets.

pub mod exceptions;
