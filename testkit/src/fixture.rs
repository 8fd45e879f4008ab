//! A named validation case ([`Fixture`]) and its on-disk form for other tools.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::cert::Cert;
use crate::crl::Crl;

/// One validation case: trust anchors, the bag of intermediates a device presents, its leaf
/// certificate and key, optional CRLs, the time to validate at and the expected verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixture {
    /// Stable kebab-case name (`p256-three-tier`, `expired`, ...).
    pub name: &'static str,
    /// One sentence on what the case is and why it passes or fails.
    pub description: String,
    /// Trust anchors (self-signed roots).
    pub anchors: Vec<Cert>,
    /// The untrusted bag, in the order a device would present it (may hold extras).
    pub intermediates: Vec<Cert>,
    /// The device certificate.
    pub leaf: Cert,
    /// CRLs the validator is given.
    pub crls: Vec<Crl>,
    /// The time to validate at, Unix seconds.
    pub validation_time: i64,
    /// Whether a correct validator accepts the chain.
    pub expect_valid: bool,
    /// The error code a correct validator reports (see [`crate::codes`]); `None` when valid.
    pub expected_code: Option<&'static str>,
    /// The device ID the leaf carries in its CN (verbatim, even when malformed).
    pub device_id: String,
}

fn concat_pem<'a>(certs: impl IntoIterator<Item = &'a Cert>) -> String {
    certs.into_iter().map(Cert::pem).collect()
}

impl Fixture {
    /// All anchors as one PEM bundle.
    pub fn anchors_pem(&self) -> String {
        concat_pem(&self.anchors)
    }

    /// The intermediate bag as one PEM bundle (empty string when the bag is empty).
    pub fn intermediates_pem(&self) -> String {
        concat_pem(&self.intermediates)
    }

    /// The leaf certificate PEM.
    pub fn leaf_pem(&self) -> String {
        self.leaf.pem()
    }

    /// The leaf followed by the bag: what a device sends in its TLS Certificate message.
    pub fn presented_chain_pem(&self) -> String {
        concat_pem(std::iter::once(&self.leaf).chain(&self.intermediates))
    }

    /// The leaf's private key, PKCS#8 PEM.
    pub fn leaf_key_pem(&self) -> String {
        self.leaf.key.private_pkcs8_pem()
    }

    /// The file names [`Fixture::write_to`] uses for the CRLs, in order.
    pub fn crl_file_names(&self) -> Vec<String> {
        (0..self.crls.len())
            .map(|i| format!("crl-{i}.pem"))
            .collect()
    }

    /// The manifest written as `fixture.json`.
    pub fn manifest(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "device_id": self.device_id,
            "validation_time": self.validation_time,
            "expect_valid": self.expect_valid,
            "expected_code": self.expected_code,
            "leaf_serial": self.leaf.serial_hex(),
            "leaf_sha256": self.leaf.sha256_hex(),
            "leaf_key_kind": self.leaf.key.kind().name(),
            "leaf_sig_alg": self.leaf.sig_alg.name(),
            "files": {
                "anchors": "anchors.pem",
                "root": "root.pem",
                "intermediates": "intermediates.pem",
                "leaf": "leaf.pem",
                "leaf_key": "leaf.key",
                "chain": "chain.pem",
                "crls": self.crl_file_names(),
            },
            "anchor_count": self.anchors.len(),
            "intermediate_count": self.intermediates.len(),
            "revoked_serials": self.crls.iter().flat_map(|c| c.revoked_serials_hex.clone()).collect::<Vec<_>>(),
        })
    }

    /// The OpenSSL CLI's verdict on the files [`Fixture::write_to`] wrote into `dir`, as an
    /// independent oracle: `openssl verify -partial_chain -auth_level 2 -purpose sslclient`
    /// at the fixture's time, with `-crl_check` when it has CRLs. `-auth_level 2` makes OpenSSL
    /// refuse SHA-1 signatures and RSA-1024 keys, as chainproof does. Returns (valid, output).
    pub fn openssl_verify(&self, dir: &Path) -> (bool, String) {
        let mut cmd = Command::new("openssl");
        cmd.arg("verify")
            .args([
                "-partial_chain",
                "-auth_level",
                "2",
                "-purpose",
                "sslclient",
            ])
            .args(["-attime", &self.validation_time.to_string()])
            .arg("-CAfile")
            .arg(dir.join("anchors.pem"));
        if !self.intermediates.is_empty() {
            cmd.arg("-untrusted").arg(dir.join("intermediates.pem"));
        }
        if !self.crls.is_empty() {
            cmd.arg("-crl_check");
            for name in self.crl_file_names() {
                cmd.arg("-CRLfile").arg(dir.join(name));
            }
        }
        cmd.arg(dir.join("leaf.pem"));
        match cmd.output() {
            Ok(out) => (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ),
            Err(e) => (
                false,
                format!("cannot run the openssl CLI (Debian package `openssl`): {e}"),
            ),
        }
    }

    /// Write the fixture into `dir` (created if missing):
    /// `anchors.pem` (all anchors), `root.pem` (the first anchor), `intermediates.pem` (the bag,
    /// possibly empty), `leaf.pem`, `leaf.key` (PKCS#8), `chain.pem` (leaf + bag),
    /// `crl-N.pem`, and `fixture.json` ([`Fixture::manifest`]).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        fs::write(dir.join("anchors.pem"), self.anchors_pem())?;
        fs::write(
            dir.join("root.pem"),
            self.anchors.first().map(Cert::pem).unwrap_or_default(),
        )?;
        fs::write(dir.join("intermediates.pem"), self.intermediates_pem())?;
        fs::write(dir.join("leaf.pem"), self.leaf_pem())?;
        fs::write(dir.join("leaf.key"), self.leaf_key_pem())?;
        fs::write(dir.join("chain.pem"), self.presented_chain_pem())?;
        for (crl, name) in self.crls.iter().zip(self.crl_file_names()) {
            fs::write(dir.join(name), crl.pem())?;
        }
        let manifest = serde_json::to_string_pretty(&self.manifest()).map_err(io::Error::other)?;
        fs::write(dir.join("fixture.json"), manifest + "\n")
    }
}

/// Write each fixture to `dir/<name>/` and an `index.json` listing their manifests.
pub fn write_fixtures(dir: &Path, fixtures: &[Fixture]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for f in fixtures {
        f.write_to(&dir.join(f.name))?;
    }
    let index: Vec<Value> = fixtures
        .iter()
        .map(|f| {
            let mut m = f.manifest();
            m["dir"] = json!(f.name);
            m
        })
        .collect();
    let text = serde_json::to_string_pretty(&index).map_err(io::Error::other)?;
    fs::write(dir.join("index.json"), text + "\n")
}
