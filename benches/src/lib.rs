//! chainproof benchmarks live in `benches/` (run `cargo bench -p chainproof-benches`); this
//! library holds what several of them set up the same way.

use std::sync::Arc;

pub mod paired;

use chainproof_gateway::engine::{self, Compiled, Runtime};

/// The validator component the gateway runs, compiled once on the gateway's engine.
///
/// # Panics
/// When the component has not been built; the message names the build command.
pub fn compiled_component() -> (Arc<Runtime>, Compiled) {
    let path = engine::find_component(None).unwrap_or_else(|tried| {
        panic!(
            "the validator component is missing (looked for {tried:?}); build it with `{}`",
            engine::BUILD_COMMAND
        )
    });
    let runtime = Arc::new(Runtime::new().expect("engine"));
    let compiled = runtime.compile_file(&path).expect("component");
    (runtime, compiled)
}
