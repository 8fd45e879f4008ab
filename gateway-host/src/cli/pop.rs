//! `chainproof pop`: device proof of possession. `challenge` issues a challenge token, `sign`
//! answers one with a key file (a device simulator for demos and tests), `verify` checks the
//! chain and the answer. Randomness and the clock come from here; every check is the core's.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use chainproof::pop::DEFAULT_TTL_SECS;
use chainproof::{
    Challenge, Failure, Proof, ReplayGuard, SignatureEncoding, TrustStore, UnixTime, VerifyOptions,
    decode_signature_text, verify_possession,
};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{Outcome, UsageError, emit, files, output, verify::now};

/// The audience `challenge` and `verify` use unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "chainproof";

/// Arguments of `chainproof pop`.
#[derive(Args, Debug)]
pub struct PopArgs {
    #[command(subcommand)]
    command: PopCommand,
}

#[derive(Subcommand, Debug)]
enum PopCommand {
    /// Issue a challenge: prints a one-line token for the device to sign.
    Challenge(ChallengeArgs),
    /// Answer a challenge with a device key file (a device simulator for demos and tests).
    Sign(SignArgs),
    /// Validate a device's chain and its answer to a challenge.
    Verify(PopVerifyArgs),
}

/// Arguments of `chainproof pop challenge`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "The token is the challenge blob in unpadded base64url; the device \
decodes it and signs the bytes as they are (docs/pop.md). The nonce comes from the operating \
system's random source."
)]
pub struct ChallengeArgs {
    /// The verifier's name, bound into the challenge; `pop verify --audience` must match.
    #[arg(long, value_name = "AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    audience: String,
    /// Lifetime in seconds (at most 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TTL_SECS)]
    ttl: u32,
    /// Issue time: Unix seconds or RFC 3339. Default: now.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    at: Option<UnixTime>,
    /// Print a JSON object with the token, the blob in hex and every field.
    #[arg(long)]
    json: bool,
}

/// ECDSA signature encodings for `pop sign --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// ASN.1 DER (what OpenSSL writes).
    Der,
    /// Fixed-size r||s (what secure elements and WebCrypto produce).
    Raw,
}

/// RSA paddings for `pop sign --rsa-padding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RsaPaddingArg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Pkcs1,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    Pss,
}

/// Text encodings for `pop sign --encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextArg {
    /// Standard base64 with padding.
    Base64,
    /// Lower-case hex.
    Hex,
}

/// Arguments of `chainproof pop sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The device's private key: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`) PEM; P-256, P-384, RSA or Ed25519.
    #[arg(long, value_name = "DEVICE_KEY.pem")]
    key: PathBuf,
    /// ECDSA signature encoding (ignored for RSA and Ed25519).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "der")]
    format: FormatArg,
    /// RSA padding (ignored for other keys).
    #[arg(long, value_enum, value_name = "PADDING", default_value = "pkcs1")]
    rsa_padding: RsaPaddingArg,
    /// How the signature is printed.
    #[arg(long, value_enum, value_name = "ENCODING", default_value = "base64")]
    encoding: TextArg,
    /// The challenge token printed by `pop challenge`.
    #[arg(value_name = "CHALLENGE")]
    challenge: String,
}

/// Arguments of `chainproof pop verify`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "Exit status: 0 = the chain is valid and the device holds its key, \
1 = rejected (reason on stdout), 2 = usage error or unreadable input.

This command checks one answer; a long-running verifier keeps a replay guard so that each \
challenge is accepted once (docs/pop.md)."
)]
pub struct PopVerifyArgs {
    /// Trust anchors, PEM or DER; repeatable.
    #[arg(long, value_name = "TRUST.pem", required = true)]
    trust: Vec<PathBuf>,
    /// Untrusted intermediate certificates; repeatable.
    #[arg(long, value_name = "INTERMEDIATES.pem")]
    untrusted: Vec<PathBuf>,
    /// Certificate revocation lists; repeatable.
    #[arg(long, value_name = "CRL.pem")]
    crl: Vec<PathBuf>,
    /// Verification time for the chain and the challenge: Unix seconds or RFC 3339. Default: now.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    at: Option<UnixTime>,
    /// This verifier's name: the challenge must have been issued for it.
    #[arg(long, value_name = "AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    audience: String,
    /// The challenge token that was issued.
    #[arg(long, value_name = "TOKEN")]
    challenge: String,
    /// The device's signature over the challenge: base64 or hex; DER or raw r||s for ECDSA.
    #[arg(long, value_name = "SIGNATURE")]
    signature: String,
    /// Print one JSON object: {"valid", "reason", "report", "error"}.
    #[arg(long)]
    json: bool,
    /// The device certificate, PEM or DER (may hold the chain the device sent).
    #[arg(value_name = "LEAF.pem")]
    leaf: PathBuf,
}

/// Run `chainproof pop ...`.
pub fn run(args: &PopArgs) -> Result<Outcome, UsageError> {
    match &args.command {
        PopCommand::Challenge(a) => challenge(a),
        PopCommand::Sign(a) => sign(a),
        PopCommand::Verify(a) => verify(a),
    }
}

/// Bytes from the operating system's random source.
pub fn os_random<const N: usize>() -> Result<[u8; N], UsageError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| UsageError(format!("the operating system's random source failed: {e}")))?;
    Ok(buf)
}

fn core_error(what: &str, e: &chainproof::Error) -> UsageError {
    UsageError(format!("{what}: {e} [{}]. {}", e.code(), e.hint()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct ChallengeJson<'a> {
    token: String,
    audience: &'a str,
    nonce: String,
    issued_at: i64,
    ttl: u32,
    expires_at: i64,
    blob_hex: String,
}

fn challenge(args: &ChallengeArgs) -> Result<Outcome, UsageError> {
    let at = match args.at {
        Some(t) => t,
        None => now()?,
    };
    let c = Challenge::new(os_random()?, &args.audience, at, args.ttl)
        .map_err(|e| core_error("cannot issue the challenge", &e))?;
    if args.json {
        let json = ChallengeJson {
            token: c.to_token(),
            audience: c.audience(),
            nonce: hex(c.nonce()),
            issued_at: c.issued_at(),
            ttl: c.ttl_secs(),
            expires_at: c.expires_at(),
            blob_hex: hex(&c.signed_bytes()),
        };
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| UsageError(format!("cannot encode the challenge as JSON: {e}")))?;
        emit(&format!("{text}\n"));
    } else {
        emit(&format!("{}\n", c.to_token()));
    }
    Ok(Outcome::Ok)
}

fn sign(args: &SignArgs) -> Result<Outcome, UsageError> {
    let c = Challenge::from_token(&args.challenge)
        .map_err(|e| core_error("the challenge token", &e))?;
    let key = device_key::DeviceKey::load(&args.key)?;
    let sig = key.sign(&c.signed_bytes(), args.format, args.rsa_padding)?;
    let text = match args.encoding {
        TextArg::Base64 => Base64::encode_string(&sig),
        TextArg::Hex => hex(&sig),
    };
    emit(&format!("{text}\n"));
    Ok(Outcome::Ok)
}

fn load_store(trust: &[PathBuf], crls: &[PathBuf]) -> Result<TrustStore, UsageError> {
    let mut store = TrustStore::new();
    for path in trust {
        let bytes = files::read(path, "trust anchors")?;
        store
            .add_anchors(&bytes)
            .map_err(|e| files::input_error(path, &e))?;
    }
    for path in crls {
        let bytes = files::read(path, "CRLs")?;
        store
            .add_crls(&bytes)
            .map_err(|e| files::input_error(path, &e))?;
    }
    Ok(store)
}

fn leaf_and_bag(leaf: &Path, untrusted: &[PathBuf]) -> Result<(Vec<u8>, Vec<Vec<u8>>), UsageError> {
    let mut sent = files::certificates(leaf, "the device certificate")?.into_iter();
    let first = sent
        .next()
        .ok_or_else(|| UsageError(format!("{}: no certificate found", leaf.display())))?;
    let mut bag: Vec<Vec<u8>> = sent.collect();
    for path in untrusted {
        bag.extend(files::certificates(path, "intermediates")?);
    }
    Ok((first, bag))
}

fn verify(args: &PopVerifyArgs) -> Result<Outcome, UsageError> {
    let store = load_store(&args.trust, &args.crl)?;
    let (leaf, bag) = leaf_and_bag(&args.leaf, &args.untrusted)?;
    let at = match args.at {
        Some(t) => t,
        None => now()?,
    };
    let challenge =
        Challenge::from_token(&args.challenge).map_err(|e| core_error("--challenge", &e))?;
    let verdict = decode_signature_text(&args.signature)
        .map_err(Failure::new)
        .and_then(|signature| {
            let proof = Proof {
                audience: &args.audience,
                challenge: &challenge,
                signature: &signature,
                encoding: SignatureEncoding::Auto,
            };
            // One answer per run: the guard lives as long as this process.
            let mut guard = ReplayGuard::new(1);
            verify_possession(
                &store,
                &leaf,
                &bag,
                &VerifyOptions::new(at),
                &proof,
                &mut guard,
            )
        });
    if args.json {
        emit(&output::json_verdict(&verdict)?);
    } else {
        match &verdict {
            Ok(r) => emit(&format!(
                "PROOF OF POSSESSION: the device signed the challenge ({})\n{}",
                r.signature.name(),
                output::accepted(&r.chain)
            )),
            Err(f) => emit(&output::rejected(f)),
        }
    }
    Ok(if verdict.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

/// Device keys for the simulator: reading the usual PEM files and signing as a device would.
pub(crate) mod device_key {
    use std::path::Path;

    use p256::pkcs8::DecodePrivateKey;
    use rand_core::SeedableRng;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use sha2::{Digest, Sha256};
    use signature::Signer;

    use super::{FormatArg, RsaPaddingArg, UsageError, os_random};
    use crate::cli::files;

    /// A private key the simulator can sign with.
    pub enum DeviceKey {
        P256(p256::ecdsa::SigningKey),
        P384(p384::ecdsa::SigningKey),
        Rsa(Box<rsa::RsaPrivateKey>),
        Ed25519(Box<ed25519_dalek::SigningKey>),
    }

    impl DeviceKey {
        /// Read the first private key block of a PEM file; other blocks are skipped.
        pub fn load(path: &Path) -> Result<DeviceKey, UsageError> {
            let bytes = files::read(path, "the device key")?;
            let text = String::from_utf8_lossy(&bytes);
            let bad = |why: &str| UsageError(format!("{}: {why}", path.display()));
            let mut rest: &str = &text;
            while let Some(start) = rest.find("-----BEGIN ") {
                let block = &rest[start..];
                let label_len = block["-----BEGIN ".len()..]
                    .find("-----")
                    .ok_or_else(|| bad("unterminated PEM header"))?;
                let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_len];
                let end_marker = format!("-----END {label}-----");
                let end = block
                    .find(&end_marker)
                    .ok_or_else(|| bad("PEM block without END line"))?
                    + end_marker.len();
                let pem = &block[..end];
                rest = &block[end..];
                // Certificates or `EC PARAMETERS` (as `openssl ecparam -genkey` writes) may
                // come first; the key is the first PRIVATE KEY block.
                if !label.contains("PRIVATE KEY") {
                    continue;
                }
                let (_, der) = der::pem::decode_vec(pem.as_bytes())
                    .map_err(|e| bad(&format!("damaged PEM block {label}: {e}")))?;
                return Self::from_der(label, &der).ok_or_else(|| {
                    bad(&format!(
                        "{label} is not a P-256, P-384, RSA or Ed25519 private key \
                         (encrypted keys must be decrypted first: openssl pkey -in KEY -out PLAIN.pem)"
                    ))
                });
            }
            Err(bad("no PEM private key block found"))
        }

        fn from_der(label: &str, der: &[u8]) -> Option<DeviceKey> {
            match label {
                "PRIVATE KEY" => p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(DeviceKey::P256)
                    .or_else(|_| p384::ecdsa::SigningKey::from_pkcs8_der(der).map(DeviceKey::P384))
                    .or_else(|_| {
                        rsa::RsaPrivateKey::from_pkcs8_der(der).map(|k| DeviceKey::Rsa(Box::new(k)))
                    })
                    .or_else(|_| {
                        ed25519_dalek::SigningKey::from_pkcs8_der(der)
                            .map(|k| DeviceKey::Ed25519(Box::new(k)))
                    })
                    .ok(),
                "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(der)
                    .map(|k| DeviceKey::P256(k.into()))
                    .ok()
                    .or_else(|| {
                        p384::SecretKey::from_sec1_der(der)
                            .map(|k| DeviceKey::P384(k.into()))
                            .ok()
                    }),
                "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der)
                    .map(|k| DeviceKey::Rsa(Box::new(k)))
                    .ok(),
                _ => None,
            }
        }

        /// Sign `msg` as the core expects for this key type.
        pub fn sign(
            &self,
            msg: &[u8],
            format: FormatArg,
            padding: RsaPaddingArg,
        ) -> Result<Vec<u8>, UsageError> {
            let failed = |e: &dyn std::fmt::Display| UsageError(format!("signing failed: {e}"));
            Ok(match self {
                DeviceKey::P256(k) => {
                    let sig: p256::ecdsa::Signature = k.try_sign(msg).map_err(|e| failed(&e))?;
                    match format {
                        FormatArg::Der => sig.to_der().as_bytes().to_vec(),
                        FormatArg::Raw => sig.to_bytes().to_vec(),
                    }
                }
                DeviceKey::P384(k) => {
                    let sig: p384::ecdsa::Signature = k.try_sign(msg).map_err(|e| failed(&e))?;
                    match format {
                        FormatArg::Der => sig.to_der().as_bytes().to_vec(),
                        FormatArg::Raw => sig.to_bytes().to_vec(),
                    }
                }
                DeviceKey::Rsa(k) => {
                    let digest = Sha256::digest(msg);
                    match padding {
                        RsaPaddingArg::Pkcs1 => k
                            .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
                            .map_err(|e| failed(&e))?,
                        RsaPaddingArg::Pss => {
                            // PSS needs a random salt; seed a CSPRNG from the OS.
                            let mut rng = rand_chacha::ChaCha20Rng::from_seed(os_random()?);
                            k.sign_with_rng(&mut rng, rsa::Pss::<Sha256>::new(), &digest)
                                .map_err(|e| failed(&e))?
                        }
                    }
                }
                DeviceKey::Ed25519(k) => {
                    k.try_sign(msg).map_err(|e| failed(&e))?.to_bytes().to_vec()
                }
            })
        }
    }
}
