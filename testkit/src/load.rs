//! A fleet for load tests ([`load_fleet`]): many devices under one manufacturing CA, with a
//! share of bad actors of every kind a gateway must refuse, the gateway's own TLS certificate,
//! a fleet policy and a CRL, so that the chainproof gateway and a broker such as mosquitto can
//! face the same devices and the same CA.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use crate::cert::{Cert, CertSpec, DAY, Dn, San, YEAR};
use crate::codes;
use crate::crl::{Crl, CrlSpec};
use crate::keys::{KeyKind, KeyPair};
use crate::scenarios::DEFAULT_SEED;

const ORG: &str = "Acme Devices";

/// Device IDs of the load fleet start with this; the policy's group pattern is `load-*`.
pub const LOAD_ID_PREFIX: &str = "load-";

/// What is wrong with a bad actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BadKind {
    /// A well-formed chain from a CA nobody trusts.
    UntrustedIssuer,
    /// Issued by the fleet's CA, expired ten days ago.
    Expired,
    /// Issued by the fleet's CA, revoked (the policy's deny list and the CA's CRL).
    Revoked,
    /// A genuine device certificate presented by someone without its key.
    WrongKey,
    /// A genuine device that sends another device's ID as its MQTT client ID.
    ClientIdMismatch,
}

impl BadKind {
    /// Every kind, in the order bad actors are assigned them.
    pub const ALL: [BadKind; 5] = [
        BadKind::UntrustedIssuer,
        BadKind::Expired,
        BadKind::Revoked,
        BadKind::WrongKey,
        BadKind::ClientIdMismatch,
    ];

    /// Kebab-case name (the manifest's `kind`).
    pub fn name(self) -> &'static str {
        match self {
            BadKind::UntrustedIssuer => "untrusted-issuer",
            BadKind::Expired => "expired",
            BadKind::Revoked => "revoked",
            BadKind::WrongKey => "wrong-key",
            BadKind::ClientIdMismatch => "client-id-mismatch",
        }
    }

    /// The code chainproof's gateway reports for it.
    pub fn expected_code(self) -> &'static str {
        match self {
            BadKind::UntrustedIssuer => codes::UNKNOWN_ISSUER,
            BadKind::Expired => codes::EXPIRED,
            BadKind::Revoked => codes::REVOKED,
            BadKind::WrongKey => codes::BAD_SIGNATURE,
            BadKind::ClientIdMismatch => "device-id-mismatch",
        }
    }
}

/// One device of the load fleet.
#[derive(Clone, Debug)]
pub struct LoadDevice {
    /// Unique name (its directory); also the device ID its certificate carries.
    pub name: String,
    /// What it sends as its MQTT client ID.
    pub client_id: String,
    /// `None` for an honest device.
    pub bad: Option<BadKind>,
    /// What it presents in the TLS handshake, leaf first.
    pub chain: Vec<Cert>,
    /// The key it signs the handshake with (not the leaf's for [`BadKind::WrongKey`]).
    pub key: KeyPair,
}

/// The load fleet: see [`load_fleet`].
#[derive(Clone, Debug)]
pub struct LoadFleet {
    /// The fleet's root (the policy's anchor).
    pub root: Cert,
    /// The manufacturing CA under the root that issued every fleet device.
    pub manufacturing_ca: Cert,
    /// A CA nobody trusts (issuer of the untrusted-issuer devices).
    pub rogue_ca: Cert,
    /// The CA of the server certificate (what devices trust for the server).
    pub server_ca: Cert,
    /// The server certificate (CN and SAN `localhost`, SAN IP 127.0.0.1), shared by the
    /// gateway and the broker it is compared with.
    pub server: Cert,
    /// The manufacturing CA's CRL, listing the revoked devices.
    pub crl: Crl,
    /// The devices, bad actors spread evenly among the honest ones.
    pub devices: Vec<LoadDevice>,
    /// The time everything is valid at, Unix seconds.
    pub validation_time: i64,
}

/// Whether device `i` of `n` is one of the `bad` bad actors, spread evenly (not bunched at
/// the end, so they arrive among the honest devices).
fn is_bad(i: usize, n: usize, bad: usize) -> bool {
    n > 0 && (i + 1) * bad / n > i * bad / n
}

/// A fleet of `devices` devices around `now`, `bad_percent` percent of them (rounded) bad
/// actors cycling through [`BadKind::ALL`]. All P-256; the same arguments give the same keys
/// and certificates.
pub fn load_fleet(now: i64, devices: usize, bad_percent: u32) -> LoadFleet {
    let key =
        |label: &str| KeyPair::generate(KeyKind::P256, DEFAULT_SEED, &format!("load/{label}"));
    let dn = |cn: &str| Dn::new().o(ORG).cn(cn);
    let root = CertSpec::ca(
        dn("Acme Load Test Root CA"),
        key("root"),
        now - YEAR,
        now + 10 * YEAR,
        None,
    )
    .self_signed();
    let mfg = CertSpec::ca(
        dn("Acme Load Test Manufacturing CA"),
        key("manufacturing"),
        now - YEAR,
        now + 10 * YEAR,
        Some(0),
    )
    .issued_by(&root);
    let rogue_ca = CertSpec::ca(
        Dn::new().o("Not Acme").cn("Rogue Manufacturing CA"),
        key("rogue"),
        now - YEAR,
        now + 10 * YEAR,
        None,
    )
    .self_signed();
    let server_ca = CertSpec::ca(
        Dn::new().o(ORG).cn("Acme Load Test Server CA"),
        key("server-ca"),
        now - DAY,
        now + YEAR,
        None,
    )
    .self_signed();
    let server_key = key("server");
    let server = CertSpec::new(Dn::new().cn("localhost"), server_key, now - DAY, now + YEAR)
        .with_san(San::Dns("localhost".into()))
        .with_san(San::Ip(std::net::IpAddr::from([127, 0, 0, 1])))
        .with_eku(&[const_oid::db::rfc5280::ID_KP_SERVER_AUTH])
        .issued_by(&server_ca);

    let bad_total = (devices * bad_percent.min(100) as usize + 50) / 100;
    let width = (2 * devices).to_string().len().max(5);
    let id = |i: usize| format!("{LOAD_ID_PREFIX}{i:0width$}");
    let spec = |name: &str, k: KeyPair| {
        CertSpec::device(name, ORG, "Sensors", k, now - 30 * DAY, now + YEAR)
    };
    let mut out = Vec::with_capacity(devices);
    let mut revoked = Vec::new();
    let mut bad_seen = 0usize;
    for i in 0..devices {
        let name = id(i + 1);
        let own = key(&format!("device/{name}"));
        let bad = is_bad(i, devices, bad_total).then(|| {
            let k = BadKind::ALL[bad_seen % BadKind::ALL.len()];
            bad_seen += 1;
            k
        });
        let mut client_id = name.clone();
        let (chain, signing_key) = match bad {
            None => (
                vec![spec(&name, own.clone()).issued_by(&mfg), mfg.clone()],
                own,
            ),
            Some(BadKind::UntrustedIssuer) => (
                vec![
                    spec(&name, own.clone()).issued_by(&rogue_ca),
                    rogue_ca.clone(),
                ],
                own,
            ),
            Some(BadKind::Expired) => (
                vec![
                    spec(&name, own.clone())
                        .with_validity(now - 400 * DAY, now - 10 * DAY)
                        .issued_by(&mfg),
                    mfg.clone(),
                ],
                own,
            ),
            Some(BadKind::Revoked) => {
                let leaf = spec(&name, own.clone()).issued_by(&mfg);
                revoked.push(leaf.clone());
                (vec![leaf, mfg.clone()], own)
            }
            // The genuine certificate of `name`, whose owner is not in this run, with a key
            // the cloner made.
            Some(BadKind::WrongKey) => (
                vec![spec(&name, own).issued_by(&mfg), mfg.clone()],
                key(&format!("clone/{name}")),
            ),
            // Claims a fleet device ID that does not connect in this run, so a broker that
            // admits it does not also take over an honest device's session.
            Some(BadKind::ClientIdMismatch) => {
                client_id = id(devices + i + 1);
                (
                    vec![spec(&name, own.clone()).issued_by(&mfg), mfg.clone()],
                    own,
                )
            }
        };
        out.push(LoadDevice {
            name,
            client_id,
            bad,
            chain,
            key: signing_key,
        });
    }
    let crl = revoked
        .iter()
        .fold(CrlSpec::new(now - DAY, now + 30 * DAY), |c, leaf| {
            c.revoke(leaf, now - 2 * DAY)
        })
        .sign(&mfg);
    LoadFleet {
        root,
        manufacturing_ca: mfg,
        rogue_ca,
        server_ca,
        server,
        crl,
        devices: out,
        validation_time: now,
    }
}

impl LoadFleet {
    /// The fleet policy: one group anchored at the root for `load-*`, the revoked devices'
    /// serials on the deny list.
    pub fn policy_toml(&self) -> String {
        let serials: Vec<String> = self
            .devices
            .iter()
            .filter(|d| d.bad == Some(BadKind::Revoked))
            .filter_map(|d| d.chain.first())
            .map(|c| format!("\"{}\"", c.serial_hex()))
            .collect();
        let mut text = format!(
            "# The load test fleet (chainproof loadtest --generate).\nversion = 1\n\n\
             [[group]]\nid = \"load\"\nanchors_file = \"root.pem\"\n\
             device_id_pattern = \"{LOAD_ID_PREFIX}*\"\nroute = \"load\"\n"
        );
        if !serials.is_empty() {
            let issuer = self.manufacturing_ca.sha256_hex().to_ascii_uppercase();
            text.push_str(
                "\n# Revoked devices (crl.pem lists the same serials for brokers that take a CRL).\n\
                 [revocation]\ndeny_serials = [\n",
            );
            for s in serials {
                text.push_str(&format!(
                    "  {{ issuer_sha256 = \"{issuer}\", serial = {s} }},\n"
                ));
            }
            text.push_str("]\n");
        }
        text
    }

    /// Write into `dir`: `root.pem`, `manufacturing-ca.pem`, `ca-bundle.pem` (root and
    /// manufacturing CA), `crl.pem`, `server-ca.pem`, `server.pem`, `server.key`,
    /// `policy.toml`, `devices/<name>/chain.pem` and `key.pem` per device, and
    /// `manifest.json` (each device's files, client ID, kind and the verdict expected).
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir.join("devices"))?;
        fs::write(dir.join("root.pem"), self.root.pem())?;
        fs::write(
            dir.join("manufacturing-ca.pem"),
            self.manufacturing_ca.pem(),
        )?;
        fs::write(
            dir.join("ca-bundle.pem"),
            self.root.pem() + &self.manufacturing_ca.pem(),
        )?;
        fs::write(dir.join("crl.pem"), self.crl.pem())?;
        fs::write(dir.join("server-ca.pem"), self.server_ca.pem())?;
        fs::write(dir.join("server.pem"), self.server.pem())?;
        fs::write(dir.join("server.key"), self.server.key.private_pkcs8_pem())?;
        fs::write(dir.join("policy.toml"), self.policy_toml())?;
        let mut entries = Vec::with_capacity(self.devices.len());
        for d in &self.devices {
            let sub = dir.join("devices").join(&d.name);
            fs::create_dir_all(&sub)?;
            fs::write(
                sub.join("chain.pem"),
                d.chain.iter().map(Cert::pem).collect::<String>(),
            )?;
            fs::write(sub.join("key.pem"), d.key.private_pkcs8_pem())?;
            entries.push(json!({
                "name": d.name,
                "client_id": d.client_id,
                "kind": d.bad.map_or("good", BadKind::name),
                "expect": if d.bad.is_some() { "reject" } else { "accept" },
                "expected_code": d.bad.map(BadKind::expected_code),
                "chain": format!("devices/{}/chain.pem", d.name),
                "key": format!("devices/{}/key.pem", d.name),
            }));
        }
        let manifest = json!({
            "validation_time": self.validation_time,
            "server_ca": "server-ca.pem",
            "server_name": "localhost",
            "devices": entries,
        });
        let text = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
        fs::write(dir.join("manifest.json"), text + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_actors_are_spread_and_cycle_through_every_kind() {
        let fleet = load_fleet(1_750_000_000, 100, 10);
        let bad: Vec<BadKind> = fleet.devices.iter().filter_map(|d| d.bad).collect();
        assert_eq!(bad.len(), 10);
        for k in BadKind::ALL {
            assert_eq!(bad.iter().filter(|b| **b == k).count(), 2, "{k:?}");
        }
        // Spread: one in every ten devices.
        assert!(
            fleet.devices[..10]
                .iter()
                .filter(|d| d.bad.is_some())
                .count()
                == 1
        );
        let names: std::collections::HashSet<&str> =
            fleet.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), 100);
    }

    #[test]
    fn revoked_devices_are_on_the_crl_and_the_deny_list() {
        let fleet = load_fleet(1_750_000_000, 20, 50);
        let revoked: Vec<String> = fleet
            .devices
            .iter()
            .filter(|d| d.bad == Some(BadKind::Revoked))
            .map(|d| d.chain[0].serial_hex())
            .collect();
        assert!(!revoked.is_empty());
        let policy = fleet.policy_toml();
        for s in &revoked {
            assert!(fleet.crl.revoked_serials_hex.contains(s));
            assert!(policy.contains(s.as_str()));
        }
    }
}
