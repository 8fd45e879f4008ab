//! Differential test of chainproof's RSASSA-PKCS1-v1_5 verification for public data
//! (`chainproof::rsa_pkcs1`) against the `rsa` crate's own `verify`, for 2048- and 4096-bit
//! keys and SHA-256/384/512:
//! - valid signatures, and the same signatures with one bit flipped;
//! - the integers at the edges (0, 1, n-1, n, n+1, all ones) and signatures one octet short or
//!   long;
//! - encoded messages built to be almost right (every octet of a valid encoding changed in
//!   turn, padding too short, the wrong block type, the DigestInfo without its NULL, another
//!   hash's prefix, trailing data) and raised to the private exponent, so the public operation
//!   recovers exactly them;
//! - random integers below the modulus;
//! - and key acceptance: moduli and exponents at the edges of the crate's rules, each accepted
//!   by `RsaKey::from_pkcs1` exactly when the crate's `RsaPublicKey::try_from` accepts it.
//!
//! `cargo test -p chainproof-core --test rsa_differential` runs 2,000 random integers per key
//! besides the fixed cases (what CI runs); `CHAINPROOF_RSA_CASES=N` runs N.

mod common;

use chainproof::rsa_pkcs1::{self, RsaKey};
use chainproof_testkit::keys::{KeyKind, KeyPair};
use common::rng::Rng;
use crypto_bigint::BoxedUint;
use crypto_bigint::modular::BoxedMontyForm;
use der::asn1::UintRef;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::Digest;

fn cases() -> usize {
    std::env::var("CHAINPROOF_RSA_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// A hash's name, the crate's scheme for it (with its DigestInfo prefix) and its function.
type Scheme = (&'static str, Pkcs1v15Sign, fn(&[u8]) -> Vec<u8>);

/// The three hashes.
fn schemes() -> Vec<Scheme> {
    vec![
        ("SHA-256", Pkcs1v15Sign::new::<sha2::Sha256>(), |m| {
            sha2::Sha256::digest(m).to_vec()
        }),
        ("SHA-384", Pkcs1v15Sign::new::<sha2::Sha384>(), |m| {
            sha2::Sha384::digest(m).to_vec()
        }),
        ("SHA-512", Pkcs1v15Sign::new::<sha2::Sha512>(), |m| {
            sha2::Sha512::digest(m).to_vec()
        }),
    ]
}

struct Key {
    private: RsaPrivateKey,
    public: RsaPublicKey,
    ours: RsaKey,
}

impl Key {
    fn new(kind: KeyKind) -> Key {
        let pair = KeyPair::generate(kind, 1, "rsa-differential");
        let private = RsaPrivateKey::from_pkcs8_der(&pair.private_pkcs8_der())
            .expect("the testkit's key decodes");
        let public = private.to_public_key();
        let ours = pkcs1_key(&public.n_bytes(), &public.e_bytes(), |k| {
            RsaKey::from_pkcs1(k).expect("chainproof accepts the testkit's key")
        });
        Key {
            private,
            public,
            ours,
        }
    }

    fn k(&self) -> usize {
        self.public.size()
    }

    /// `em^d mod n` as k octets: the signature whose public operation gives back `em`.
    fn raw_sign(&self, em: &[u8]) -> Vec<u8> {
        let precision = self.public.n_bits_precision();
        let m = BoxedUint::from_be_slice(em, precision).expect("em fits the modulus' precision");
        let d = self.private.d();
        let s = BoxedMontyForm::new(m, self.public.n_params())
            .pow(d)
            .retrieve();
        i2osp(&s, self.k())
    }

    /// The EMSA-PKCS1-v1_5 encoding of `hashed`, built independently of the code under test.
    fn encode(&self, prefix: &[u8], hashed: &[u8]) -> Vec<u8> {
        let t_len = prefix.len() + hashed.len();
        let mut em = vec![0x00, 0x01];
        em.resize(self.k() - t_len - 1, 0xff);
        em.push(0x00);
        em.extend_from_slice(prefix);
        em.extend_from_slice(hashed);
        em
    }
}

/// `f` of the PKCS#1 `RSAPublicKey` with these big-endian integers.
fn pkcs1_key<T>(
    n: &[u8],
    e: &[u8],
    f: impl FnOnce(&rsa::pkcs1::RsaPublicKey<UintRef<'_>>) -> T,
) -> T {
    let key = rsa::pkcs1::RsaPublicKey {
        modulus: UintRef::new(n).expect("a modulus"),
        public_exponent: UintRef::new(e).expect("an exponent"),
    };
    f(&key)
}

fn i2osp(x: &BoxedUint, k: usize) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    bytes[bytes.len() - k..].to_vec()
}

/// Both verdicts on one signature; panics with the case's name when they differ.
fn agree(key: &Key, scheme: &Pkcs1v15Sign, hashed: &[u8], sig: &[u8], case: &str) -> bool {
    let reference = key.public.verify(scheme.clone(), hashed, sig).is_ok();
    let ours = rsa_pkcs1::verify(&key.ours, &scheme.prefix, hashed, sig);
    assert_eq!(
        ours,
        reference,
        "{case}: chainproof says {ours}, the rsa crate {reference} ({} bits)",
        key.public.n().bits()
    );
    ours
}

fn run(kind: KeyKind, seed: u64, flips: usize) {
    let key = Key::new(kind);
    let k = key.k();
    let mut rng = Rng(seed);
    let mut accepted = 0usize;
    let mut checked = 0usize;
    let mut check = |scheme: &Pkcs1v15Sign, hashed: &[u8], sig: &[u8], case: &str| {
        checked += 1;
        accepted += usize::from(agree(&key, scheme, hashed, sig, case));
    };
    let n = key.public.n().to_be_bytes();
    let n = n[n.len() - k..].to_vec();

    for (name, scheme, digest) in schemes() {
        let hashed = digest(&rng.bytes(40));
        let em = key.encode(&scheme.prefix, &hashed);
        let sig = key.raw_sign(&em);
        check(&scheme, &hashed, &sig, &format!("{name}: valid"));

        // One bit flipped: of the signature, spread over all of it.
        for i in 0..flips {
            let bit = i * (k * 8) / flips;
            let mut bad = sig.clone();
            bad[bit / 8] ^= 0x80 >> (bit % 8);
            check(
                &scheme,
                &hashed,
                &bad,
                &format!("{name}: signature bit {bit}"),
            );
        }
        // Every octet of the encoded message changed, then signed.
        for i in 0..k {
            if i > 16 && i + 16 < k - hashed.len() - scheme.prefix.len() && i % 37 != 0 {
                continue; // the middle of the padding: a sample is enough
            }
            let mut bad = em.clone();
            bad[i] ^= 0x01;
            check(
                &scheme,
                &hashed,
                &key.raw_sign(&bad),
                &format!("{name}: em octet {i}"),
            );
        }
        // A hash that differs, and the wrong length of hash.
        let mut other = hashed.clone();
        other[0] ^= 1;
        check(&scheme, &other, &sig, &format!("{name}: other hash"));
        check(&scheme, &hashed[1..], &sig, &format!("{name}: short hash"));

        // Encodings that are almost right.
        let t: Vec<u8> = [&scheme.prefix[..], &hashed[..]].concat();
        let crafted = |head: &[u8], ps: usize, sep: &[u8], t: &[u8], tail: &[u8]| {
            let mut em = head.to_vec();
            em.resize(head.len() + ps, 0xff);
            em.extend_from_slice(sep);
            em.extend_from_slice(t);
            em.extend_from_slice(tail);
            em
        };
        let full_ps = k - t.len() - 3;
        let mut variants: Vec<(String, Vec<u8>)> = vec![
            (
                "block type 2".into(),
                crafted(&[0, 2], full_ps, &[0], &t, &[]),
            ),
            (
                "no leading zero".into(),
                crafted(&[1, 0xff], full_ps, &[0], &t, &[]),
            ),
            (
                "padding short, zeros after the hash".into(),
                crafted(&[0, 1], full_ps - 4, &[0], &t, &[0; 4]),
            ),
            (
                "padding short, garbage after the hash".into(),
                crafted(&[0, 1], full_ps - 4, &[0], &t, &[1, 2, 3, 4]),
            ),
            (
                "separator 0x01".into(),
                crafted(&[0, 1], full_ps, &[1], &t, &[]),
            ),
        ];
        // The DigestInfo without the NULL parameters (the form RFC 8017 note 2 mentions, which
        // the rsa crate refuses): prefix[1] and prefix[3] shrink by two, "05 00" goes.
        let mut no_null = scheme.prefix.to_vec();
        if let Some(pos) = no_null.windows(2).position(|w| w == [0x05, 0x00]) {
            no_null.drain(pos..pos + 2);
            no_null[1] -= 2;
            no_null[3] -= 2;
            let t2: Vec<u8> = [&no_null[..], &hashed[..]].concat();
            variants.push((
                "DigestInfo without NULL".into(),
                crafted(&[0, 1], k - t2.len() - 3, &[0], &t2, &[]),
            ));
        }
        for (other_name, other_scheme, _) in schemes() {
            if other_name != name {
                let t2: Vec<u8> = [&other_scheme.prefix[..], &hashed[..]].concat();
                if k >= t2.len() + 11 {
                    variants.push((
                        format!("{other_name}'s prefix"),
                        crafted(&[0, 1], k - t2.len() - 3, &[0], &t2, &[]),
                    ));
                }
            }
        }
        for (what, em) in variants {
            assert_eq!(em.len(), k, "{what}");
            check(
                &scheme,
                &hashed,
                &key.raw_sign(&em),
                &format!("{name}: {what}"),
            );
        }

        // The integers at the edges and the wrong lengths.
        let mut edges: Vec<(&str, Vec<u8>)> = vec![
            ("zero", vec![0; k]),
            ("one", {
                let mut v = vec![0; k];
                v[k - 1] = 1;
                v
            }),
            ("all ones", vec![0xff; k]),
            ("n", n.clone()),
            ("one octet short", sig[1..].to_vec()),
            ("one octet long", [&[0][..], &sig[..]].concat()),
            ("empty", Vec::new()),
        ];
        let mut n_minus_one = n.clone();
        n_minus_one[k - 1] -= 1; // n is odd
        edges.push(("n-1", n_minus_one));
        let mut n_plus_one = n.clone();
        n_plus_one[k - 1] += 1; // n is odd: no carry
        edges.push(("n+1", n_plus_one));
        let mut s_plus_n = sig.clone();
        let mut carry = 0u16;
        for i in (0..k).rev() {
            let v = u16::from(s_plus_n[i]) + u16::from(n[i]) + carry;
            s_plus_n[i] = v as u8;
            carry = v >> 8;
        }
        if carry == 0 {
            edges.push(("s+n", s_plus_n));
        }
        for (what, s) in edges {
            check(&scheme, &hashed, &s, &format!("{name}: {what}"));
        }
    }

    // Random integers (mostly below n: the top octet is kept under n's).
    let (_, scheme, digest) = &schemes()[0];
    let hashed = digest(b"random");
    for i in 0..cases() {
        let mut s = rng.bytes(k);
        s[0] %= n[0].max(1);
        check(scheme, &hashed, &s, &format!("random integer {i}"));
    }

    // The valid cases are the three valid signatures; nothing else may pass.
    assert_eq!(accepted, 3, "{checked} cases checked");
    assert!(checked > cases());
}

#[test]
fn rsa_2048_verdicts_equal_the_rsa_crate() {
    run(KeyKind::Rsa2048, 0x2048, 2048);
}

#[test]
fn rsa_4096_verdicts_equal_the_rsa_crate() {
    run(KeyKind::Rsa4096, 0x4096, 512);
}

#[test]
fn keys_are_accepted_exactly_when_the_rsa_crate_accepts_them() {
    let real = Key::new(KeyKind::Rsa2048).public.n_bytes().to_vec();
    let mut even = real.clone();
    *even.last_mut().expect("a modulus") &= 0xfe;
    let odd_of = |len: usize, top: u8| {
        let mut n = vec![0xa5; len];
        n[0] = top;
        n[len - 1] |= 1;
        n
    };
    let moduli: Vec<(&str, Vec<u8>)> = vec![
        ("2048-bit", real.clone()),
        ("even", even),
        ("1023-bit", odd_of(128, 0x7f)),
        ("1024-bit", odd_of(128, 0x80)),
        ("2047-bit", odd_of(256, 0x40)),
        ("8192-bit", odd_of(1024, 0xff)),
        ("8193-bit", odd_of(1025, 0x01)),
        ("small", vec![0x0f]),
    ];
    let mut exponents: Vec<(String, Vec<u8>)> = [
        0u64,
        1,
        2,
        3,
        4,
        17,
        65_536,
        65_537,
        (1 << 33) - 3,
        (1 << 33) - 1,
        1 << 33,
        (1 << 33) + 1,
        u64::MAX,
    ]
    .iter()
    .map(|e| (e.to_string(), e.to_be_bytes().to_vec()))
    .collect();
    for (name, n) in &moduli {
        exponents.push((format!("the {name} modulus"), n.clone()));
        let mut below = n.clone();
        *below.last_mut().expect("a modulus") = below[below.len() - 1].wrapping_sub(2);
        exponents.push((format!("the {name} modulus - 2"), below));
    }
    let (mut checked, mut accepted) = (0, 0);
    for (n_name, n) in &moduli {
        for (e_name, e) in &exponents {
            let ours = pkcs1_key(n, e, |k| RsaKey::from_pkcs1(k).is_some());
            let reference = pkcs1_key(n, e, |k| RsaPublicKey::try_from(*k).is_ok());
            assert_eq!(ours, reference, "modulus {n_name}, exponent {e_name}");
            if ours {
                let key = pkcs1_key(n, e, |k| RsaKey::from_pkcs1(k).expect("accepted"));
                assert!(
                    key.crate_key().is_some(),
                    "modulus {n_name}, exponent {e_name}"
                );
                accepted += 1;
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
    // Both verdicts occur: 3, 17, 65537, 2^33-3 and 2^33-1 under the four acceptable moduli
    // (and the moduli' own minus 2 where it fits).
    assert!(
        (20..checked / 2).contains(&accepted),
        "{accepted} of {checked} accepted"
    );
}
