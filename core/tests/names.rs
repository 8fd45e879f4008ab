//! `name::dn_text` renders every subject and issuer name of the x509-limbo suite (certificates
//! and CRLs, thousands of unusual names) exactly as x509-cert's `Display` does, the text the
//! core showed before it rendered names itself.

mod common;

use chainproof::name::dn_text;
use chainproof::{parse_certificates, parse_crls};
use common::limbo_suite::{load_suite, suite_path};
use der::Decode as _;
use x509_cert::Certificate;
use x509_cert::certificate::Rfc5280;
use x509_cert::crl::CertificateList;

#[test]
fn limbo_names_render_as_x509_cert_display() {
    let suite = load_suite(&suite_path());
    let mut checked = 0usize;
    for tc in &suite.testcases {
        let certs = tc
            .trusted_certs
            .iter()
            .chain(&tc.untrusted_intermediates)
            .chain([&tc.peer_certificate]);
        for pem in certs {
            for der in parse_certificates(pem.as_bytes()).unwrap_or_default() {
                let Ok(cert) = Certificate::from_der(&der) else {
                    continue;
                };
                let tbs = cert.tbs_certificate();
                for name in [tbs.subject(), tbs.issuer()] {
                    assert_eq!(dn_text(name), name.to_string(), "in {}", tc.id);
                    checked += 1;
                }
            }
        }
        for pem in &tc.crls {
            for der in parse_crls(pem.as_bytes()).unwrap_or_default() {
                if let Ok(crl) = CertificateList::<Rfc5280>::from_der(&der) {
                    let name = &crl.tbs_cert_list.issuer;
                    assert_eq!(dn_text(name), name.to_string(), "in {}", tc.id);
                    checked += 1;
                }
            }
        }
    }
    // The suite has tens of thousands of names; a handful would mean it was not read.
    assert!(checked > 10_000, "only {checked} names checked");
}
