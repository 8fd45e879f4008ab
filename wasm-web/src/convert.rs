//! Core results to JavaScript values, and the thrown error object.

use chainproof::{Error, Failure};
use serde::Serialize;
use wasm_bindgen::JsValue;

/// The verdict object shared with the CLI's `--json`: `{valid, reason, report, error}` where
/// `reason` is `ok` or the failure's code.
#[derive(Debug, Serialize)]
pub struct JsonVerdict<T> {
    /// Whether the core accepted.
    pub valid: bool,
    /// `ok`, or the stable error code.
    pub reason: &'static str,
    /// The core's report when accepted.
    pub report: Option<T>,
    /// The core's failure (code, message, hint, depth, subject, attempts) when rejected.
    pub error: Option<Failure>,
}

impl<T> JsonVerdict<T> {
    /// Wrap a core result.
    pub fn of(result: Result<T, Failure>) -> Self {
        match result {
            Ok(report) => Self {
                valid: true,
                reason: "ok",
                report: Some(report),
                error: None,
            },
            Err(failure) => Self {
                valid: false,
                reason: failure.code().as_str(),
                report: None,
                error: Some(failure),
            },
        }
    }
}

/// An input the module cannot use (thrown to JavaScript as `{code, message, hint}`), the
/// browser's counterpart of the CLI's exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageFailure {
    /// The core's error code, or `usage` for a malformed call.
    pub code: String,
    /// What is wrong, naming the input.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl UsageFailure {
    /// A malformed call (missing option, wrong nonce length).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: "usage".into(),
            message: message.into(),
            hint: "This is a bug in the page calling the module; reload it.".into(),
        }
    }

    /// A defect of the module itself, never a verdict (verification rounds that do not end).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: "internal".into(),
            message: message.into(),
            hint: "This is a bug in chainproof; verify() gives the verdict without WebCrypto."
                .into(),
        }
    }

    /// A core error about input `what`.
    pub fn input(what: &str, e: &Error) -> Self {
        Self {
            code: e.code().as_str().into(),
            message: format!("{what}: {e}"),
            hint: e.hint(),
        }
    }
}

impl From<UsageFailure> for JsValue {
    fn from(f: UsageFailure) -> Self {
        to_js(&f).unwrap_or_else(|_| JsValue::from_str(&f.message))
    }
}

/// Serialize for JavaScript: plain objects (not `Map`s) and `null` for `None`, so
/// `JSON.stringify` gives the same JSON as `serde_json` does for the CLI.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let serializer = serde_wasm_bindgen::Serializer::new()
        .serialize_missing_as_null(true)
        .serialize_maps_as_objects(true);
    value
        .serialize(&serializer)
        .map_err(|e| JsValue::from_str(&format!("cannot convert a result for JavaScript: {e}")))
}

/// Unix seconds from a JavaScript number (the page's clock), rounded down like the CLI's `--at`.
pub fn seconds(t: f64) -> Result<i64, JsValue> {
    // 2^53: beyond it a JavaScript number no longer holds whole seconds exactly.
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if t.is_finite() && t.abs() <= MAX_SAFE {
        // In range and finite: the cast is exact after floor().
        Ok(t.floor() as i64)
    } else {
        Err(UsageFailure::usage(format!("{t} is not a time in Unix seconds")).into())
    }
}
