//! Write the fixture set (and the demo fleet) to a directory, for tools that take files.
//!
//! Usage: `chainproof-fixtures OUT_DIR [--now UNIX_SECS] [--seed N] [--demo]`
//! Without `--now` the current time is used; with `--demo` the demo fleet is written instead.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: chainproof-fixtures OUT_DIR [--now UNIX_SECS] [--seed N] [--demo]";

fn main() -> ExitCode {
    let mut out: Option<PathBuf> = None;
    let mut now: Option<i64> = None;
    let mut seed = chainproof_testkit::DEFAULT_SEED;
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let ok = match arg.as_str() {
            "--now" => {
                now = args.next().and_then(|v| v.parse().ok());
                now.is_some()
            }
            "--seed" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => {
                    seed = v;
                    true
                }
                None => false,
            },
            "--demo" => {
                demo = true;
                true
            }
            _ if out.is_none() && !arg.starts_with('-') => {
                out = Some(arg.into());
                true
            }
            _ => false,
        };
        if !ok {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(out) = out else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // The clock is read here only: the library takes time as an argument.
    let now = now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let result = if demo {
        chainproof_testkit::demo_pki(now).write_to(&out)
    } else {
        let fixtures = chainproof_testkit::iot_fixtures_with_seed(seed, now);
        chainproof_testkit::write_fixtures(&out, &fixtures)
    };
    match result {
        Ok(()) => {
            println!("wrote fixtures to {} (now = {now})", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
