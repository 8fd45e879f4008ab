//! `chainproof verify`: build and check a path from the device certificate to a trust anchor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chainproof::{
    FleetPolicy, IdentitySource, PeerName, Purpose, TrustStore, UnixTime, VerifyOptions,
    verify_chain,
};
use chainproof_gateway::engine::{
    self, Accepted, Limits, Rejection, Runtime, TrustSource, Validator,
};
use clap::{Args, ValueEnum};
use const_oid::ObjectIdentifier;

use super::{Outcome, UsageError, emit, files, output};

/// Arguments of `chainproof verify`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "Exit status: 0 = valid, 1 = rejected (reason on stdout), \
2 = usage error or unreadable input (one line on stderr naming the file).

Example:
  chainproof fixtures --out /tmp/cp
  chainproof verify --trust /tmp/cp/p256-three-tier/anchors.pem \\
      --untrusted /tmp/cp/p256-three-tier/intermediates.pem /tmp/cp/p256-three-tier/leaf.pem"
)]
pub struct VerifyArgs {
    /// Trust anchors (root CAs, or a pinned intermediate), PEM or DER; repeat for several files.
    #[arg(long, value_name = "TRUST.pem", required_unless_present = "policy")]
    pub trust: Vec<PathBuf>,

    /// Decide with a fleet trust policy (docs/policy.md) instead of --trust and --crl.
    #[arg(long, value_name = "POLICY.toml", conflicts_with_all = ["trust", "crl"])]
    pub policy: Option<PathBuf>,

    /// Untrusted intermediate certificates that may complete the path; repeatable.
    #[arg(long, value_name = "INTERMEDIATES.pem")]
    pub untrusted: Vec<PathBuf>,

    /// Certificate revocation lists (PEM or DER) of the CAs in the path; repeatable.
    #[arg(long, value_name = "CRL.pem")]
    pub crl: Vec<PathBuf>,

    /// Validation time: Unix seconds or RFC 3339 (2025-06-01T12:00:00Z). Default: now.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    pub at: Option<UnixTime>,

    /// What the device certificate must be allowed to do (extended key usage).
    /// Default: client (TLS client authentication, what devices do).
    #[arg(long, value_enum, value_name = "PURPOSE", conflicts_with = "eku")]
    pub purpose: Option<PurposeArg>,

    /// Require this extended key usage OID instead of a named purpose; repeatable.
    #[arg(long, value_name = "OID", value_parser = parse_oid)]
    pub eku: Vec<ObjectIdentifier>,

    /// Most intermediate CAs allowed between the device and the anchor.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<usize>,

    /// A name the device certificate must carry in subjectAltName: dns:NAME, ip:ADDR or
    /// email:ADDR; repeatable (every name must match).
    #[arg(long = "peer-name", value_name = "TYPE:NAME", value_parser = PeerName::parse)]
    pub peer_name: Vec<PeerName>,

    /// Reject the chain unless its device ID is exactly this.
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,

    /// Where the device ID is read from.
    #[arg(long, value_enum, value_name = "SOURCE", default_value = "cn")]
    pub identity: IdentityArg,

    /// Warn when the device certificate expires within this many days.
    #[arg(long, value_name = "DAYS")]
    pub renewal_days: Option<u32>,

    /// Print one JSON object: {"valid", "reason", "report", "error"}.
    #[arg(long)]
    pub json: bool,

    /// Which engine decides: the validator WebAssembly component in wasmtime (wasm, what the
    /// gateway runs) or the core linked into this program (native). Both give the same verdict.
    #[arg(long, value_enum, value_name = "ENGINE", default_value = "wasm")]
    pub engine: EngineArg,

    /// The validator component for --engine wasm. Default: $CHAINPROOF_COMPONENT, then
    /// target/wasm32-wasip2/release/chainproof_component.wasm of the workspace this program was
    /// built in, then chainproof_component.wasm next to this program.
    #[arg(long, value_name = "COMPONENT.wasm")]
    pub component: Option<PathBuf>,

    /// The device certificate, PEM or DER. It may hold the whole chain the device sent: the
    /// first certificate is the leaf, the others join the untrusted intermediates.
    #[arg(value_name = "LEAF.pem")]
    pub leaf: PathBuf,
}

/// Engines for `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The validator component (wasm32-wasip2) in wasmtime, bounded in CPU and memory.
    Wasm,
    /// The core compiled into this program.
    Native,
}

/// Named purposes for `--purpose`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    /// TLS client authentication (id-kp-clientAuth): a device connecting to a gateway or hub.
    Client,
    /// TLS server authentication (id-kp-serverAuth): a device serving TLS.
    Server,
    /// Any extended key usage.
    Any,
}

/// Device ID sources for `--identity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IdentityArg {
    /// The subject commonName (Azure IoT Hub and AWS IoT convention).
    Cn,
    /// The first subjectAltName URI.
    SanUri,
    /// The first subjectAltName DNS name.
    SanDns,
    /// No device ID: validate the chain only.
    None,
}

impl From<PurposeArg> for Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::Client => Purpose::Client,
            PurposeArg::Server => Purpose::Server,
            PurposeArg::Any => Purpose::Any,
        }
    }
}

impl From<IdentityArg> for IdentitySource {
    fn from(i: IdentityArg) -> Self {
        match i {
            IdentityArg::Cn => IdentitySource::SubjectCn,
            IdentityArg::SanUri => IdentitySource::SanUri,
            IdentityArg::SanDns => IdentitySource::SanDns,
            IdentityArg::None => IdentitySource::None,
        }
    }
}

fn parse_oid(s: &str) -> Result<ObjectIdentifier, String> {
    ObjectIdentifier::new(s)
        .map_err(|e| format!("{s:?} is not a dotted OID (e.g. 1.3.6.1.5.5.7.3.2): {e}"))
}

/// The CLI never decides anything itself: this is the whole input the core sees.
struct Inputs {
    trust: Trust,
    /// The same trust as bytes, for the component (which reads no files).
    source: TrustSource,
    leaf: Vec<u8>,
    bag: Vec<Vec<u8>>,
    options: VerifyOptions,
}

/// What the chain is judged by.
enum Trust {
    /// `--trust` anchors and `--crl` lists.
    Store(TrustStore),
    /// `--policy`: enrollments and deny lists.
    Policy(Box<FleetPolicy>),
}

/// This computer's clock, the default validation time (the core never reads a clock).
pub fn now() -> Result<UnixTime, UsageError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| UsageError("the system clock is before 1970; pass --at".into()))?
        .as_secs();
    i64::try_from(secs)
        .map(UnixTime)
        .map_err(|_| UsageError("the system clock is out of range; pass --at".into()))
}

fn load(args: &VerifyArgs) -> Result<Inputs, UsageError> {
    let (trust, source) = match &args.policy {
        Some(path) => {
            let (policy, source) = load_policy(path)?;
            (Trust::Policy(Box::new(policy)), source)
        }
        None => load_store(args)?,
    };

    let mut sent = files::certificates(&args.leaf, "the device certificate")?.into_iter();
    let leaf = sent
        .next()
        .ok_or_else(|| UsageError(format!("{}: no certificate found", args.leaf.display())))?;
    // The rest of what the device sent is as untrusted as any other intermediate.
    let mut bag: Vec<Vec<u8>> = sent.collect();
    for path in &args.untrusted {
        bag.extend(files::certificates(path, "intermediates")?);
    }

    let at = match args.at {
        Some(t) => t,
        None => now()?,
    };
    let mut options = VerifyOptions::new(at);
    if !args.eku.is_empty() {
        options.purpose = Purpose::Ekus(args.eku.clone());
    } else if let Some(p) = args.purpose {
        options.purpose = p.into();
    }
    if args.max_depth.is_some() {
        options.max_intermediates = args.max_depth;
    }
    options.peer_names = args.peer_name.clone();
    options.expected_device_id = args.device_id.clone();
    options.identity = args.identity.into();
    if let Some(days) = args.renewal_days {
        options.renewal_window_secs = i64::from(days) * 86_400;
    }
    Ok(Inputs {
        trust,
        source,
        leaf,
        bag,
        options,
    })
}

/// The files are decoded here too, so that an unreadable anchor or CRL file is named in the
/// error (exit 2) whichever engine then decides.
fn load_store(args: &VerifyArgs) -> Result<(Trust, TrustSource), UsageError> {
    let mut store = TrustStore::new();
    let (mut anchors, mut crls) = (Vec::new(), Vec::new());
    for path in &args.trust {
        let bytes = files::read(path, "trust anchors")?;
        store
            .add_anchors(&bytes)
            .map_err(|e| files::input_error(path, &e))?;
        anchors.push(bytes);
    }
    for path in &args.crl {
        let bytes = files::read(path, "CRLs")?;
        store
            .add_crls(&bytes)
            .map_err(|e| files::input_error(path, &e))?;
        crls.push(bytes);
    }
    Ok((Trust::Store(store), TrustSource::Anchors { anchors, crls }))
}

/// The policy, and its text with every file it names (read relative to the policy file), for
/// the component.
fn load_policy(path: &Path) -> Result<(FleetPolicy, TrustSource), UsageError> {
    let bytes = files::read(path, "the fleet policy")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("{}: the policy is not UTF-8 text", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = std::cell::RefCell::new(Vec::new());
    let resolve = |name: &str| {
        let p = dir.join(name);
        let contents = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        read.borrow_mut().push((name.to_owned(), contents.clone()));
        Ok(contents)
    };
    let policy =
        FleetPolicy::from_toml(&text, &resolve).map_err(|e| files::input_error(path, &e))?;
    let files = read.into_inner();
    Ok((policy, TrustSource::Policy { text, files }))
}

/// The verdict from the validator component.
fn wasm_verdict(
    args: &VerifyArgs,
    inputs: &Inputs,
) -> Result<Result<Accepted, Rejection>, UsageError> {
    let path = engine::find_component(args.component.as_deref()).map_err(|tried| {
        let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
        UsageError(format!(
            "the validator component is missing (looked for {}). Build it with `{}` in the \
             chainproof workspace, pass --component PATH or set {}, or use --engine native",
            tried.join(", "),
            engine::BUILD_COMMAND,
            engine::COMPONENT_ENV
        ))
    })?;
    let engine_error = |e: engine::EngineError| UsageError(format!("{}: {e}", path.display()));
    let runtime = Arc::new(Runtime::new().map_err(engine_error)?);
    let compiled = runtime.compile_file(&path).map_err(engine_error)?;
    let limits = Limits {
        pool_size: 1,
        ..Limits::default()
    };
    let validator =
        Validator::new(runtime, compiled, inputs.source.clone(), limits).map_err(engine_error)?;
    validator
        .verify(&inputs.leaf, &inputs.bag, &inputs.options)
        .map_err(engine_error)
}

/// The verdict from the core linked into this program, in the same shape.
fn native_verdict(inputs: &Inputs) -> Result<Accepted, Rejection> {
    match &inputs.trust {
        Trust::Store(store) => verify_chain(store, &inputs.leaf, &inputs.bag, &inputs.options)
            .map(Accepted::Chain)
            .map_err(Rejection::from),
        Trust::Policy(policy) => policy
            .verify(&inputs.leaf, &inputs.bag, &inputs.options)
            .map(Accepted::Admitted)
            .map_err(Rejection::from),
    }
}

/// Run `chainproof verify`.
pub fn run(args: &VerifyArgs) -> Result<Outcome, UsageError> {
    let inputs = load(args)?;
    let verdict = match args.engine {
        EngineArg::Wasm => wasm_verdict(args, &inputs)?,
        EngineArg::Native => native_verdict(&inputs),
    };
    let text = match &verdict {
        Ok(Accepted::Chain(report)) => output::accepted(report),
        Ok(Accepted::Admitted(v)) => output::admitted(v),
        Err(rejection) => output::rejection(rejection),
    };
    let json = if args.json {
        Some(output::json_rejection_verdict(&verdict)?)
    } else {
        None
    };
    emit(&json.unwrap_or(text));
    Ok(if verdict.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}
