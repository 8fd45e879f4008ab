//! `chainproof policy`: load, check and compare fleet trust policies (docs/policy.md). The file
//! reading happens here; parsing, every verdict and the comparison are the core's
//! (`FleetPolicy::from_toml`, `fleet::compare`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use chainproof::fleet::{Change, DiffSummary, Outcome as DeviceOutcome, VerdictChange, compare};
use chainproof::{FleetPolicy, UnixTime, VerifyOptions};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{Outcome, UsageError, emit, files, verify};

/// Arguments of `chainproof policy`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Load a policy file (and the anchors and CRL files it names) and summarise it: groups,
    /// anchors with their expiry, CRLs with their next update, entry counts.
    /// Exit status: 0 = valid, 1 = invalid (reason with line and column on stdout),
    /// 2 = the policy file cannot be read.
    Check {
        /// The policy file (TOML, `version = 1`).
        #[arg(value_name = "POLICY.toml")]
        file: PathBuf,

        /// Time to judge anchor expiry and CRL staleness at: Unix seconds or RFC 3339.
        /// Default: now.
        #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
        at: Option<UnixTime>,
    },
    /// Shadow mode: verify every device chain in a directory under two policies and list the
    /// devices whose verdict would change.
    /// Exit status: 0 = no verdict changes, 1 = some verdicts change, 2 = usage error,
    /// unreadable files or an invalid policy.
    Diff {
        /// The policy in force.
        #[arg(value_name = "OLD.toml")]
        old: PathBuf,

        /// The policy about to be deployed.
        #[arg(value_name = "NEW.toml")]
        new: PathBuf,

        /// Device chains: each subdirectory holding `chain.pem` (leaf first, then its chain) or
        /// `leaf.pem` (+ `intermediates.pem`), and each `*.pem` file holding leaf then chain.
        #[arg(long, value_name = "DIR")]
        devices: PathBuf,

        /// Validation time: Unix seconds or RFC 3339. Default: now.
        #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
        at: Option<UnixTime>,

        /// Print one JSON object: {"devices": [...], "summary": {...}, "skipped": [...]}.
        #[arg(long)]
        json: bool,
    },
}

/// Read and parse `path`. Files the policy names are read relative to the policy's directory.
/// Returns the core's error (`policy-invalid`, ...) separately from unreadable input.
pub fn load(path: &Path) -> Result<Result<FleetPolicy, chainproof::Error>, UsageError> {
    let bytes = files::read(path, "the fleet policy")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError(format!("{}: the policy is not UTF-8 text", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))
    };
    Ok(FleetPolicy::from_toml(&text, &resolve))
}

fn expiry(not_after: i64, at: UnixTime) -> String {
    let days = (not_after - at.0).div_euclid(86_400);
    if not_after < at.0 {
        format!("expired {}", UnixTime(not_after))
    } else {
        format!("expires {} (in {days} days)", UnixTime(not_after))
    }
}

/// The summary `policy check` prints for a valid policy, judged at `at`.
pub fn summary(p: &FleetPolicy, at: UnixTime) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "policy OK: {} group(s), {} individual enrollment(s)",
        p.groups().len(),
        p.device_count()
    );
    for g in p.groups() {
        let _ = writeln!(
            s,
            "  group {:?}: {} anchor(s), {}, route {:?}{}{}",
            g.id,
            g.anchor_count(),
            if g.enabled { "enabled" } else { "DISABLED" },
            g.route,
            if g.tags.is_empty() {
                String::new()
            } else {
                format!(", tags [{}]", g.tags.join(", "))
            },
            g.device_id_pattern()
                .map_or_else(String::new, |p| format!(", devices {p:?}")),
        );
        for a in g.anchors() {
            let _ = writeln!(
                s,
                "    anchor {}: {}\n      sha-256 {}",
                a.subject(),
                expiry(a.not_after(), at),
                chainproof::cert::hex_upper(a.sha256())
            );
        }
    }
    let mut crls = p.crl_summaries();
    crls.sort_by(|a, b| a.issuer.cmp(&b.issuer));
    for c in &crls {
        let next = match c.next_update {
            Some(t) if t < at.0 => format!(
                "next update {} (STALE: {})",
                UnixTime(t),
                match p.stale_crl() {
                    chainproof::fleet::StaleCrl::Fail => "chains through it are rejected",
                    chainproof::fleet::StaleCrl::Allow => "used with a warning",
                }
            ),
            Some(t) => format!("next update {}", UnixTime(t)),
            None => "no next update".to_owned(),
        };
        let _ = writeln!(
            s,
            "  crl of {}: {next}, {} revoked{}",
            c.issuer,
            c.revoked,
            c.problem
                .as_ref()
                .map_or_else(String::new, |p| format!(", UNUSABLE: {p}"))
        );
    }
    for (ca, since) in p.compromised_cas() {
        let _ = writeln!(
            s,
            "  compromised CA sha-256 {ca}: refuses what it issued from {}",
            UnixTime(since)
        );
    }
    let c = p.counts();
    let _ = writeln!(
        s,
        "counts: {} group(s) ({} enabled), {} anchor(s), {} individual enrollment(s) ({} disabled), \
         {} CRL(s) with {} revoked entries, deny lists: {} device ID(s), {} thumbprint(s), \
         {} serial(s), {} issuer(s); {} compromised CA(s)",
        c.groups,
        c.enabled_groups,
        c.anchors,
        c.devices,
        c.disabled_devices,
        c.crls,
        c.crl_revoked_entries,
        c.deny_device_ids,
        c.deny_thumbprints,
        c.deny_serials,
        c.deny_issuers,
        c.compromised
    );
    s
}

/// One device chain found in the `--devices` directory.
struct Device {
    name: String,
    leaf: Vec<u8>,
    bag: Vec<Vec<u8>>,
}

/// Leaf first, then its chain.
fn split_chain(path: &Path, certs: Vec<Vec<u8>>) -> Result<(Vec<u8>, Vec<Vec<u8>>), UsageError> {
    let mut it = certs.into_iter();
    let leaf = it.next().ok_or_else(|| {
        UsageError(format!(
            "{}: no certificate in the device chain",
            path.display()
        ))
    })?;
    Ok((leaf, it.collect()))
}

/// The device chains in `dir` (sorted by name) and the subdirectories skipped because they hold
/// neither `chain.pem` nor `leaf.pem`.
fn read_devices(dir: &Path) -> Result<(Vec<Device>, Vec<String>), UsageError> {
    let unreadable = |e: std::io::Error| {
        UsageError(format!(
            "{}: cannot read the device directory: {e}",
            dir.display()
        ))
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    let mut devices = Vec::new();
    let mut skipped = Vec::new();
    for path in entries {
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            let chain = path.join("chain.pem");
            let leaf = path.join("leaf.pem");
            let (leaf, bag) = if chain.is_file() {
                split_chain(&chain, files::certificates(&chain, "a device chain")?)?
            } else if leaf.is_file() {
                let (leaf_der, mut bag) =
                    split_chain(&leaf, files::certificates(&leaf, "a device certificate")?)?;
                let inter = path.join("intermediates.pem");
                if inter.is_file() {
                    bag.extend(files::certificates(&inter, "intermediate certificates")?);
                }
                (leaf_der, bag)
            } else {
                skipped.push(name);
                continue;
            };
            devices.push(Device { name, leaf, bag });
        } else if path.extension().is_some_and(|e| e == "pem") {
            let (leaf, bag) = split_chain(&path, files::certificates(&path, "a device chain")?)?;
            devices.push(Device { name, leaf, bag });
        }
    }
    if devices.is_empty() {
        return Err(UsageError(format!(
            "{}: no device chains (subdirectories with chain.pem or leaf.pem, or *.pem files)",
            dir.display()
        )));
    }
    Ok((devices, skipped))
}

fn load_valid(path: &Path, which: &str) -> Result<FleetPolicy, UsageError> {
    load(path)?.map_err(|e| {
        UsageError(format!(
            "{}: the {which} policy is invalid: {e} [{}]",
            path.display(),
            e.code()
        ))
    })
}

fn describe(o: &DeviceOutcome) -> String {
    match o {
        DeviceOutcome::Accepted {
            enrollment, route, ..
        } => {
            let e = match enrollment {
                chainproof::Enrollment::Group(id) => format!("group {id}"),
                chainproof::Enrollment::Device(id) => format!("device {id}"),
            };
            format!("accepted ({e}, route {route})")
        }
        DeviceOutcome::Rejected { code, .. } => format!("rejected ({})", code.as_str()),
    }
}

fn diff_text(
    rows: &[(String, VerdictChange)],
    summary: &DiffSummary,
    skipped: &[String],
) -> String {
    let mut s = String::new();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, c) in rows.iter().filter(|(_, c)| c.change != Change::Unchanged) {
        let _ = writeln!(
            s,
            "{name:<width$}  {:<20}  {} -> {}",
            c.change.as_str(),
            describe(&c.old),
            describe(&c.new)
        );
        if let DeviceOutcome::Rejected { message, .. } = &c.new {
            let _ = writeln!(s, "{:width$}  {:<20}  {message}", "", "");
        }
    }
    let kinds: Vec<String> = Change::ALL
        .iter()
        .filter(|k| **k != Change::Unchanged)
        .map(|k| format!("{} {}", summary.count(*k), k.as_str()))
        .collect();
    let _ = writeln!(
        s,
        "{} of {} device(s) would change verdict: {}; {} unchanged",
        summary.changed(),
        summary.devices,
        kinds.join(", "),
        summary.count(Change::Unchanged)
    );
    let _ = writeln!(
        s,
        "accepted: {} under the old policy, {} under the new one",
        summary.accepted_before, summary.accepted_after
    );
    if !skipped.is_empty() {
        let _ = writeln!(
            s,
            "skipped (no chain.pem or leaf.pem): {}",
            skipped.join(", ")
        );
    }
    s
}

fn diff_json(
    rows: &[(String, VerdictChange)],
    summary: &DiffSummary,
    skipped: &[String],
) -> String {
    let by_change: serde_json::Map<String, serde_json::Value> = summary
        .by_change
        .iter()
        .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
        .collect();
    let value = json!({
        "devices": rows.iter().map(|(name, c)| json!({
            "device": name,
            "change": c.change,
            "old": c.old,
            "new": c.new,
        })).collect::<Vec<_>>(),
        "summary": {
            "devices": summary.devices,
            "changed": summary.changed(),
            "accepted_before": summary.accepted_before,
            "accepted_after": summary.accepted_after,
            "by_change": by_change,
        },
        "skipped": skipped,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn diff(
    old: &Path,
    new: &Path,
    devices: &Path,
    at: Option<UnixTime>,
    json: bool,
) -> Result<Outcome, UsageError> {
    let old_policy = load_valid(old, "old")?;
    let new_policy = load_valid(new, "new")?;
    let (devices, skipped) = read_devices(devices)?;
    let at = match at {
        Some(t) => t,
        None => verify::now()?,
    };
    let opts = VerifyOptions::new(at);
    let rows: Vec<(String, VerdictChange)> = devices
        .into_iter()
        .map(|d| {
            let c = compare(&old_policy, &new_policy, &d.leaf, &d.bag, &opts);
            (d.name, c)
        })
        .collect();
    let summary = DiffSummary::of(rows.iter().map(|(_, c)| c));
    emit(&if json {
        diff_json(&rows, &summary, &skipped)
    } else {
        diff_text(&rows, &summary, &skipped)
    });
    Ok(if summary.changed() == 0 {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

/// Run `chainproof policy ...`.
pub fn run(args: &PolicyArgs) -> Result<Outcome, UsageError> {
    match &args.command {
        PolicyCommand::Check { file, at } => match load(file)? {
            Ok(p) => {
                let at = match at {
                    Some(t) => *t,
                    None => verify::now()?,
                };
                emit(&summary(&p, at));
                Ok(Outcome::Ok)
            }
            Err(e) => {
                emit(&format!(
                    "INVALID\n{}: {}: {e}\nhint: {}\n",
                    e.code(),
                    file.display(),
                    e.hint()
                ));
                Ok(Outcome::Rejected)
            }
        },
        PolicyCommand::Diff {
            old,
            new,
            devices,
            at,
            json,
        } => diff(old, new, devices, *at, *json),
    }
}
