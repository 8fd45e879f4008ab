//! `chainproof fixtures`: write the testkit's generated device PKIs to try the CLI on.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use chainproof::UnixTime;
use chainproof_testkit::{Fixture, demo_pki, fleet_example, iot_fixtures, write_fixtures};
use clap::Args;

use super::{Outcome, UsageError, emit, verify};

/// Arguments of `chainproof fixtures`.
#[derive(Args, Debug)]
pub struct FixturesArgs {
    /// Directory to write into (created if missing): one subdirectory per fixture, plus the
    /// demo fleet in `demo/` and the README's fleet policy example in `fleet-example/`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Time the certificates are made valid around (Unix seconds or RFC 3339); verify them
    /// with the same --at. Default: now. The same time always gives the same files.
    #[arg(long, value_name = "TIME", value_parser = UnixTime::parse)]
    pub at: Option<UnixTime>,
}

fn write_error(dir: &Path, e: &std::io::Error) -> UsageError {
    UsageError(format!("{}: cannot write fixtures: {e}", dir.display()))
}

fn verdict(f: &Fixture) -> &'static str {
    f.expected_code.unwrap_or("ok")
}

/// Run `chainproof fixtures`.
pub fn run(args: &FixturesArgs) -> Result<Outcome, UsageError> {
    let at = match args.at {
        Some(t) => t,
        None => verify::now()?,
    };
    let fixtures = iot_fixtures(at.0);
    write_fixtures(&args.out, &fixtures).map_err(|e| write_error(&args.out, &e))?;
    let demo_dir = args.out.join("demo");
    let demo = demo_pki(at.0);
    demo.write_to(&demo_dir)
        .map_err(|e| write_error(&demo_dir, &e))?;

    let example_dir = args.out.join("fleet-example");
    let example = fleet_example(at.0);
    example
        .write_to(&example_dir)
        .map_err(|e| write_error(&example_dir, &e))?;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "wrote {} fixtures, the demo fleet ({} devices) and the fleet policy example ({} devices) to {}, valid at {at} (--at {})",
        fixtures.len(),
        demo.devices.len(),
        example.devices.len(),
        args.out.display(),
        at.0
    );
    let rows: Vec<(String, &Fixture)> = fixtures
        .iter()
        .map(|f| (f.name.to_owned(), f))
        .chain(
            demo.devices
                .iter()
                .map(|d| (format!("demo/devices/{}", d.name), d)),
        )
        .chain(
            example
                .devices
                .iter()
                .map(|d| (format!("fleet-example/devices/{}", d.name), d)),
        )
        .collect();
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let code_width = rows
        .iter()
        .map(|(_, f)| verdict(f).len())
        .max()
        .unwrap_or(0);
    for (name, f) in &rows {
        let _ = writeln!(
            s,
            "  {name:<width$}  {:<code_width$}  {}",
            verdict(f),
            f.description
        );
    }
    if let Some(first) = fixtures.first() {
        let dir = args.out.join(first.name);
        let _ = writeln!(
            s,
            "try:\n  chainproof verify --at {} --trust {} --untrusted {} {}",
            at.0,
            dir.join("anchors.pem").display(),
            dir.join("intermediates.pem").display(),
            dir.join("leaf.pem").display()
        );
    }
    emit(&s);
    Ok(Outcome::Ok)
}
