//! The policy file's layout: the TOML tree (`toml::de::DeTable`, every key and value with its
//! span) read by hand into the raw policy that [`FleetPolicy::from_toml`] then checks.
//!
//! A hand-written reader rather than serde's derive: the derive instantiates toml's
//! deserializers once per field type, which was about a sixth of the browser module
//! (docs/web.md, Size). The words follow serde's (`unknown field`, `missing field`,
//! `invalid type: …, expected …`), with TOML's names for types (array, table) and the field's
//! path, so a typo names what the file should say instead.
//!
//! Keys are read in the tree's order (sorted by key), so when a table has several mistakes the
//! first reported is the same on every host.
//!
//! [`FleetPolicy::from_toml`]: super::FleetPolicy::from_toml

use std::fmt::Write as _;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Value<'i> = Spanned<DeValue<'i>>;

/// Why the text is not a policy: where (`None` for the rare TOML error without a position),
/// the field's path, and what is wrong.
pub(super) struct ReadError {
    pub span: Option<Range<usize>>,
    pub field: Option<&'static str>,
    pub detail: String,
}

#[cfg_attr(test, derive(Debug))]
pub(super) struct RawPolicy {
    pub version: Spanned<u32>,
    pub group: Vec<RawGroup>,
    pub device: Vec<RawDevice>,
    pub revocation: RawRevocation,
}

#[cfg_attr(test, derive(Debug))]
pub(super) struct RawGroup {
    pub id: Spanned<String>,
    pub anchors: Option<Spanned<String>>,
    pub anchors_file: Option<Spanned<String>>,
    pub enabled: bool,
    pub device_id_pattern: Option<Spanned<String>>,
    pub allowed_key_types: Option<Vec<Spanned<String>>>,
    pub max_lifetime_days: Option<Spanned<u32>>,
    pub tags: Vec<String>,
    pub route: Option<String>,
}

#[cfg_attr(test, derive(Debug))]
pub(super) struct RawDevice {
    pub id: Spanned<String>,
    pub primary_thumbprint: Option<Spanned<String>>,
    pub secondary_thumbprint: Option<Spanned<String>>,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub route: Option<String>,
}

#[derive(Default)]
#[cfg_attr(test, derive(Debug))]
pub(super) struct RawRevocation {
    pub deny_device_ids: Vec<String>,
    pub deny_thumbprints: Vec<Spanned<String>>,
    pub deny_serials: Vec<Spanned<RawSerial>>,
    pub deny_serial_batch: Vec<RawSerialBatch>,
    pub deny_issuers: Vec<Spanned<String>>,
    pub compromised: Vec<RawCompromised>,
    pub crl_files: Vec<Spanned<String>>,
    pub stale_crl: Option<Spanned<String>>,
}

#[cfg_attr(test, derive(Debug))]
pub(super) struct RawSerial {
    pub issuer_sha256: Option<String>,
    pub issuer: Option<String>,
    pub serial: String,
}

/// Many serials of one issuer: the compact form for a revoked batch (a tenth of the text of
/// one `deny_serials` table per serial, and far faster to parse).
#[cfg_attr(test, derive(Debug))]
pub(super) struct RawSerialBatch {
    pub issuer_sha256: Option<Spanned<String>>,
    pub issuer: Option<Spanned<String>>,
    pub serials: Spanned<Vec<Spanned<String>>>,
}

#[cfg_attr(test, derive(Debug))]
pub(super) struct RawCompromised {
    pub ca_sha256: Spanned<String>,
    /// The text of a string, or a TOML date-time as RFC 3339 text; `Err` names the type found
    /// ("an integer").
    pub since: Spanned<Result<String, &'static str>>,
}

/// Parse `text` as TOML and read it as a policy.
pub(super) fn read(text: &str) -> Result<RawPolicy, ReadError> {
    let root = DeTable::parse(text).map_err(|e| ReadError {
        span: e.span(),
        field: None,
        detail: e.message().trim().to_owned(),
    })?;
    let span = root.span();
    policy(root.get_ref(), span)
}

const POLICY_FIELDS: &[&str] = &["version", "group", "device", "revocation"];
const GROUP_FIELDS: &[&str] = &[
    "id",
    "anchors",
    "anchors_file",
    "enabled",
    "device_id_pattern",
    "allowed_key_types",
    "max_lifetime_days",
    "tags",
    "route",
];
const DEVICE_FIELDS: &[&str] = &[
    "id",
    "primary_thumbprint",
    "secondary_thumbprint",
    "enabled",
    "tags",
    "route",
];
const REVOCATION_FIELDS: &[&str] = &[
    "deny_device_ids",
    "deny_thumbprints",
    "deny_serials",
    "deny_serial_batch",
    "deny_issuers",
    "compromised",
    "crl_files",
    "stale_crl",
];
const SERIAL_FIELDS: &[&str] = &["issuer_sha256", "issuer", "serial"];
const BATCH_FIELDS: &[&str] = &["issuer_sha256", "issuer", "serials"];
const COMPROMISED_FIELDS: &[&str] = &["ca_sha256", "since"];

fn policy(t: &DeTable<'_>, span: Range<usize>) -> Result<RawPolicy, ReadError> {
    let mut version = None;
    let mut group = Vec::new();
    let mut device = Vec::new();
    let mut revocation = RawRevocation::default();
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "version" => version = Some(uint32(v, "version")?),
            "group" => group = tables(v, "group", self::group)?,
            "device" => device = tables(v, "device", self::device)?,
            "revocation" => revocation = self::revocation(table(v, "revocation")?.0)?,
            _ => return Err(unknown(key, None, POLICY_FIELDS)),
        }
    }
    Ok(RawPolicy {
        version: required(version, &span, None, "version")?,
        group,
        device,
        revocation,
    })
}

fn group(t: &DeTable<'_>, span: Range<usize>) -> Result<RawGroup, ReadError> {
    let mut id = None;
    let mut g = RawGroup {
        id: Spanned::new(0..0, String::new()),
        anchors: None,
        anchors_file: None,
        enabled: true,
        device_id_pattern: None,
        allowed_key_types: None,
        max_lifetime_days: None,
        tags: Vec::new(),
        route: None,
    };
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "id" => id = Some(string(v, "group.id")?),
            "anchors" => g.anchors = Some(string(v, "group.anchors")?),
            "anchors_file" => g.anchors_file = Some(string(v, "group.anchors_file")?),
            "enabled" => g.enabled = boolean(v, "group.enabled")?,
            "device_id_pattern" => {
                g.device_id_pattern = Some(string(v, "group.device_id_pattern")?);
            }
            "allowed_key_types" => {
                g.allowed_key_types = Some(strings(v, "group.allowed_key_types")?.into_inner());
            }
            "max_lifetime_days" => {
                g.max_lifetime_days = Some(uint32(v, "group.max_lifetime_days")?);
            }
            "tags" => g.tags = plain(strings(v, "group.tags")?),
            "route" => g.route = Some(string(v, "group.route")?.into_inner()),
            _ => return Err(unknown(key, Some("group"), GROUP_FIELDS)),
        }
    }
    g.id = required(id, &span, Some("group"), "id")?;
    Ok(g)
}

fn device(t: &DeTable<'_>, span: Range<usize>) -> Result<RawDevice, ReadError> {
    let mut id = None;
    let mut d = RawDevice {
        id: Spanned::new(0..0, String::new()),
        primary_thumbprint: None,
        secondary_thumbprint: None,
        enabled: true,
        tags: Vec::new(),
        route: None,
    };
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "id" => id = Some(string(v, "device.id")?),
            "primary_thumbprint" => {
                d.primary_thumbprint = Some(string(v, "device.primary_thumbprint")?);
            }
            "secondary_thumbprint" => {
                d.secondary_thumbprint = Some(string(v, "device.secondary_thumbprint")?);
            }
            "enabled" => d.enabled = boolean(v, "device.enabled")?,
            "tags" => d.tags = plain(strings(v, "device.tags")?),
            "route" => d.route = Some(string(v, "device.route")?.into_inner()),
            _ => return Err(unknown(key, Some("device"), DEVICE_FIELDS)),
        }
    }
    d.id = required(id, &span, Some("device"), "id")?;
    Ok(d)
}

fn revocation(t: &DeTable<'_>) -> Result<RawRevocation, ReadError> {
    let mut r = RawRevocation::default();
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "deny_device_ids" => {
                r.deny_device_ids = plain(strings(v, "revocation.deny_device_ids")?);
            }
            "deny_thumbprints" => {
                r.deny_thumbprints = strings(v, "revocation.deny_thumbprints")?.into_inner();
            }
            "deny_serials" => {
                let field = "revocation.deny_serials";
                r.deny_serials = tables(v, field, |t, span| {
                    Ok(Spanned::new(span.clone(), serial(t, span)?))
                })?;
            }
            "deny_serial_batch" => {
                let field = "revocation.deny_serial_batch";
                r.deny_serial_batch = tables(v, field, batch)?;
            }
            "deny_issuers" => r.deny_issuers = strings(v, "revocation.deny_issuers")?.into_inner(),
            "compromised" => {
                let field = "revocation.compromised";
                r.compromised = tables(v, field, compromised)?;
            }
            "crl_files" => r.crl_files = strings(v, "revocation.crl_files")?.into_inner(),
            "stale_crl" => r.stale_crl = Some(string(v, "revocation.stale_crl")?),
            _ => return Err(unknown(key, Some("revocation"), REVOCATION_FIELDS)),
        }
    }
    Ok(r)
}

fn serial(t: &DeTable<'_>, span: Range<usize>) -> Result<RawSerial, ReadError> {
    let field = Some("revocation.deny_serials");
    let (mut issuer_sha256, mut issuer, mut serial) = (None, None, None);
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "issuer_sha256" => {
                issuer_sha256 =
                    Some(string(v, "revocation.deny_serials.issuer_sha256")?.into_inner());
            }
            "issuer" => issuer = Some(string(v, "revocation.deny_serials.issuer")?.into_inner()),
            "serial" => serial = Some(string(v, "revocation.deny_serials.serial")?.into_inner()),
            _ => return Err(unknown(key, field, SERIAL_FIELDS)),
        }
    }
    Ok(RawSerial {
        issuer_sha256,
        issuer,
        serial: required(serial, &span, field, "serial")?,
    })
}

fn batch(t: &DeTable<'_>, span: Range<usize>) -> Result<RawSerialBatch, ReadError> {
    let field = Some("revocation.deny_serial_batch");
    let (mut issuer_sha256, mut issuer, mut serials) = (None, None, None);
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "issuer_sha256" => {
                issuer_sha256 = Some(string(v, "revocation.deny_serial_batch.issuer_sha256")?);
            }
            "issuer" => issuer = Some(string(v, "revocation.deny_serial_batch.issuer")?),
            "serials" => serials = Some(strings(v, "revocation.deny_serial_batch.serials")?),
            _ => return Err(unknown(key, field, BATCH_FIELDS)),
        }
    }
    Ok(RawSerialBatch {
        issuer_sha256,
        issuer,
        serials: required(serials, &span, field, "serials")?,
    })
}

fn compromised(t: &DeTable<'_>, span: Range<usize>) -> Result<RawCompromised, ReadError> {
    let field = Some("revocation.compromised");
    let (mut ca_sha256, mut since) = (None, None);
    for (key, v) in t.iter() {
        match key.get_ref().as_ref() {
            "ca_sha256" => ca_sha256 = Some(string(v, "revocation.compromised.ca_sha256")?),
            "since" => {
                let text = match v.get_ref() {
                    DeValue::String(s) => Ok(s.to_string()),
                    DeValue::Datetime(d) => Ok(d.to_string()),
                    other => Err(a_type(other)),
                };
                since = Some(Spanned::new(v.span(), text));
            }
            _ => return Err(unknown(key, field, COMPROMISED_FIELDS)),
        }
    }
    Ok(RawCompromised {
        ca_sha256: required(ca_sha256, &span, field, "ca_sha256")?,
        since: required(since, &span, field, "since")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Values.

fn string(v: &Value<'_>, field: &'static str) -> Result<Spanned<String>, ReadError> {
    match v.get_ref() {
        DeValue::String(s) => Ok(Spanned::new(v.span(), s.to_string())),
        _ => Err(invalid_type(v, field, "a string")),
    }
}

fn boolean(v: &Value<'_>, field: &'static str) -> Result<bool, ReadError> {
    match v.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        _ => Err(invalid_type(v, field, "a boolean")),
    }
}

const U32_RANGE: &str = "an integer from 0 to 4294967295";

fn uint32(v: &Value<'_>, field: &'static str) -> Result<Spanned<u32>, ReadError> {
    let DeValue::Integer(i) = v.get_ref() else {
        return Err(invalid_type(v, field, U32_RANGE));
    };
    // The parser has checked the digits (TOML allows `-0` and `+5`); only the range is left.
    i128::from_str_radix(i.as_str(), i.radix())
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .map(|n| Spanned::new(v.span(), n))
        .ok_or_else(|| ReadError {
            span: Some(v.span()),
            field: Some(field),
            detail: format!(
                "invalid value: {}, expected {U32_RANGE}",
                found(v.get_ref())
            ),
        })
}

/// An array of strings, with the array's span.
fn strings(v: &Value<'_>, field: &'static str) -> Result<Spanned<Vec<Spanned<String>>>, ReadError> {
    let DeValue::Array(items) = v.get_ref() else {
        return Err(invalid_type(v, field, "an array of strings"));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        out.push(string(item, field)?);
    }
    Ok(Spanned::new(v.span(), out))
}

fn plain(list: Spanned<Vec<Spanned<String>>>) -> Vec<String> {
    list.into_inner()
        .into_iter()
        .map(Spanned::into_inner)
        .collect()
}

fn table<'t, 'i>(
    v: &'t Value<'i>,
    field: &'static str,
) -> Result<(&'t DeTable<'i>, Range<usize>), ReadError> {
    match v.get_ref() {
        DeValue::Table(t) => Ok((t, v.span())),
        _ => Err(invalid_type(v, field, "a table")),
    }
}

/// An array of tables (`[[name]]` sections, or an array of inline tables), each read by
/// `read`.
fn tables<'i, T>(
    v: &Value<'i>,
    field: &'static str,
    read: impl Fn(&DeTable<'i>, Range<usize>) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let DeValue::Array(items) = v.get_ref() else {
        return Err(invalid_type(v, field, "an array of tables"));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        let (t, span) = table(item, field)?;
        out.push(read(t, span)?);
    }
    Ok(out)
}

fn required<T>(
    value: Option<T>,
    table_span: &Range<usize>,
    table: Option<&'static str>,
    name: &'static str,
) -> Result<T, ReadError> {
    value.ok_or_else(|| ReadError {
        span: Some(table_span.clone()),
        field: table,
        detail: format!("missing field `{name}`"),
    })
}

fn unknown(
    key: &Spanned<std::borrow::Cow<'_, str>>,
    table: Option<&'static str>,
    expected: &[&str],
) -> ReadError {
    let mut detail = format!("unknown field `{}`, expected ", key.get_ref());
    match expected {
        [one] => {
            let _ = write!(detail, "`{one}`");
        }
        [a, b] => {
            let _ = write!(detail, "`{a}` or `{b}`");
        }
        _ => {
            detail.push_str("one of ");
            for (i, name) in expected.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(detail, "{sep}`{name}`");
            }
        }
    }
    ReadError {
        span: Some(key.span()),
        field: table,
        detail,
    }
}

fn invalid_type(v: &Value<'_>, field: &'static str, expected: &str) -> ReadError {
    ReadError {
        span: Some(v.span()),
        field: Some(field),
        detail: format!("invalid type: {}, expected {expected}", found(v.get_ref())),
    }
}

/// A value's type with its article, for "found an array".
fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// What a value is, in the words of an error message: `string "abc"`, `integer 5`, `array`.
fn found(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => match i.radix() {
            10 => format!("integer `{}`", i.as_str()),
            16 => format!("integer `0x{}`", i.as_str()),
            8 => format!("integer `0o{}`", i.as_str()),
            _ => format!("integer `0b{}`", i.as_str()),
        },
        DeValue::Float(f) => format!("float `{}`", f.as_str()),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Datetime(d) => format!("date-time `{d}`"),
        DeValue::Array(_) => "array".to_owned(),
        DeValue::Table(_) => "table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    //! The reader against the serde derive it replaced (kept here, and only here, as the
    //! oracle): the same tree for every policy both accept, and over thousands of damaged
    //! policies the same verdict and the same line for the first error.

    use super::*;

    /// The raw policy as serde's derive read it before `file.rs` (the same names, so the two
    /// print the same `Debug` text when they agree). Its fields are read through `Debug` only.
    #[allow(dead_code)]
    mod serde_path {
        use serde::Deserialize;
        use toml::Spanned;

        fn yes() -> bool {
            true
        }

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        pub struct RawPolicy {
            version: Spanned<u32>,
            #[serde(default)]
            group: Vec<RawGroup>,
            #[serde(default)]
            device: Vec<RawDevice>,
            #[serde(default)]
            revocation: RawRevocation,
        }

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct RawGroup {
            id: Spanned<String>,
            anchors: Option<Spanned<String>>,
            anchors_file: Option<Spanned<String>>,
            #[serde(default = "yes")]
            enabled: bool,
            device_id_pattern: Option<Spanned<String>>,
            allowed_key_types: Option<Vec<Spanned<String>>>,
            max_lifetime_days: Option<Spanned<u32>>,
            #[serde(default)]
            tags: Vec<String>,
            route: Option<String>,
        }

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct RawDevice {
            id: Spanned<String>,
            primary_thumbprint: Option<Spanned<String>>,
            secondary_thumbprint: Option<Spanned<String>>,
            #[serde(default = "yes")]
            enabled: bool,
            #[serde(default)]
            tags: Vec<String>,
            route: Option<String>,
        }

        #[derive(Deserialize, Default, Debug)]
        #[serde(deny_unknown_fields)]
        struct RawRevocation {
            #[serde(default)]
            deny_device_ids: Vec<String>,
            #[serde(default)]
            deny_thumbprints: Vec<Spanned<String>>,
            #[serde(default)]
            deny_serials: Vec<Spanned<RawSerial>>,
            #[serde(default)]
            deny_serial_batch: Vec<RawSerialBatch>,
            #[serde(default)]
            deny_issuers: Vec<Spanned<String>>,
            #[serde(default)]
            compromised: Vec<RawCompromised>,
            #[serde(default)]
            crl_files: Vec<Spanned<String>>,
            stale_crl: Option<Spanned<String>>,
        }

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct RawSerial {
            issuer_sha256: Option<String>,
            issuer: Option<String>,
            serial: String,
        }

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct RawSerialBatch {
            issuer_sha256: Option<Spanned<String>>,
            issuer: Option<Spanned<String>>,
            serials: Spanned<Vec<Spanned<String>>>,
        }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawCompromised {
            ca_sha256: Spanned<String>,
            since: Spanned<toml::Value>,
        }

        impl RawPolicy {
            /// Where `FleetPolicy::from_toml` refused a `since` that is neither a string nor a
            /// date-time, right after reading the file.
            pub fn since_refused(&self) -> Option<std::ops::Range<usize>> {
                self.revocation
                    .compromised
                    .iter()
                    .find(|c| {
                        !matches!(
                            c.since.get_ref(),
                            toml::Value::String(_) | toml::Value::Datetime(_)
                        )
                    })
                    .map(|c| c.since.span())
            }
        }

        impl std::fmt::Debug for RawCompromised {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // What `FleetPolicy::from_toml` made of `since` before: the text of a string
                // or a date-time, or the name of any other type.
                let since = match self.since.get_ref() {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Datetime(d) => Ok(d.to_string()),
                    toml::Value::Integer(_) => Err("an integer"),
                    toml::Value::Float(_) => Err("a float"),
                    toml::Value::Boolean(_) => Err("a boolean"),
                    toml::Value::Array(_) => Err("an array"),
                    toml::Value::Table(_) => Err("a table"),
                };
                f.debug_struct("RawCompromised")
                    .field("ca_sha256", &self.ca_sha256)
                    .field("since", &Spanned::new(self.since.span(), since))
                    .finish()
            }
        }
    }

    const H64: &str = "3F9A000000000000000000000000000000000000000000000000000000000001";

    fn seeds() -> Vec<String> {
        let full = format!(
            r#"version = 1

[[group]]
id = "acme-factory"
anchors_file = "acme-root.pem"
device_id_pattern = "sensor-????"
allowed_key_types = ["p256", "ed25519"]
max_lifetime_days = 3650
tags = ["line-a", "eu"]
route = "telemetry-eu"

[[group]]
id = "legacy"
anchors = '''-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----'''
enabled = false

[[device]]
id = "cam-01"
primary_thumbprint = "{H64}"
secondary_thumbprint = "A1B2000000000000000000000000000000000001"
tags = []
route = "cams"

[[device]]
id = "sensor-0002"
enabled = false

[revocation]
deny_device_ids = ["sensor-0666", "sensor-0667"]
deny_thumbprints = ["{H64}"]
deny_serials = [
  {{ issuer_sha256 = "{H64}", serial = "0177" }},
  {{ issuer = "CN=Acme Factory CA,O=Acme", serial = "01:88" }},
]
deny_issuers = ["{H64}"]
crl_files = ["factory.crl", "root.crl"]
stale_crl = "fail"

[[revocation.deny_serial_batch]]
issuer_sha256 = "{H64}"
serials = ["1000A1", "1000A2", "1000A3"]

[[revocation.deny_serial_batch]]
issuer = "CN=Old CA"
serials = []

[[revocation.compromised]]
ca_sha256 = "{H64}"
since = 2025-12-22T00:00:00Z

[[revocation.compromised]]
ca_sha256 = "{H64}"
since = "2025-12-22T00:00:00Z"
"#
        );
        let inline = format!(
            "version = +1\ngroup = [{{ id = \"a\", anchors = \"x\", max_lifetime_days = 0x10 }}, \
             {{ id = \"b\", anchors_file = \"b.pem\", max_lifetime_days = -0 }}]\n\
             device = [{{ id = \"d\", enabled = true }}]\n\
             revocation.stale_crl = \"allow\"\n\
             revocation.deny_serials = [{{ serial = \"01\", issuer = \"CN=A\" }}]\n\
             [[revocation.compromised]]\nca_sha256 = \"{H64}\"\nsince = 1979-05-27\n"
        );
        let dotted = "version = 1_0\n[revocation]\ncompromised = [{ ca_sha256 = \"x\", \
                      since = 12 }, { ca_sha256 = \"y\", since = [1] }]\n"
            .to_owned();
        vec![
            full,
            inline,
            dotted,
            "version = 1\n".to_owned(),
            String::new(),
        ]
    }

    /// Values to put in place of each value of a seed: every TOML type, and integers at the
    /// edges of u32.
    const VALUES: &[&str] = &[
        "\"text\"",
        "''",
        "0",
        "-1",
        "4294967295",
        "4294967296",
        "99999999999999999999999",
        "0b101",
        "0o17",
        "1.5",
        "inf",
        "true",
        "1979-05-27T07:32:00Z",
        "07:32:00",
        "[]",
        "[\"a\", 1]",
        "[\"a\", \"b\"]",
        "[{ serial = \"01\" }]",
        "{}",
        "{ id = \"x\" }",
    ];

    /// Every damaged variant of `seed` the test tries.
    fn variants(seed: &str) -> Vec<String> {
        let mut out = vec![seed.to_owned()];
        let lines: Vec<&str> = seed.lines().collect();
        for i in 0..lines.len() {
            // A line dropped, or doubled.
            let mut l = lines.clone();
            l.remove(i);
            out.push(l.join("\n"));
            let mut l = lines.clone();
            l.insert(i, lines[i]);
            out.push(l.join("\n"));
            let line = lines[i];
            if let Some((key, _)) = line.split_once(" = ") {
                // Each value replaced by every kind of value.
                for v in VALUES {
                    let mut l = lines.clone();
                    let new = format!("{key} = {v}");
                    l[i] = &new;
                    out.push(l.join("\n"));
                }
                // A key misspelt.
                let mut l = lines.clone();
                let new = line.replacen(" = ", "x = ", 1);
                l[i] = &new;
                out.push(l.join("\n"));
            }
            // A section turned from an array of tables into a table and back.
            for (from, to) in [("[[", "["), ("]]", "]")] {
                if line.starts_with("[[") {
                    let mut l = lines.clone();
                    let new = line.replace(from, to);
                    l[i] = &new;
                    out.push(l.join("\n"));
                }
            }
            if line.starts_with('[') && !line.starts_with("[[") {
                let mut l = lines.clone();
                let new = format!("[{line}]");
                l[i] = &new;
                out.push(l.join("\n"));
            }
        }
        // Bytes deleted or replaced, everywhere.
        for (i, _) in seed.char_indices() {
            let (a, b) = seed.split_at(i);
            let rest = b
                .get(b.chars().next().map_or(0, char::len_utf8)..)
                .unwrap_or("");
            out.push(format!("{a}{rest}"));
            for c in ['"', '[', ']', '=', '\n', '0', 'x', '{', ',', '.'] {
                out.push(format!("{a}{c}{rest}"));
            }
        }
        out
    }

    fn error(text: &str) -> (usize, Option<&'static str>, String) {
        match read(text) {
            Ok(p) => panic!("read: {p:?}"),
            Err(e) => (
                e.span.map_or(0, |s| line_of(text, s.start)),
                e.field,
                e.detail,
            ),
        }
    }

    #[test]
    fn errors_name_the_field_and_say_what_was_expected() {
        assert_eq!(
            error("version = 1\n[[device]]\nidd = \"x\"\n"),
            (
                3,
                Some("device"),
                "unknown field `idd`, expected one of `id`, `primary_thumbprint`, \
                 `secondary_thumbprint`, `enabled`, `tags`, `route`"
                    .into()
            )
        );
        assert_eq!(
            error("version = 1\n[[revocation.compromised]]\nca_sha256 = \"x\"\nsince2 = 1\n"),
            (
                4,
                Some("revocation.compromised"),
                "unknown field `since2`, expected `ca_sha256` or `since`".into()
            )
        );
        assert_eq!(
            error("version = 1\n[[group]]\nanchors = \"x\"\n"),
            (2, Some("group"), "missing field `id`".into())
        );
        assert_eq!(error("").2, "missing field `version`");
        assert_eq!(
            error("version = 1\n[[group]]\nid = \"g\"\nenabled = \"no\"\n"),
            (
                4,
                Some("group.enabled"),
                "invalid type: string \"no\", expected a boolean".into()
            )
        );
        assert_eq!(
            error("version = 1\n[[group]]\nid = \"g\"\nmax_lifetime_days = -3\n"),
            (
                4,
                Some("group.max_lifetime_days"),
                "invalid value: integer `-3`, expected an integer from 0 to 4294967295".into()
            )
        );
        assert_eq!(
            error("version = 1\n[group]\nid = \"g\"\n"),
            (
                2,
                Some("group"),
                "invalid type: table, expected an array of tables".into()
            )
        );
        assert_eq!(
            error("version = 1\n[revocation]\ndeny_thumbprints = [\"a\", 0x1F]\n").2,
            "invalid type: integer `0x1F`, expected a string"
        );
        assert_eq!(
            error("version = 1\n[revocation]\ndeny_issuers = \"a\"\n").2,
            "invalid type: string \"a\", expected an array of strings"
        );
        assert_eq!(
            error("version = 1.0\n").2,
            "invalid type: float `1.0`, expected an integer from 0 to 4294967295"
        );
        // `since` takes a string or a date-time; FleetPolicy::from_toml refuses any other type
        // with these words ("found an integer").
        let p = read("version = 1\n[[revocation.compromised]]\nca_sha256 = \"x\"\nsince = [1]\n");
        let since = p.map(|p| {
            p.revocation
                .compromised
                .into_iter()
                .map(|c| c.since.into_inner())
        });
        assert_eq!(since.ok().and_then(|mut s| s.next()), Some(Err("an array")));
        // TOML's own errors keep the parser's words and position.
        let (line, field, detail) = error("version = 1\n[[group]\n");
        assert_eq!((line, field), (2, None), "{detail}");
    }

    fn line_of(text: &str, offset: usize) -> usize {
        text.get(..offset).unwrap_or(text).matches('\n').count() + 1
    }

    #[test]
    fn the_reader_agrees_with_the_serde_derive_it_replaced() {
        let (mut cases, mut accepted, mut rejected) = (0, 0, 0);
        let mut other_line = Vec::new();
        for seed in seeds() {
            for text in variants(&seed) {
                cases += 1;
                // A `since` of another type passes the reader and is refused right after it
                // (by `FleetPolicy::from_toml`, at its span); count that as the reader's error.
                let mine = read(&text).and_then(|p| {
                    match p
                        .revocation
                        .compromised
                        .iter()
                        .find(|c| c.since.get_ref().is_err())
                    {
                        Some(c) => Err(ReadError {
                            span: Some(c.since.span()),
                            field: None,
                            detail: "since: not a date-time".into(),
                        }),
                        None => Ok(p),
                    }
                });
                let theirs = toml::from_str::<serde_path::RawPolicy>(&text);
                let theirs_line = match &theirs {
                    Ok(t) => t.since_refused().map(|s| line_of(&text, s.start)),
                    Err(e) => Some(e.span().map_or(0, |s| line_of(&text, s.start))),
                };
                match (mine, theirs) {
                    (Err(m), Ok(_)) if theirs_line.is_some() => {
                        rejected += 1;
                        assert_eq!(
                            m.span.map(|s| line_of(&text, s.start)),
                            theirs_line,
                            "{text}"
                        );
                    }
                    (Ok(m), Ok(t)) => {
                        accepted += 1;
                        assert_eq!(format!("{m:?}"), format!("{t:?}"), "{text}");
                    }
                    (Err(m), Err(t)) => {
                        rejected += 1;
                        let theirs = t.span().map_or(0, |s| line_of(&text, s.start));
                        let ours = m.span.map_or(0, |s| line_of(&text, s.start));
                        if ours != theirs {
                            other_line.push(format!(
                                "line {ours} ({}) against {theirs} ({}) in:\n{text}",
                                m.detail,
                                t.message().trim()
                            ));
                        }
                    }
                    (Ok(_), Err(t)) => panic!("accepted what serde refused ({t}):\n{text}"),
                    (Err(m), Ok(_)) => panic!("refused what serde read ({}):\n{text}", m.detail),
                }
            }
        }
        assert!(
            other_line.is_empty(),
            "{} of {rejected} errors on another line; the first:\n{}",
            other_line.len(),
            other_line.first().map_or("", String::as_str)
        );
        // Both outcomes are well represented.
        eprintln!("{cases} policies: {accepted} read, {rejected} refused");
        assert!(
            cases > 10_000 && accepted > 500 && rejected > 5_000,
            "{cases} {accepted} {rejected}"
        );
    }
}
