//! The README's worked fleet: two factories, one revoked production batch and one compromised
//! manufacturing CA, as policy files plus device chains ([`fleet_example`]).

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use der::DateTime;

use crate::cert::{Cert, CertSpec, DAY, Dn, YEAR};
use crate::codes;
use crate::crl::{Crl, CrlSpec};
use crate::fixture::Fixture;
use crate::keys::{KeyKind, KeyPair};
use crate::scenarios::DEFAULT_SEED;

const ORG: &str = "Acme Devices";

/// The fleet of the README's worked example, generated around `now`:
///
/// - an offline root, and two factories, each with its own manufacturing CA that anchors an
///   enrollment group (`berlin`, route `eu`; `austin`, route `us`);
/// - Berlin's production batch 2025-07 was issued by its own batch CA under the Berlin CA; the
///   batch is suspect and blocked whole (`deny_issuers`);
/// - Berlin's CA publishes a CRL that revokes one device;
/// - Austin's CA key was stolen: `policy.toml` marks that CA compromised since
///   [`FleetExample::compromised_since`], so a device it issued earlier keeps working, a
///   certificate minted after it is refused, and a re-issued Austin CA (new key, same name,
///   same root) takes over.
///
/// `policy-before.toml` is the policy before the incident (no deny list, no compromise, only
/// the first Austin CA), so `chainproof policy diff policy-before.toml policy.toml --devices
/// devices` shows what the response changes.
#[derive(Clone, Debug)]
pub struct FleetExample {
    /// The offline root (not an anchor of the policy: the groups pin their factory CAs).
    pub root: Cert,
    /// Berlin's manufacturing CA (anchor of group `berlin`).
    pub berlin_ca: Cert,
    /// Berlin's batch CA for the suspect production run (under `berlin_ca`).
    pub batch_ca: Cert,
    /// Austin's first manufacturing CA, compromised.
    pub austin_ca: Cert,
    /// Austin's re-issued manufacturing CA (same name, new key, same root).
    pub austin_ca_2: Cert,
    /// Berlin CA's CRL.
    pub berlin_crl: Crl,
    /// The cutoff of the compromise, Unix seconds.
    pub compromised_since: i64,
    /// One fixture per device; `expected_code` is the verdict under `policy.toml`.
    pub devices: Vec<Fixture>,
    /// The time everything is valid at, Unix seconds.
    pub validation_time: i64,
}

/// RFC 3339 (UTC) for a Unix time; times before 1970 or after 9999 are clamped to 1970.
pub fn rfc3339(secs: i64) -> String {
    let d = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    DateTime::from_unix_duration(d)
        .map_or_else(|_| "1970-01-01T00:00:00Z".into(), |t| t.to_string())
}

/// The worked example around `now` (all P-256, deterministic for a given `now`).
pub fn fleet_example(now: i64) -> FleetExample {
    let key =
        |label: &str| KeyPair::generate(KeyKind::P256, DEFAULT_SEED, &format!("fleet/{label}"));
    let dn = |cn: &str| Dn::new().c("DE").o(ORG).cn(cn);
    let root = CertSpec::ca(
        dn("Acme Devices Root CA"),
        key("root"),
        now - 3 * YEAR,
        now + 20 * YEAR,
        None,
    )
    .self_signed();
    let berlin_ca = CertSpec::ca(
        dn("Acme Factory Berlin CA"),
        key("berlin"),
        now - 2 * YEAR,
        now + 8 * YEAR,
        Some(1),
    )
    .issued_by(&root);
    let batch_ca = CertSpec::ca(
        dn("Acme Berlin Batch 2025-07 CA"),
        key("batch"),
        now - 200 * DAY,
        now + 3 * YEAR,
        Some(0),
    )
    .issued_by(&berlin_ca);
    let austin_ca = CertSpec::ca(
        dn("Acme Factory Austin CA"),
        key("austin"),
        now - 2 * YEAR,
        now + 8 * YEAR,
        Some(0),
    )
    .issued_by(&root);
    let austin_ca_2 = CertSpec::ca(
        dn("Acme Factory Austin CA"),
        key("austin-2"),
        now - 5 * DAY,
        now + 10 * YEAR,
        Some(0),
    )
    .issued_by(&root);
    let compromised_since = now - 10 * DAY;

    let device = |id: &str, not_before: i64| {
        CertSpec::device(
            id,
            ORG,
            "Sensors",
            key(&format!("device/{id}")),
            not_before,
            not_before + 2 * YEAR,
        )
    };
    let b1 = device("sensor-b-0001", now - 90 * DAY).issued_by(&berlin_ca);
    let b2 = device("sensor-b-0002", now - 90 * DAY).issued_by(&berlin_ca);
    let b107 = device("sensor-b-0107", now - 150 * DAY).issued_by(&batch_ca);
    let a1 = device("sensor-a-0001", now - 60 * DAY).issued_by(&austin_ca);
    let a2 = device("sensor-a-0002", now - 2 * DAY).issued_by(&austin_ca);
    let a3 = device("sensor-a-0003", now - DAY).issued_by(&austin_ca_2);
    let berlin_crl = CrlSpec::new(now - DAY, now + 6 * DAY)
        .revoke(&b2, now - 20 * DAY)
        .sign(&berlin_ca);

    let fixture = |name: &'static str,
                   description: &str,
                   leaf: Cert,
                   bag: Vec<Cert>,
                   anchor: &Cert,
                   code: Option<&'static str>| {
        Fixture {
            name,
            description: description.to_owned(),
            device_id: name.to_owned(),
            anchors: vec![anchor.clone()],
            intermediates: bag,
            leaf,
            crls: Vec::new(),
            validation_time: now,
            expect_valid: code.is_none(),
            expected_code: code,
        }
    };
    let devices = vec![
        fixture(
            "sensor-a-0001",
            "Austin device issued before the CA compromise: keeps working.",
            a1,
            vec![austin_ca.clone()],
            &austin_ca,
            None,
        ),
        fixture(
            "sensor-a-0002",
            "Certificate minted with Austin's stolen CA key after the cutoff.",
            a2,
            vec![austin_ca.clone()],
            &austin_ca,
            // The fleet policy's code for the compromise cutoff (not a plain-validator code).
            Some("issuer-compromised"),
        ),
        fixture(
            "sensor-a-0003",
            "Austin device from the re-issued CA.",
            a3,
            vec![austin_ca_2.clone()],
            &austin_ca_2,
            None,
        ),
        fixture(
            "sensor-b-0001",
            "Berlin device.",
            b1,
            vec![berlin_ca.clone()],
            &berlin_ca,
            None,
        ),
        fixture(
            "sensor-b-0002",
            "Berlin device revoked on the Berlin CA's CRL.",
            b2,
            vec![berlin_ca.clone()],
            &berlin_ca,
            Some(codes::REVOKED),
        ),
        fixture(
            "sensor-b-0107",
            "Device of the suspect Berlin batch 2025-07 (whole batch denied).",
            b107,
            vec![batch_ca.clone(), berlin_ca.clone()],
            &berlin_ca,
            Some(codes::REVOKED),
        ),
    ];
    FleetExample {
        root,
        berlin_ca,
        batch_ca,
        austin_ca,
        austin_ca_2,
        berlin_crl,
        compromised_since,
        devices,
        validation_time: now,
    }
}

impl FleetExample {
    /// The fleet policy after the incident response (`policy.toml`).
    pub fn policy_toml(&self) -> String {
        format!(
            r#"# Acme fleet: two factories, one blocked batch, one compromised CA.
version = 1

[[group]]
id = "berlin"
anchors_file = "berlin-ca.pem"
device_id_pattern = "sensor-b-*"
tags = ["factory-berlin"]
route = "eu"

[[group]]
id = "austin"
anchors_file = "austin-cas.pem"     # the compromised CA and its re-issued successor
device_id_pattern = "sensor-a-*"
tags = ["factory-austin"]
route = "us"

[revocation]
crl_files = ["berlin-ca.crl.pem"]
# Batch 2025-07 from Berlin is suspect: refuse everything its batch CA issued.
deny_issuers = ["{batch}"]

# Austin's CA key was stolen: certificates it issued from this instant on are refused.
[[revocation.compromised]]
ca_sha256 = "{austin}"
since = {since}
"#,
            batch = self.batch_ca.sha256_hex().to_ascii_uppercase(),
            austin = self.austin_ca.sha256_hex().to_ascii_uppercase(),
            since = rfc3339(self.compromised_since),
        )
    }

    /// The fleet policy before the incident (`policy-before.toml`).
    pub fn policy_before_toml(&self) -> String {
        r#"# Acme fleet before the incident.
version = 1

[[group]]
id = "berlin"
anchors_file = "berlin-ca.pem"
device_id_pattern = "sensor-b-*"
tags = ["factory-berlin"]
route = "eu"

[[group]]
id = "austin"
anchors_file = "austin-ca.pem"
device_id_pattern = "sensor-a-*"
tags = ["factory-austin"]
route = "us"

[revocation]
crl_files = ["berlin-ca.crl.pem"]
"#
        .to_owned()
    }

    /// Write `policy.toml`, `policy-before.toml`, the CA files they name (`berlin-ca.pem`,
    /// `austin-ca.pem`, `austin-cas.pem`, `berlin-ca.crl.pem`), `root.pem`, and one
    /// `devices/<device-id>/` fixture directory per device ([`Fixture::write_to`]: `chain.pem`,
    /// `leaf.pem`, `intermediates.pem`, ...) into `dir`.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        fs::write(dir.join("policy.toml"), self.policy_toml())?;
        fs::write(dir.join("policy-before.toml"), self.policy_before_toml())?;
        fs::write(dir.join("root.pem"), self.root.pem())?;
        fs::write(dir.join("berlin-ca.pem"), self.berlin_ca.pem())?;
        fs::write(dir.join("austin-ca.pem"), self.austin_ca.pem())?;
        fs::write(
            dir.join("austin-cas.pem"),
            self.austin_ca.pem() + &self.austin_ca_2.pem(),
        )?;
        fs::write(dir.join("berlin-ca.crl.pem"), self.berlin_crl.pem())?;
        for d in &self.devices {
            d.write_to(&dir.join("devices").join(d.name))?;
        }
        Ok(())
    }
}
