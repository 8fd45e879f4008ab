//! The IoT fleets and their broken variants.

use std::fs;
use std::io;
use std::path::Path;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::ID_KP_SERVER_AUTH;
use der::asn1::Utf8StringRef;
use serde_json::json;
use x509_cert::ext::pkix::KeyUsages;

use crate::cert::{Cert, CertSpec, DAY, Dn, NameConstraintsSpec, San, Subtree, YEAR};
use crate::codes;
use crate::crl::{Crl, CrlSpec};
use crate::fixture::Fixture;
use crate::keys::{KeyKind, KeyPair, SigAlg};

/// The seed [`iot_fixtures`] and [`demo_pki`] use.
pub const DEFAULT_SEED: u64 = 0x6368_6169_6e70_726f; // "chainpro"

/// An OID under the example private enterprise number of RFC 5612 (32473): no validator knows
/// it, so marked critical it must be rejected.
pub const UNKNOWN_EXTENSION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.1");

const ORG: &str = "Acme Devices";
const COUNTRY: &str = "DE";

/// Builds the hierarchies for one `(seed, now)`.
struct Factory {
    seed: u64,
    now: i64,
}

impl Factory {
    fn key(&self, kind: KeyKind, label: &str) -> KeyPair {
        KeyPair::generate(kind, self.seed, label)
    }

    /// CAs: valid from a year ago for ten years.
    fn ca_window(&self) -> (i64, i64) {
        (self.now - YEAR, self.now + 10 * YEAR)
    }

    /// Devices: issued a month ago, valid for a year.
    fn device_window(&self) -> (i64, i64) {
        (self.now - 30 * DAY, self.now + YEAR)
    }

    fn root(&self, kind: KeyKind, label: &str, cn: &str, path_len: Option<u8>) -> Cert {
        let (nb, na) = self.ca_window();
        let subject = Dn::new().c(COUNTRY).o(ORG).cn(cn);
        CertSpec::ca(subject, self.key(kind, label), nb, na, path_len).self_signed()
    }

    fn ca_spec(&self, kind: KeyKind, label: &str, cn: &str, path_len: Option<u8>) -> CertSpec {
        let (nb, na) = self.ca_window();
        let subject = Dn::new().c(COUNTRY).o(ORG).cn(cn);
        CertSpec::ca(subject, self.key(kind, label), nb, na, path_len)
    }

    fn device_spec(&self, kind: KeyKind, label: &str, device_id: &str) -> CertSpec {
        let (nb, na) = self.device_window();
        CertSpec::device(device_id, ORG, "Sensors", self.key(kind, label), nb, na)
    }

    /// The standard fleet for `kind`: offline root -> manufacturing CA (pathLen 0).
    fn fleet(&self, kind: KeyKind) -> (Cert, Cert) {
        let k = kind.name();
        let root = self.root(
            kind,
            &format!("{k}/root"),
            &format!("Acme Devices Root CA ({k})"),
            None,
        );
        let mfg = self
            .ca_spec(
                kind,
                &format!("{k}/manufacturing"),
                &format!("Acme Manufacturing CA 1 ({k})"),
                Some(0),
            )
            .issued_by(&root);
        (root, mfg)
    }

    #[allow(clippy::too_many_arguments)]
    fn fixture(
        &self,
        name: &'static str,
        description: &str,
        anchors: Vec<Cert>,
        intermediates: Vec<Cert>,
        leaf: Cert,
        expected_code: Option<&'static str>,
    ) -> Fixture {
        Fixture {
            name,
            description: description.to_owned(),
            device_id: leaf.subject.common_name().unwrap_or_default().to_owned(),
            anchors,
            intermediates,
            leaf,
            crls: Vec::new(),
            validation_time: self.now,
            expect_valid: expected_code.is_none(),
            expected_code,
        }
    }
}

/// The IoT fixture set for [`DEFAULT_SEED`], with validity windows around `now` (Unix seconds);
/// every fixture's `validation_time` is `now`.
pub fn iot_fixtures(now: i64) -> Vec<Fixture> {
    iot_fixtures_with_seed(DEFAULT_SEED, now)
}

/// The fixture called `name` from [`iot_fixtures`], if there is one.
pub fn iot_fixture(name: &str, now: i64) -> Option<Fixture> {
    iot_fixtures(now).into_iter().find(|f| f.name == name)
}

/// [`iot_fixtures`] for any seed: the same `(seed, now)` always gives byte-identical output.
///
/// Uses two RSA-4096 keys, one RSA-2048 and one RSA-1024 per seed; the rest are EC.
pub fn iot_fixtures_with_seed(seed: u64, now: i64) -> Vec<Fixture> {
    let f = Factory { seed, now };
    let mut out = Vec::new();
    let p256 = KeyKind::P256;

    // ---- valid fleets ----------------------------------------------------------------------
    let (root, mfg) = f.fleet(p256);
    let leaf = f
        .device_spec(p256, "p256/sensor-0001", "sensor-0001")
        .issued_by(&mfg);
    out.push(f.fixture(
        "p256-three-tier",
        "P-256 root -> manufacturing CA -> device sensor-0001 (clientAuth, digitalSignature).",
        vec![root.clone()],
        vec![mfg.clone()],
        leaf.clone(),
        None,
    ));

    {
        let (root384, mfg384) = f.fleet(KeyKind::P384);
        let leaf = f
            .device_spec(KeyKind::P384, "p384/sensor-0001", "sensor-0001")
            .issued_by(&mfg384);
        out.push(f.fixture(
            "p384-three-tier",
            "P-384 root -> manufacturing CA -> device, all signed with ecdsa-with-SHA384.",
            vec![root384],
            vec![mfg384],
            leaf,
            None,
        ));
    }

    {
        let (rsa_root, rsa_mfg) = f.fleet(KeyKind::Rsa4096);
        let leaf = f
            .device_spec(KeyKind::Rsa2048, "rsa2048/sensor-0001", "sensor-0001")
            .issued_by(&rsa_mfg);
        out.push(f.fixture(
            "rsa4096-ca-rsa2048-device",
            "RSA-4096 root and manufacturing CA, RSA-2048 device, sha256WithRSAEncryption.",
            vec![rsa_root],
            vec![rsa_mfg],
            leaf,
            None,
        ));
    }

    let (four_root, factory, installer, four_leaf) = four_tier(&f);
    out.push(f.fixture(
        "four-tier-supply-chain",
        "Company root -> factory CA (pathLen 1) -> installer CA (pathLen 0) -> device meter-0042.",
        vec![four_root.clone()],
        vec![factory.clone(), installer.clone()],
        four_leaf.clone(),
        None,
    ));

    {
        // An unrelated hierarchy whose CA lands in the bag as noise.
        let other_root = f.root(p256, "other/root", "Globex Root CA", None);
        let other_ca = f
            .ca_spec(p256, "other/issuing", "Globex Issuing CA", Some(0))
            .issued_by(&other_root);
        out.push(f.fixture(
            "bag-disordered-with-extras",
            "Four-tier chain whose bag is out of order, repeats the factory CA, carries an \
             unrelated CA and a copy of the root.",
            vec![four_root.clone()],
            vec![
                other_ca,
                installer.clone(),
                four_root.clone(),
                factory.clone(),
                other_root,
                factory.clone(),
            ],
            four_leaf.clone(),
            None,
        ));
    }

    {
        let nc_mfg = name_constrained_ca(&f, &root);
        let leaf = f
            .device_spec(p256, "p256/sensor-0004", "sensor-0004")
            .with_san(San::Dns("sensor-0004.factory-a.example".into()))
            .with_san(San::Email("ops@factory-a.example".into()))
            .issued_by(&nc_mfg);
        out.push(f.fixture(
            "name-constraint-permitted",
            "Manufacturing CA permits DNS and email under factory-a.example; the device's SANs \
             are inside.",
            vec![root.clone()],
            vec![nc_mfg],
            leaf,
            None,
        ));
    }

    {
        let crl = CrlSpec::new(now - DAY, now + 6 * DAY)
            .revoke_serial(&[0x42, 0x42, 0x42], now - 3 * DAY, None)
            .sign(&mfg);
        let mut fx = f.fixture(
            "crl-not-listed",
            "A fresh CRL from the manufacturing CA that revokes some other serial.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf.clone(),
            None,
        );
        fx.crls.push(crl);
        out.push(fx);
    }

    // ---- broken variants -------------------------------------------------------------------
    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_validity(now - 400 * DAY, now - DAY)
            .issued_by(&mfg);
        out.push(f.fixture(
            "expired",
            "Device certificate expired a day before the validation time.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::EXPIRED),
        ));
    }

    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_validity(now + DAY, now + YEAR)
            .issued_by(&mfg);
        out.push(f.fixture(
            "not-yet-valid",
            "Device certificate becomes valid a day after the validation time.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::NOT_YET_VALID),
        ));
    }

    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_corrupt_signature()
            .issued_by(&mfg);
        out.push(f.fixture(
            "corrupted-signature",
            "One bit of the device certificate's ECDSA signature is flipped.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::BAD_SIGNATURE),
        ));
    }

    out.push(f.fixture(
        "missing-intermediate",
        "The device presents its certificate without the manufacturing CA.",
        vec![root.clone()],
        Vec::new(),
        leaf.clone(),
        Some(codes::UNKNOWN_ISSUER),
    ));

    {
        let not_ca = f
            .ca_spec(p256, "p256/not-ca", "Acme Manufacturing CA 2 (p256)", None)
            .with_basic_constraints(false, None)
            .issued_by(&root);
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .issued_by(&not_ca);
        out.push(f.fixture(
            "intermediate-ca-false",
            "The issuing certificate has keyCertSign but basicConstraints cA=FALSE.",
            vec![root.clone()],
            vec![not_ca],
            leaf,
            Some(codes::NOT_A_CA),
        ));
    }

    {
        let pl_root = f.root(
            p256,
            "p256/root-pathlen0",
            "Acme Devices Root CA (pathLen 0)",
            Some(0),
        );
        let ca1 = f
            .ca_spec(p256, "p256/region", "Acme Region CA (p256)", None)
            .issued_by(&pl_root);
        let ca2 = f
            .ca_spec(p256, "p256/line", "Acme Line CA (p256)", Some(0))
            .issued_by(&ca1);
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .issued_by(&ca2);
        out.push(f.fixture(
            "pathlen-violation",
            "The root says pathLen 0 but two CAs sit below it (the constraint is on the trust \
             anchor's own certificate).",
            vec![pl_root],
            vec![ca1, ca2],
            leaf,
            Some(codes::PATH_LEN_EXCEEDED),
        ));
    }

    {
        let ca1 = f
            .ca_spec(
                p256,
                "p256/region-pathlen0",
                "Acme Region CA (pathLen 0)",
                Some(0),
            )
            .issued_by(&root);
        let ca2 = f
            .ca_spec(p256, "p256/line", "Acme Line CA (p256)", Some(0))
            .issued_by(&ca1);
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .issued_by(&ca2);
        out.push(f.fixture(
            "pathlen-violation-intermediate",
            "The first intermediate says pathLen 0 but another CA sits below it.",
            vec![root.clone()],
            vec![ca1, ca2],
            leaf,
            Some(codes::PATH_LEN_EXCEEDED),
        ));
    }

    {
        let no_kcs = f
            .ca_spec(
                p256,
                "p256/no-keycertsign",
                "Acme Manufacturing CA 3 (p256)",
                Some(0),
            )
            .with_key_usage(&[KeyUsages::DigitalSignature, KeyUsages::CRLSign])
            .issued_by(&root);
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .issued_by(&no_kcs);
        out.push(f.fixture(
            "ca-without-keycertsign",
            "The manufacturing CA is cA=TRUE but its keyUsage lacks keyCertSign.",
            vec![root.clone()],
            vec![no_kcs],
            leaf,
            Some(codes::MISSING_KEY_CERT_SIGN),
        ));
    }

    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_eku(&[ID_KP_SERVER_AUTH])
            .issued_by(&mfg);
        out.push(f.fixture(
            "server-auth-only-leaf",
            "The device certificate's EKU is serverAuth only; device login needs clientAuth.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::EKU_NOT_ALLOWED),
        ));
    }

    {
        let value = Utf8StringRef::new("firmware-lock").expect("ASCII");
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_extension(UNKNOWN_EXTENSION_OID, true, &value)
            .issued_by(&mfg);
        out.push(f.fixture(
            "unknown-critical-extension",
            "The device certificate carries a critical private extension 1.3.6.1.4.1.32473.1.1.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::UNKNOWN_CRITICAL_EXTENSION),
        ));
    }

    {
        let nc_mfg = name_constrained_ca(&f, &root);
        let leaf = f
            .device_spec(p256, "p256/sensor-0003", "sensor-0003")
            .with_san(San::Dns("sensor-0003.factory-b.example".into()))
            .issued_by(&nc_mfg);
        out.push(f.fixture(
            "name-constraint-violation",
            "Manufacturing CA permits DNS and email under factory-a.example only; the device's \
             dNSName is under factory-b.example.",
            vec![root.clone()],
            vec![nc_mfg],
            leaf,
            Some(codes::NAME_CONSTRAINT_VIOLATION),
        ));
    }

    {
        let crl = CrlSpec::new(now - DAY, now + 6 * DAY)
            .revoke(&leaf, now - 2 * 3600)
            .sign(&mfg);
        let mut fx = f.fixture(
            "revoked-in-crl",
            "The manufacturing CA's current CRL lists the device certificate (keyCompromise).",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf.clone(),
            Some(codes::REVOKED),
        );
        fx.crls.push(crl);
        out.push(fx);
    }

    {
        let crl = CrlSpec::new(now - 14 * DAY, now - 7 * DAY).sign(&mfg);
        let mut fx = f.fixture(
            "stale-crl",
            "The manufacturing CA's only CRL had its nextUpdate a week before validation time.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf.clone(),
            Some(codes::CRL_EXPIRED),
        );
        fx.crls.push(crl);
        out.push(fx);
    }

    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0001", "sensor-0001")
            .with_sig_alg(SigAlg::EcdsaSha1)
            .issued_by(&mfg);
        out.push(f.fixture(
            "sha1-signature",
            "The device certificate is signed with ecdsa-with-SHA1.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::WEAK_SIGNATURE_ALGORITHM),
        ));
    }

    {
        let leaf = f
            .device_spec(KeyKind::Rsa1024, "rsa1024/sensor-0001", "sensor-0001")
            .issued_by(&mfg);
        out.push(f.fixture(
            "weak-rsa-key",
            "The device key is RSA-1024 (the chain itself is P-256 and sound).",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::WEAK_KEY),
        ));
    }

    {
        let leaf = f
            .device_spec(p256, "p256/sensor-0002", "sensor-0002\n")
            .issued_by(&mfg);
        out.push(f.fixture(
            "cn-trailing-newline",
            "The device certificate's CN is \"sensor-0002\\n\": a device ID with a control \
             character.",
            vec![root.clone()],
            vec![mfg.clone()],
            leaf,
            Some(codes::INVALID_DEVICE_ID),
        ));
    }

    {
        let (old_ca, new_ca) = rollover_pair(&f, &root);
        let leaf = f
            .device_spec(p256, "p256/sensor-0005", "sensor-0005")
            .issued_by(&new_ca);
        out.push(f.fixture(
            "rollover-same-name-new-key",
            "Two manufacturing CAs share a subject name with different keys (old first in the \
             bag); only the new one signed the device, and the device's AKI names it.",
            vec![root.clone()],
            vec![old_ca.clone(), new_ca],
            leaf.clone(),
            None,
        ));
        out.push(f.fixture(
            "rollover-wrong-key-only",
            "The bag holds only the old manufacturing CA: same name as the device's issuer, \
             wrong key.",
            vec![root.clone()],
            vec![old_ca],
            leaf,
            Some(codes::UNKNOWN_ISSUER),
        ));
    }

    out
}

/// Company root -> factory CA (pathLen 1) -> installer CA (pathLen 0) -> device `meter-0042`.
fn four_tier(f: &Factory) -> (Cert, Cert, Cert, Cert) {
    let p256 = KeyKind::P256;
    let root = f.root(p256, "supply/root", "Acme Company Root CA", None);
    let factory = f
        .ca_spec(p256, "supply/factory", "Acme Factory CA Shenzhen", Some(1))
        .issued_by(&root);
    let installer = f
        .ca_spec(
            p256,
            "supply/installer",
            "Acme Installer CA Field Services",
            Some(0),
        )
        .issued_by(&factory);
    let (nb, na) = f.device_window();
    let leaf = CertSpec::device(
        "meter-0042",
        ORG,
        "Meters",
        f.key(p256, "supply/meter-0042"),
        nb,
        na,
    )
    .issued_by(&installer);
    (root, factory, installer, leaf)
}

/// A manufacturing CA restricted to DNS names and mailboxes under `factory-a.example`.
fn name_constrained_ca(f: &Factory, root: &Cert) -> Cert {
    f.ca_spec(
        KeyKind::P256,
        "p256/factory-a",
        "Acme Factory A CA (p256)",
        Some(0),
    )
    .with_name_constraints(NameConstraintsSpec {
        permitted: vec![
            Subtree::Dns("factory-a.example".into()),
            Subtree::Email("factory-a.example".into()),
        ],
        excluded: Vec::new(),
    })
    .issued_by(root)
}

/// Two manufacturing CAs with the same subject and different keys: (old, new).
fn rollover_pair(f: &Factory, root: &Cert) -> (Cert, Cert) {
    let cn = "Acme Manufacturing CA Rollover (p256)";
    let old = f
        .ca_spec(KeyKind::P256, "p256/rollover-2024", cn, Some(0))
        .issued_by(root);
    let new = f
        .ca_spec(KeyKind::P256, "p256/rollover-2025", cn, Some(0))
        .issued_by(root);
    (old, new)
}

/// A small demo fleet for the CLI: one root, a manufacturing CA with its CRL, a contract
/// manufacturer CA, and devices that are valid, revoked, expired, or missing their
/// intermediate. Each device is also a [`Fixture`].
#[derive(Clone, Debug)]
pub struct DemoPki {
    /// The offline root (the trust anchor).
    pub root: Cert,
    /// The manufacturing CA that issued most devices.
    pub manufacturing_ca: Cert,
    /// A second CA (a contract manufacturer) that devices sometimes forget to send.
    pub contract_ca: Cert,
    /// The manufacturing CA's current CRL (lists the revoked device).
    pub crl: Crl,
    /// One fixture per device, named after its device ID.
    pub devices: Vec<Fixture>,
    /// The time the demo is valid at, Unix seconds.
    pub validation_time: i64,
}

/// The demo fleet for [`DEFAULT_SEED`] around `now` (all P-256, quick to generate).
pub fn demo_pki(now: i64) -> DemoPki {
    let f = Factory {
        seed: DEFAULT_SEED,
        now,
    };
    let p256 = KeyKind::P256;
    let root = f.root(p256, "demo/root", "Acme Devices Root CA", None);
    let mfg = f
        .ca_spec(
            p256,
            "demo/manufacturing",
            "Acme Manufacturing CA 1",
            Some(0),
        )
        .issued_by(&root);
    let contract = f
        .ca_spec(
            p256,
            "demo/contract",
            "Acme Contract Manufacturing CA",
            Some(0),
        )
        .issued_by(&root);
    let device = |id: &str| f.device_spec(p256, &format!("demo/{id}"), id);

    let valid1 = device("sensor-0001").issued_by(&mfg);
    let valid2 = device("sensor-0002").issued_by(&mfg);
    let revoked = device("sensor-0003").issued_by(&mfg);
    let expired = device("sensor-0004")
        .with_validity(now - 400 * DAY, now - 10 * DAY)
        .issued_by(&mfg);
    let orphan = device("sensor-0005").issued_by(&contract);

    let crl = CrlSpec::new(now - DAY, now + 6 * DAY)
        .revoke(&revoked, now - 5 * DAY)
        .sign(&mfg);

    let mk = |name: &'static str, desc: &str, leaf: Cert, bag: Vec<Cert>, code| {
        let mut fx = f.fixture(name, desc, vec![root.clone()], bag, leaf, code);
        fx.crls.push(crl.clone());
        fx
    };
    let devices = vec![
        mk(
            "sensor-0001",
            "Valid device from the manufacturing CA.",
            valid1,
            vec![mfg.clone()],
            None,
        ),
        mk(
            "sensor-0002",
            "Valid device from the manufacturing CA.",
            valid2,
            vec![mfg.clone()],
            None,
        ),
        mk(
            "sensor-0003",
            "Device revoked on the manufacturing CA's CRL (key compromise).",
            revoked,
            vec![mfg.clone()],
            Some(codes::REVOKED),
        ),
        mk(
            "sensor-0004",
            "Device certificate expired ten days ago.",
            expired,
            vec![mfg.clone()],
            Some(codes::EXPIRED),
        ),
        mk(
            "sensor-0005",
            "Device issued by the contract manufacturer CA, which it does not send.",
            orphan,
            Vec::new(),
            Some(codes::UNKNOWN_ISSUER),
        ),
    ];
    DemoPki {
        root,
        manufacturing_ca: mfg,
        contract_ca: contract,
        crl,
        devices,
        validation_time: now,
    }
}

impl DemoPki {
    /// Write `root.pem`, `manufacturing-ca.pem`, `contract-ca.pem`, `crl.pem`, one
    /// `devices/<device-id>/` fixture directory per device (see [`Fixture::write_to`]) and a
    /// `demo.json` summary into `dir`.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        fs::write(dir.join("root.pem"), self.root.pem())?;
        fs::write(
            dir.join("manufacturing-ca.pem"),
            self.manufacturing_ca.pem(),
        )?;
        fs::write(dir.join("contract-ca.pem"), self.contract_ca.pem())?;
        fs::write(dir.join("crl.pem"), self.crl.pem())?;
        for d in &self.devices {
            d.write_to(&dir.join("devices").join(d.name))?;
        }
        let summary = json!({
            "validation_time": self.validation_time,
            "root": "root.pem",
            "manufacturing_ca": "manufacturing-ca.pem",
            "contract_ca": "contract-ca.pem",
            "crl": "crl.pem",
            "devices": self.devices.iter().map(|d| json!({
                "device_id": d.device_id,
                "dir": format!("devices/{}", d.name),
                "expect_valid": d.expect_valid,
                "expected_code": d.expected_code,
                "description": d.description,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&summary).map_err(io::Error::other)?;
        fs::write(dir.join("demo.json"), text + "\n")
    }
}
