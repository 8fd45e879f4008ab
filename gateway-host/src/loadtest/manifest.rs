//! `manifest.json` of a credentials directory (written by `chainproof loadtest --generate`,
//! testkit's `LoadFleet::write_to`): each device's files, client ID, kind and expected verdict.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
    /// The CA that issued the server certificate, relative to the directory.
    pub server_ca: Option<String>,
    /// The name the server certificate carries.
    pub server_name: Option<String>,
    /// The devices, in the order they connect.
    pub devices: Vec<ManifestDevice>,
}

/// One device.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestDevice {
    /// Unique name.
    pub name: String,
    /// The MQTT client ID it sends.
    pub client_id: String,
    /// `good` or the kind of bad actor.
    pub kind: String,
    /// `accept` or `reject`.
    pub expect: String,
    /// Its certificate chain (PEM, leaf first), relative to the directory.
    pub chain: String,
    /// Its key (PEM), relative to the directory.
    pub key: String,
}

impl ManifestDevice {
    /// Whether the server should accept it.
    pub fn expect_accept(&self) -> bool {
        self.expect == "accept"
    }
}

impl Manifest {
    /// Read `DIR/manifest.json`; errors name the file.
    pub fn load(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join("manifest.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(d) = m
            .devices
            .iter()
            .find(|d| d.expect != "accept" && d.expect != "reject")
        {
            return Err(format!(
                "{}: device {}: expect must be \"accept\" or \"reject\", not {:?}",
                path.display(),
                d.name,
                d.expect
            ));
        }
        Ok(m)
    }

    /// The server CA named by the manifest, resolved against `dir`.
    pub fn server_ca(&self, dir: &Path) -> Option<PathBuf> {
        self.server_ca.as_ref().map(|p| dir.join(p))
    }
}
