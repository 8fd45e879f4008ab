//! The validator component (`wasm-component/`, WIT `chainproof:validator@0.1.0`) run in
//! wasmtime: sandboxed, bounded in CPU and memory, pooled, hot-swappable.
//!
//! - One [`Runtime`] per process: one `wasmtime::Engine` with the pooling allocator and fuel
//!   metering. A component is compiled once ([`Runtime::compile`]) into an `InstancePre`, so
//!   each new instance only allocates and links.
//! - A [`Validator`] keeps a pool of ready instances, each holding its own `trust-store`
//!   resource (anchors and CRLs decoded once per instance, not per call). A call takes an
//!   instance out of the pool and puts it back afterwards, so concurrent calls never share
//!   one and never wait for each other.
//! - Every call runs under a fuel budget and a memory limit ([`Limits`]). Running out of
//!   either is the core's `budget-exceeded` rejection; the instance is dropped (a fresh one
//!   replaces it on the next call) and the validator keeps serving. Any other trap is an
//!   [`EngineError::Trapped`] for that call only.
//! - Hot swap ([`Validator::swap_component`], [`Validator::load_component_file`],
//!   [`Validator::set_trust`]): the new component or trust is tried on a fresh instance first;
//!   if that fails, the error is logged and the last-known-good generation keeps serving.
//!   Calls already running finish on the generation they started on.
//!
//! This module decides nothing about certificates: it converts types ([`convert`]) and moves
//! bytes.

pub mod convert;
pub mod native;
pub mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chainproof::{Error, VerifyOptions};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter,
    Store, StoreLimits, StoreLimitsBuilder, Trap,
};

pub use types::{Accepted, IssuedChallenge, Rejection, TrustSource};

/// Generated from `wasm-component/wit/validator.wit`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wasm-component/wit",
        world: "validator-component",
    });
}

use bindings::ValidatorComponent;
use bindings::ValidatorComponentPre;

/// Environment variable naming the component file (`verify --engine wasm`).
pub const COMPONENT_ENV: &str = "CHAINPROOF_COMPONENT";

/// Where `cargo build --release --target wasm32-wasip2 -p chainproof-component` writes it,
/// relative to the workspace's target directory.
pub const COMPONENT_BUILD_PATH: &str = "wasm32-wasip2/release/chainproof_component.wasm";

/// The command that builds the component, for error messages.
pub const BUILD_COMMAND: &str =
    "cargo build --release --target wasm32-wasip2 -p chainproof-component";

/// Fuel per call by default. One P-256 signature check costs about 6 million units here and
/// the core stops path building after 100 signature checks, so 4 billion leaves a wide margin
/// above the core's own budget (the core answers first) while stopping a runaway call in a
/// few seconds.
pub const DEFAULT_FUEL: u64 = 4_000_000_000;

/// Fuel for making an instance and its trust store (decoding anchors and CRLs, loading a
/// policy), whatever the per-call budget: setup is not a call a device can inflate.
pub const SETUP_FUEL: u64 = DEFAULT_FUEL;

/// Linear memory per instance by default. The core's inputs are bounded (see `input`); the
/// whole limbo suite runs in far less. 64 MiB stops a runaway allocation early.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// Ready instances kept per validator. More concurrent calls create more instances (up to
/// [`MAX_INSTANCES`]); only this many are kept for reuse.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// Instances alive at once per runtime (pooling allocator slots). Each reserves address
/// space for [`MAX_MEMORY_BYTES`] but commits only what it uses.
pub const MAX_INSTANCES: u32 = 64;

/// Largest memory limit a [`Limits`] may ask for (the pooling allocator's slot size).
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// Bytes of each pooled linear memory and table kept resident (reset in place rather than
/// returned to the OS) when an instance is dropped. 128 KiB covers what instantiation writes;
/// 1 MiB measured no faster, and whatever is kept stays resident in every free pooled slot.
/// Without PAGEMAP_SCAN it is the slot's first 128 KiB, memset whether written or not.
const KEEP_RESIDENT_BYTES: usize = 128 << 10;

/// Core wasm instances and memories in one instance of the component (its main module and
/// the small shims `wasm-component-ld` adds); the pool is sized with this.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;

/// Per-call bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly: wasm instructions) per call.
    pub fuel: u64,
    /// Linear memory per instance, bytes (at most [`MAX_MEMORY_BYTES`]).
    pub memory_bytes: usize,
    /// Ready instances kept for reuse.
    pub pool_size: usize,
    /// Keep the trust store's verification memory (verified signatures, CA key tables) in
    /// each instance; off makes every call do all of its signature work (cold benchmarks).
    pub verify_cache: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            pool_size: DEFAULT_POOL_SIZE,
            verify_cache: true,
        }
    }
}

/// Why the engine could not answer (not a verdict about a certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The component file cannot be read.
    Read(String),
    /// The bytes are not a component wasmtime accepts, or it does not have the validator's
    /// interface.
    Load(String),
    /// The trust store (anchors, CRLs or policy) was refused by the core.
    Trust(Rejection),
    /// The component trapped (other than running out of its budget); the instance was
    /// discarded.
    Trapped(String),
    /// wasmtime refused something else (e.g. every pool slot is in use).
    Runtime(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Read(m) => write!(f, "cannot read the validator component: {m}"),
            EngineError::Load(m) => write!(f, "cannot load the validator component: {m}"),
            EngineError::Trust(r) => write!(f, "trust store refused: {}: {}", r.code, r.message),
            EngineError::Trapped(m) => write!(f, "the validator component trapped: {m}"),
            EngineError::Runtime(m) => write!(f, "wasmtime: {m}"),
        }
    }
}

impl std::error::Error for EngineError {}

fn runtime_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Runtime(format!("{e:#}"))
}

/// One wasmtime engine (compiled code, pooling allocator) shared by every validator.
pub struct Runtime {
    engine: Engine,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// An engine with fuel metering, the pooling allocator and wasm's wide-arithmetic
    /// proposal (which the default component build uses).
    pub fn new() -> Result<Self, EngineError> {
        Self::with_wide_arithmetic(true)
    }

    /// An engine without the wide-arithmetic proposal, as other wasm engines may be: it runs
    /// only the baseline component build (`chainproof_component_baseline.wasm`).
    pub fn baseline() -> Result<Self, EngineError> {
        Self::with_wide_arithmetic(false)
    }

    fn with_wide_arithmetic(wide: bool) -> Result<Self, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
            .total_memories(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
            .total_tables(MAX_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_tables_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memory_size(MAX_MEMORY_BYTES);
        // A freed slot's pages are reset in place (memset, or a copy from the memory image)
        // instead of given back with madvise, up to KEEP_RESIDENT_BYTES: the next instance
        // touches them at once, so this saves the system call and the page faults after it.
        // With PAGEMAP_SCAN (Linux 6.7 and later; `Auto` falls back without it) the pages
        // reset are the ones the instance actually wrote, wherever they are, rather than the
        // first KEEP_RESIDENT_BYTES of the slot whether written or not. Instantiation from
        // `InstancePre` plus dropping the store, measured on 2026-11-24: ~15.8 µs with
        // neither, ~12.6 µs with keep-resident alone, ~10.3 µs with both (docs/component.md
        // § Size and speed).
        pool.linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .wasm_component_model(true)
            // The component is built with `+wide-arithmetic` (64x64->128-bit multiplies, the
            // heart of the curves' field arithmetic: about 3x faster); the baseline build runs
            // on either engine.
            .wasm_wide_arithmetic(wide)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(runtime_err)?;
        Ok(Runtime { engine })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compile a component and link it once (`InstancePre`). Every WASI import the Rust
    /// standard library declares traps if called, except `wasi:random/insecure-seed`, which
    /// std's `HashMap` seeds itself from (see docs/component.md).
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, EngineError> {
        let component = Component::from_binary(&self.engine, bytes).map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("wide arithmetic") || text.contains("wide-arithmetic") {
                EngineError::Load(format!(
                    "{text}; this engine runs without wasm's wide-arithmetic proposal: use the \
                     baseline build (chainproof_component_baseline.wasm)"
                ))
            } else {
                EngineError::Load(text)
            }
        })?;
        let linker = self.linker(&component)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| EngineError::Load(format!("{e:#}")))?;
        let pre = ValidatorComponentPre::new(pre)
            .map_err(|e| EngineError::Load(format!("not the validator interface: {e:#}")))?;
        Ok(Compiled {
            pre,
            component,
            size: bytes.len(),
        })
    }

    /// Read and compile a component file.
    pub fn compile_file(&self, path: &Path) -> Result<Compiled, EngineError> {
        let bytes = std::fs::read(path)
            .map_err(|e| EngineError::Read(format!("{}: {e}", path.display())))?;
        self.compile(&bytes).map_err(|e| match e {
            EngineError::Load(m) => EngineError::Load(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    fn linker(&self, component: &Component) -> Result<Linker<HostState>, EngineError> {
        let mut linker = Linker::new(&self.engine);
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if name.starts_with("wasi:random/insecure-seed@") {
                linker
                    .instance(name)
                    .and_then(|mut i| {
                        i.func_wrap("insecure-seed", |_, (): ()| Ok((insecure_seed(),)))
                    })
                    .map_err(|e| EngineError::Load(format!("{e:#}")))?;
            }
        }
        linker
            .define_unknown_imports_as_traps(component)
            .map_err(|e| EngineError::Load(format!("{e:#}")))?;
        Ok(linker)
    }

    /// Instantiate without `InstancePre` (link and type-check every time); for the benchmark
    /// that measures what `InstancePre` saves.
    pub fn instantiate_unprepared(&self, compiled: &Compiled) -> Result<(), EngineError> {
        let linker = self.linker(&compiled.component)?;
        let mut store = new_store(&self.engine, &Limits::default())?;
        ValidatorComponent::instantiate(&mut store, &compiled.component, &linker)
            .map(drop)
            .map_err(runtime_err)
    }

    /// Instantiate from the `InstancePre` (the pool's path), for the same benchmark.
    pub fn instantiate_prepared(&self, compiled: &Compiled) -> Result<(), EngineError> {
        let mut store = new_store(&self.engine, &Limits::default())?;
        compiled
            .pre
            .instantiate(&mut store)
            .map(drop)
            .map_err(runtime_err)
    }
}

/// HashMap seeds for std inside the component: from the OS, as std would take them natively.
fn insecure_seed() -> (u64, u64) {
    let mut b = [0u8; 16];
    // Without OS randomness the maps still work; only their flooding resistance is weaker.
    let _ = getrandom::fill(&mut b);
    let (lo, hi) = b.split_at(8);
    let word = |s: &[u8]| s.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    (word(lo), word(hi))
}

/// A compiled, linked component.
#[derive(Clone)]
pub struct Compiled {
    pre: ValidatorComponentPre<HostState>,
    component: Component,
    size: usize,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Compiled {
    /// Size of the component file, bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The component's imports, as `wasm-tools component wit` names them.
    pub fn imports(&self, runtime: &Runtime) -> Vec<String> {
        self.component
            .component_type()
            .imports(runtime.engine())
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The component's exports.
    pub fn exports(&self, runtime: &Runtime) -> Vec<String> {
        self.component
            .component_type()
            .exports(runtime.engine())
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

/// Store limits that also remember whether they refused memory, so a trap caused by the
/// refusal is reported as `budget-exceeded` rather than as a crash.
struct HostState {
    limits: StoreLimits,
    memory_refused: bool,
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.memory_refused = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
}

fn new_store(engine: &Engine, limits: &Limits) -> Result<Store<HostState>, EngineError> {
    let state = HostState {
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes.min(MAX_MEMORY_BYTES))
            .instances(CORE_INSTANCES_PER_COMPONENT as usize * 2)
            .build(),
        memory_refused: false,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| s);
    store.set_fuel(limits.fuel).map_err(runtime_err)?;
    Ok(store)
}

/// One instance with its trust store.
struct Slot {
    store: Store<HostState>,
    bindings: ValidatorComponent,
    trust: ResourceAny,
}

/// A component and a trust source, with their pool of instances.
struct Generation {
    compiled: Compiled,
    trust: Arc<TrustSource>,
    pool: Mutex<Vec<Slot>>,
}

/// A call that did not produce the component's answer.
enum CallError {
    /// Out of fuel or memory: the core's `budget-exceeded`.
    Budget(Rejection),
    /// Anything else.
    Engine(EngineError),
}

impl Generation {
    fn new_slot(&self, engine: &Engine, limits: &Limits) -> Result<Slot, CallError> {
        let mut store = new_store(engine, limits).map_err(CallError::Engine)?;
        store
            .set_fuel(SETUP_FUEL)
            .map_err(|e| CallError::Engine(runtime_err(e)))?;
        let result = (|| {
            let bindings = self.compiled.pre.instantiate(&mut store)?;
            let api = bindings.chainproof_validator_validator().trust_store();
            let made = match &*self.trust {
                TrustSource::Anchors { anchors, crls } => {
                    api.call_from_anchors(&mut store, anchors, crls)?
                }
                TrustSource::Policy { text, files } => {
                    let files: Vec<_> = files
                        .iter()
                        .map(|(name, contents)| {
                            bindings::exports::chainproof::validator::types::NamedFile {
                                name: name.clone(),
                                contents: contents.clone(),
                            }
                        })
                        .collect();
                    api.call_from_policy(&mut store, text, &files)?
                }
            };
            if let (Ok(trust), false) = (&made, limits.verify_cache) {
                api.call_set_cache(&mut store, *trust, false)?;
            }
            Ok::<_, wasmtime::Error>((bindings, made))
        })();
        match result {
            Ok((bindings, Ok(trust))) => Ok(Slot {
                store,
                bindings,
                trust,
            }),
            Ok((_, Err(f))) => Err(CallError::Engine(EngineError::Trust(
                convert::rejection(f).unwrap_or_else(|e| e),
            ))),
            Err(e) => Err(classify(
                &store,
                &Limits {
                    fuel: SETUP_FUEL,
                    ..*limits
                },
                &e,
            )),
        }
    }
}

/// Out of fuel, refused memory, or another trap.
fn classify(store: &Store<HostState>, limits: &Limits, e: &wasmtime::Error) -> CallError {
    let budget = |what: &'static str, limit: u64| {
        CallError::Budget(Rejection::from(Error::BudgetExceeded {
            what,
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }))
    };
    if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        budget("fuel units in the validator component", limits.fuel)
    } else if store.data().memory_refused {
        budget(
            "bytes of memory in the validator component",
            u64::try_from(limits.memory_bytes).unwrap_or(u64::MAX),
        )
    } else {
        CallError::Engine(EngineError::Trapped(format!("{e:#}")))
    }
}

/// The validator component with a trust store, ready for concurrent calls.
pub struct Validator {
    runtime: Arc<Runtime>,
    limits: Limits,
    current: RwLock<Arc<Generation>>,
    last_error: Mutex<Option<EngineError>>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator for `compiled` with `trust`. One instance is created now, so a component or
    /// trust store that does not work is refused here.
    pub fn new(
        runtime: Arc<Runtime>,
        compiled: Compiled,
        trust: TrustSource,
        limits: Limits,
    ) -> Result<Self, EngineError> {
        let generation = Self::prepare(&runtime, &limits, compiled, Arc::new(trust))?;
        Ok(Validator {
            runtime,
            limits,
            current: RwLock::new(generation),
            last_error: Mutex::new(None),
        })
    }

    fn prepare(
        runtime: &Runtime,
        limits: &Limits,
        compiled: Compiled,
        trust: Arc<TrustSource>,
    ) -> Result<Arc<Generation>, EngineError> {
        let generation = Generation {
            compiled,
            trust,
            pool: Mutex::new(Vec::new()),
        };
        let slot = generation
            .new_slot(runtime.engine(), limits)
            .map_err(|e| match e {
                CallError::Budget(r) => EngineError::Trust(r),
                CallError::Engine(e) => e,
            })?;
        lock(&generation.pool).push(slot);
        Ok(Arc::new(generation))
    }

    fn generation(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn install(&self, result: Result<Arc<Generation>, EngineError>) -> Result<(), EngineError> {
        match result {
            Ok(generation) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = generation;
                Ok(())
            }
            Err(e) => {
                // Last-known-good: the old generation keeps serving; say why the new one did not.
                eprintln!("chainproof: engine: {e}; keeping the previous component and trust");
                *lock(&self.last_error) = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Serve new calls with another component (same trust). On failure the current one keeps
    /// serving and the error is logged and returned.
    pub fn swap_component(&self, compiled: Compiled) -> Result<(), EngineError> {
        let trust = self.generation().trust.clone();
        self.install(Self::prepare(&self.runtime, &self.limits, compiled, trust))
    }

    /// Read, compile and swap in a component file (see [`Validator::swap_component`]).
    pub fn load_component_file(&self, path: &Path) -> Result<(), EngineError> {
        let compiled = self.runtime.compile_file(path);
        self.install(compiled.and_then(|c| {
            let trust = self.generation().trust.clone();
            Self::prepare(&self.runtime, &self.limits, c, trust)
        }))
    }

    /// Serve new calls with another trust store or policy (same component). On failure the
    /// current one keeps serving and the error is logged and returned.
    pub fn set_trust(&self, trust: TrustSource) -> Result<(), EngineError> {
        let compiled = self.generation().compiled.clone();
        self.install(Self::prepare(
            &self.runtime,
            &self.limits,
            compiled,
            Arc::new(trust),
        ))
    }

    /// The last hot-swap error, if the last swap failed (cleared by a successful one).
    pub fn last_error(&self) -> Option<EngineError> {
        lock(&self.last_error).clone()
    }

    /// Size of the component serving new calls, bytes.
    pub fn component_size(&self) -> usize {
        self.generation().compiled.size()
    }

    /// Instances ready in the current pool (for tests and metrics).
    pub fn ready_instances(&self) -> usize {
        lock(&self.generation().pool).len()
    }

    /// Run `f` on a pooled instance of the current generation. The instance goes back to the
    /// pool afterwards unless the call trapped or the generation was replaced meanwhile.
    fn call<R>(&self, f: impl FnOnce(&mut Slot) -> wasmtime::Result<R>) -> Result<R, CallError> {
        let generation = self.generation();
        let taken = lock(&generation.pool).pop();
        let mut slot = match taken {
            Some(slot) => slot,
            None => generation.new_slot(self.runtime.engine(), &self.limits)?,
        };
        slot.store.data_mut().memory_refused = false;
        slot.store
            .set_fuel(self.limits.fuel)
            .map_err(|e| CallError::Engine(runtime_err(e)))?;
        match f(&mut slot) {
            Ok(r) => {
                let current = Arc::ptr_eq(&generation, &self.generation());
                let mut pool = lock(&generation.pool);
                if current && pool.len() < self.limits.pool_size {
                    pool.push(slot);
                }
                Ok(r)
            }
            // The instance may be in any state after a trap: it is dropped, never reused.
            Err(e) => Err(classify(&slot.store, &self.limits, &e)),
        }
    }

    fn answer<T, W>(
        &self,
        f: impl FnOnce(
            &mut Slot,
        ) -> wasmtime::Result<
            Result<W, bindings::exports::chainproof::validator::types::Failure>,
        >,
        ok: impl FnOnce(W) -> Result<T, Rejection>,
    ) -> Result<Result<T, Rejection>, EngineError> {
        match self.call(f) {
            Ok(Ok(w)) => Ok(ok(w)),
            Ok(Err(failure)) => Ok(Err(convert::rejection(failure).unwrap_or_else(|e| e))),
            Err(CallError::Budget(r)) => Ok(Err(r)),
            Err(CallError::Engine(e)) => Err(e),
        }
    }

    /// Verify a device chain (`trust-store.verify`): `Ok(verdict)` is exactly what
    /// [`native::NativeTrust::verify`] answers for the same inputs.
    pub fn verify(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<Result<Accepted, Rejection>, EngineError> {
        let wopts = convert::options(opts);
        self.answer(
            |slot| {
                let api = slot.bindings.chainproof_validator_validator().trust_store();
                api.call_verify(&mut slot.store, slot.trust, leaf, intermediates, &wopts)
            },
            convert::verdict,
        )
    }

    /// Verify a TLS CertificateVerify signature with the leaf's key.
    pub fn verify_tls_signature(
        &self,
        leaf: &[u8],
        scheme: chainproof::TlsScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Result<(), Rejection>, EngineError> {
        self.answer(
            |slot| {
                slot.bindings
                    .chainproof_validator_validator()
                    .call_verify_tls_signature(
                        &mut slot.store,
                        leaf,
                        scheme.code(),
                        message,
                        signature,
                    )
            },
            Ok,
        )
    }

    /// Issue a challenge from caller-supplied randomness and time.
    pub fn issue_challenge(
        &self,
        nonce: &[u8],
        audience: &str,
        issued_at: chainproof::UnixTime,
        ttl_secs: u32,
    ) -> Result<Result<IssuedChallenge, Rejection>, EngineError> {
        self.answer(
            |slot| {
                slot.bindings
                    .chainproof_validator_validator()
                    .call_issue_challenge(&mut slot.store, nonce, audience, issued_at.0, ttl_secs)
            },
            |c| {
                Ok(IssuedChallenge {
                    token: c.token,
                    signed_bytes: c.signed_bytes,
                    expires_at: c.expires_at,
                })
            },
        )
    }

    /// Check a CA verification certificate.
    pub fn verify_verification_certificate(
        &self,
        ca: &[u8],
        code: &str,
        cert: &[u8],
        time: chainproof::UnixTime,
    ) -> Result<Result<chainproof::VerificationReport, Rejection>, EngineError> {
        self.answer(
            |slot| {
                slot.bindings
                    .chainproof_validator_validator()
                    .call_verify_verification_certificate(&mut slot.store, ca, code, cert, time.0)
            },
            convert::verification_report,
        )
    }

    /// Summarise every certificate in PEM or DER `input`.
    pub fn inspect(
        &self,
        input: &[u8],
    ) -> Result<Result<Vec<chainproof::CertSummary>, Rejection>, EngineError> {
        self.answer(
            |slot| {
                slot.bindings
                    .chainproof_validator_validator()
                    .call_inspect(&mut slot.store, input)
            },
            |list| list.into_iter().map(convert::summary).collect(),
        )
    }

    /// A proof-of-possession session: one instance taken out of the pool for good, holding a
    /// replay guard of `capacity` challenges. The guard is state, so the session's calls run
    /// one at a time on that instance (as the core's `&mut ReplayGuard` requires). If the
    /// instance traps or runs out of budget, the guard is gone with it and the session refuses
    /// further calls ([`EngineError::Trapped`]): a fresh guard would forget answered nonces.
    pub fn pop_session(&self, capacity: u32) -> Result<PopSession, EngineError> {
        let generation = self.generation();
        let taken = lock(&generation.pool).pop();
        let mut slot = match taken {
            Some(slot) => slot,
            None => generation
                .new_slot(self.runtime.engine(), &self.limits)
                .map_err(|e| match e {
                    CallError::Budget(r) => EngineError::Trust(r),
                    CallError::Engine(e) => e,
                })?,
        };
        slot.store.set_fuel(self.limits.fuel).map_err(runtime_err)?;
        let guard = slot
            .bindings
            .chainproof_validator_validator()
            .replay_guard()
            .call_constructor(&mut slot.store, capacity)
            .map_err(|e| EngineError::Trapped(format!("{e:#}")))?;
        Ok(PopSession {
            slot: Mutex::new(Some(slot)),
            guard,
            limits: self.limits,
        })
    }
}

/// See [`Validator::pop_session`].
pub struct PopSession {
    slot: Mutex<Option<Slot>>,
    guard: ResourceAny,
    limits: Limits,
}

impl std::fmt::Debug for PopSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PopSession").finish_non_exhaustive()
    }
}

/// A device's answer to a challenge, for [`PopSession::verify_possession`].
#[derive(Clone, Copy, Debug)]
pub struct ProofInput<'a> {
    /// The verifier's own name.
    pub audience: &'a str,
    /// The challenge token that was issued.
    pub challenge_token: &'a str,
    /// The signature bytes.
    pub signature: &'a [u8],
    /// How an ECDSA signature is encoded.
    pub encoding: chainproof::SignatureEncoding,
}

impl PopSession {
    /// Verify the chain and the device's answer (`trust-store.verify-possession`).
    pub fn verify_possession(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
        proof: &ProofInput<'_>,
    ) -> Result<Result<chainproof::PossessionReport, Rejection>, EngineError> {
        let mut held = lock(&self.slot);
        let Some(slot) = held.as_mut() else {
            return Err(EngineError::Trapped(
                "this proof-of-possession session lost its instance earlier".into(),
            ));
        };
        slot.store.data_mut().memory_refused = false;
        slot.store.set_fuel(self.limits.fuel).map_err(runtime_err)?;
        let wopts = convert::options(opts);
        let wproof = convert::proof(proof);
        let api = slot.bindings.chainproof_validator_validator().trust_store();
        match api.call_verify_possession(
            &mut slot.store,
            slot.trust,
            leaf,
            intermediates,
            &wopts,
            &wproof,
            self.guard,
        ) {
            Ok(Ok(r)) => Ok(convert::possession(r)),
            Ok(Err(f)) => Ok(Err(convert::rejection(f).unwrap_or_else(|e| e))),
            Err(e) => {
                let outcome = classify(&slot.store, &self.limits, &e);
                *held = None;
                match outcome {
                    CallError::Budget(r) => Ok(Err(r)),
                    CallError::Engine(e) => Err(e),
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where `verify --engine wasm` finds the component: `explicit` (`--component`), then
/// `$CHAINPROOF_COMPONENT`, then the build output under the workspace's `target/` (found from
/// the executable's location, `target/<profile>/chainproof`) or next to the executable.
/// Returns the candidates tried when none exists.
pub fn find_component(explicit: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(vec![p.to_path_buf()])
        };
    }
    if let Some(p) = std::env::var_os(COMPONENT_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(vec![p]) };
    }
    let mut tried = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        // target/<profile>/chainproof or target/<profile>/deps/<test>: walk up to `target/`.
        for target in dir.ancestors().take(3) {
            tried.push(target.join(COMPONENT_BUILD_PATH));
        }
        tried.push(dir.join("chainproof_component.wasm"));
    }
    tried.iter().find(|p| p.is_file()).cloned().ok_or(tried)
}
