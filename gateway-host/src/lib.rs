//! The gateway's library: the embedding of the validator component ([`engine`]).
//!
//! The `chainproof` binary's subcommands live in `main.rs`/`cli/`; they use [`engine`] for
//! `verify --engine wasm`.

#![deny(missing_docs)]

pub mod engine;
