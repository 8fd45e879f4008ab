//! chainproof benchmarks live in `benches/` (run `cargo bench -p chainproof-benches`); this
//! library is empty so the package builds on its own.
