//! The documentation that is derived from code stays in step with it.
//!
//! `docs/errors.md` holds a table generated from `ErrorCode::ALL`; after changing the codes, run
//! `UPDATE_DOCS=1 cargo test -p chainproof-gateway --test docs` to rewrite it.

use std::path::PathBuf;
use std::process::Command;

use chainproof::ErrorCode;

const BEGIN: &str = "<!-- BEGIN GENERATED: error codes -->\n";
const END: &str = "<!-- END GENERATED -->";

fn docs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name)
}

fn codes_table() -> String {
    let mut t = String::from("| Code | Returned when |\n| --- | --- |\n");
    for c in ErrorCode::ALL {
        t.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.describe()));
    }
    t
}

#[test]
fn errors_md_lists_every_code() {
    let path = docs("errors.md");
    let text = std::fs::read_to_string(&path).expect("docs/errors.md exists");
    let start = text
        .find(BEGIN)
        .expect("docs/errors.md has the BEGIN GENERATED marker")
        + BEGIN.len();
    let end = text[start..]
        .find(END)
        .expect("docs/errors.md has the END GENERATED marker")
        + start;
    let want = codes_table();
    if text[start..end] == want {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &text[..start], want, &text[end..]);
        std::fs::write(&path, updated).expect("rewrite docs/errors.md");
        return;
    }
    panic!(
        "docs/errors.md is out of date with ErrorCode::ALL; run \
         `UPDATE_DOCS=1 cargo test -p chainproof-gateway --test docs`"
    );
}

#[test]
fn cli_md_documents_every_option() {
    let cli_md = std::fs::read_to_string(docs("cli.md")).expect("docs/cli.md exists");
    for sub in [
        "verify",
        "inspect",
        "fixtures",
        "policy check",
        "policy diff",
        "device serve",
        "loadtest",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_chainproof"))
            .args(sub.split(' '))
            .arg("--help")
            .output()
            .expect("run chainproof --help");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for word in help.split_whitespace() {
            let option = word.trim_end_matches([',', '.']);
            if option.starts_with("--")
                && option.len() > 2
                && option != "--help"
                && option != "--version"
            {
                assert!(
                    cli_md.contains(option),
                    "docs/cli.md does not mention `{sub} {option}`"
                );
            }
        }
    }
}
