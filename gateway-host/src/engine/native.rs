//! The native engine: the core called directly, answers reduced to [`Rejection`] like the
//! component's, so `--engine native` and `--engine wasm` print the same thing.

use chainproof::{FleetPolicy, TrustStore, VerifyOptions, verify_chain};

use super::types::{Accepted, Rejection, TrustSource};

/// A trust store built natively from a [`TrustSource`].
#[derive(Debug)]
pub enum NativeTrust {
    /// Anchors and CRLs.
    Anchors(TrustStore),
    /// A fleet policy.
    Policy(Box<FleetPolicy>),
}

impl NativeTrust {
    /// Decode the anchors and CRLs, or load the policy (the same steps as the component's
    /// `trust-store.from-anchors` / `from-policy`).
    pub fn new(source: &TrustSource) -> Result<Self, Rejection> {
        match source {
            TrustSource::Anchors { anchors, crls } => {
                let mut store = TrustStore::new();
                for a in anchors {
                    store.add_anchors(a)?;
                }
                for c in crls {
                    store.add_crls(c)?;
                }
                Ok(NativeTrust::Anchors(store))
            }
            TrustSource::Policy { text, files } => {
                let resolve = |name: &str| -> Result<Vec<u8>, String> {
                    files
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, c)| c.clone())
                        .ok_or_else(|| {
                            format!("{name}: not among the files passed with the policy")
                        })
                };
                Ok(NativeTrust::Policy(Box::new(FleetPolicy::from_toml(
                    text, &resolve,
                )?)))
            }
        }
    }

    /// Verify a device chain (`trust-store.verify`).
    pub fn verify(
        &self,
        leaf: &[u8],
        intermediates: &[Vec<u8>],
        opts: &VerifyOptions,
    ) -> Result<Accepted, Rejection> {
        match self {
            NativeTrust::Anchors(store) => verify_chain(store, leaf, intermediates, opts)
                .map(Accepted::Chain)
                .map_err(Rejection::from),
            NativeTrust::Policy(policy) => policy
                .verify(leaf, intermediates, opts)
                .map(Accepted::Admitted)
                .map_err(Rejection::from),
        }
    }
}
