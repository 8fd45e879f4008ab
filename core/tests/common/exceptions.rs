//! The exceptions file: every deliberate divergence of chainproof from an oracle, with a reason.
//!
//! Format (one entry a line; `#` starts a comment; blank lines are ignored):
//!
//! ```text
//! limbo <case-id> <disagree|skip>: <reason>
//! limbo-feature <feature-tag> skip: <reason>
//! openssl <fixture-name> <disagree|skip>: <reason>
//! ```
//!
//! Parsing is strict: an unknown oracle or action, a missing reason or a duplicate entry is an
//! error naming the line, so a typo can never silently hide a divergence.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which oracle an entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oracle {
    /// One x509-limbo testcase, by id.
    Limbo,
    /// Every x509-limbo testcase carrying a feature tag.
    LimboFeature,
    /// One IoT fixture checked against the OpenSSL CLI.
    Openssl,
}

impl Oracle {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "limbo" => Some(Self::Limbo),
            "limbo-feature" => Some(Self::LimboFeature),
            "openssl" => Some(Self::Openssl),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Limbo => "limbo",
            Self::LimboFeature => "limbo-feature",
            Self::Openssl => "openssl",
        }
    }
}

/// What the entry allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The case is run and counted; a rejection where the oracle accepts is expected.
    Disagree,
    /// The case is not counted (it is still run, so a panic is still caught).
    Skip,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disagree => "disagree",
            Self::Skip => "skip",
        })
    }
}

/// One entry of the file.
#[derive(Clone, Debug)]
pub struct Exception {
    /// What the entry allows.
    pub action: Action,
    /// Why, in plain words (never empty).
    pub reason: String,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// The parsed file, keyed by oracle and subject (case id, feature tag or fixture name).
#[derive(Clone, Debug, Default)]
pub struct Exceptions {
    entries: BTreeMap<(Oracle, String), Exception>,
}

impl Exceptions {
    /// Where the file lives: next to the test targets of the core crate.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("exceptions.txt")
    }

    /// Read and parse the file at `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse the text of an exceptions file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |what: &str| format!("line {line_no}: {what}: {line:?}");
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(oracle), Some(subject), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected `<oracle> <subject> <action>: <reason>`"));
            };
            let oracle = Oracle::parse(oracle)
                .ok_or_else(|| err("unknown oracle (limbo, limbo-feature or openssl)"))?;
            let (action, reason) = rest
                .trim_start()
                .split_once(':')
                .ok_or_else(|| err("missing `:` after the action"))?;
            let action = match action.trim() {
                "disagree" => Action::Disagree,
                "skip" => Action::Skip,
                _ => return Err(err("unknown action (disagree or skip)")),
            };
            if oracle == Oracle::LimboFeature && action != Action::Skip {
                return Err(err("a limbo-feature entry can only skip"));
            }
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(err("every entry needs a reason"));
            }
            let key = (oracle, subject.to_owned());
            if let Some(previous) = out.entries.get(&key) {
                return Err(err(&format!("duplicate of line {}", previous.line)));
            }
            let entry = Exception {
                action,
                reason: reason.to_owned(),
                line: line_no,
            };
            out.entries.insert(key, entry);
        }
        Ok(out)
    }

    /// The entry for `subject` under `oracle`, if any.
    pub fn get(&self, oracle: Oracle, subject: &str) -> Option<&Exception> {
        self.entries.get(&(oracle, subject.to_owned()))
    }

    /// Every entry under `oracle`, as (subject, entry).
    pub fn for_oracle(&self, oracle: Oracle) -> impl Iterator<Item = (&str, &Exception)> {
        self.entries
            .iter()
            .filter(move |((o, _), _)| *o == oracle)
            .map(|((_, s), e)| (s.as_str(), e))
    }

    /// Every entry, for the well-formedness test.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &str, &Exception)> {
        self.entries
            .iter()
            .map(|((o, s), e)| (o.as_str(), s.as_str(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_with_colons_and_rejects_bad_lines() {
        let text = "# c\n\nlimbo rfc5280::ca-as-leaf disagree: CA leaves refused\n\
                    limbo-feature has-crl skip: no CRLs\nopenssl dev-1 disagree: x: y\n";
        let ex = Exceptions::parse(text).expect("valid text parses");
        let e = ex
            .get(Oracle::Limbo, "rfc5280::ca-as-leaf")
            .expect("entry present");
        assert_eq!(
            (e.action, e.reason.as_str(), e.line),
            (Action::Disagree, "CA leaves refused", 3)
        );
        assert_eq!(
            ex.get(Oracle::Openssl, "dev-1").map(|e| e.reason.as_str()),
            Some("x: y")
        );
        for bad in [
            "limbo a::b disagree:",
            "limbo a::b disagree",
            "limbo a::b maybe: r",
            "pkits a disagree: r",
            "limbo-feature x disagree: r",
            "limbo a::b",
            "limbo a skip: r\nlimbo a disagree: r",
        ] {
            assert!(Exceptions::parse(bad).is_err(), "{bad:?} must not parse");
        }
    }
}
