//! Fixture generator for chainproof: realistic IoT device PKIs and deliberately broken variants.
//!
//! Everything is built from typed x509-cert / der structures and signed with RustCrypto keys
//! derived from a seed, so the same seed and `now` always give byte-identical fixtures.
//!
//! - [`iot_fixtures`]: the named validation cases (valid fleets and one mutation each).
//! - [`demo_pki`]: a small fleet for the CLI demo.
//! - [`fleet_example`]: the README's fleet policy example (two factories, a revoked batch, a
//!   compromised CA).
//! - [`load_fleet`]: many devices with a share of bad actors, for the gateway load tool.
//! - [`CertSpec`] / [`CrlSpec`] / [`KeyPair`]: the building blocks, for cases of your own.
//! - [`Fixture::write_to`]: PEM files plus `fixture.json` for tools that take files.

#![warn(missing_docs)]

pub mod cert;
pub mod codes;
pub mod crl;
pub mod fixture;
pub mod fleet;
pub mod keys;
pub mod load;
pub mod scenarios;

pub use cert::{
    BasicConstraintsSpec, Cert, CertSpec, CertVersion, DAY, Dn, DnAttr, NameConstraintsSpec, San,
    Subtree, YEAR, extension, unix_to_time,
};
pub use crl::{Crl, CrlSpec, RevokedEntry};
pub use fixture::{Fixture, write_fixtures};
pub use fleet::{FleetExample, fleet_example};
pub use keys::{KeyKind, KeyPair, SigAlg};
pub use load::{BadKind, LoadDevice, LoadFleet, load_fleet};
pub use scenarios::{
    DEFAULT_SEED, DemoPki, UNKNOWN_EXTENSION_OID, demo_pki, iot_fixture, iot_fixtures,
    iot_fixtures_with_seed,
};
/// Re-exported so callers can name keyUsage bits without depending on x509-cert.
pub use x509_cert::ext::pkix::KeyUsages;
