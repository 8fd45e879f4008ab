//! RSA public keys and RSASSA-PKCS1-v1_5 verification for public data (RFC 8017 §8.2.2).
//!
//! Everything a verifier touches is public, and the `rsa` crate treats it as secret twice:
//! - building an `RsaPublicKey` computes the key's Montgomery parameters (R mod n, R² mod n)
//!   with constant-time division, about twice the time of crypto-bigint's variable-time
//!   `BoxedMontyParams::new_vartime` (37 µs against 17 µs for a 4096-bit key, natively);
//! - verification raises the signature to the public exponent with the fixed-window,
//!   constant-time exponentiation it uses for private keys: for e = 65537 that is about 35
//!   Montgomery multiplications (16 table entries, 16 squarings, 5 window multiplications)
//!   where 17 suffice (16 squarings and one multiplication).
//!
//! [`RsaKey`] takes the modulus and exponent the `rsa` crate's decoder would, applies the
//! crate's own checks of `RsaPublicKey::new` one for one, and keeps variable-time parameters;
//! [`verify`] does a left-to-right square-and-multiply over the exponent's bits with
//! crypto-bigint's public Montgomery type. No arithmetic is written here. Together they take
//! an RSA-4096/4096/2048 chain from 668 µs to about 345 µs natively.
//!
//! The recovered message is then compared with the encoding of the expected hash, as RFC 8017
//! §8.2.2 step 3 prescribes (encode and compare, never parse), with the DigestInfo prefix the
//! `rsa` crate uses. The checks are the crate's: the signature is exactly `k` octets, its
//! integer is below the modulus, and every octet of the encoded message matches.
//! `tests/rsa_differential.rs` checks that key acceptance and every verdict equal the crate's
//! own, on valid, damaged and crafted keys and signatures.
//!
//! RSA-PSS is left to the `rsa` crate ([`RsaKey::crate_key`]): its encoding check is a
//! probabilistic scheme with its own rules, and IoT fleets sign with PKCS#1 v1.5.

use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};

/// An RSA public key, decoded once per certificate.
#[derive(Clone, Debug)]
pub struct RsaKey {
    e: BoxedUint,
    /// `k`, the modulus' length in octets (RFC 8017): every signature has exactly this length.
    k: usize,
    /// The Montgomery parameters, which hold the modulus n itself.
    params: BoxedMontyParams,
    /// The `rsa` crate's key, built on first use (RSA-PSS only).
    crate_key: OnceLock<Option<rsa::RsaPublicKey>>,
}

impl RsaKey {
    /// The key of a decoded PKCS#1 `RSAPublicKey`, or `None` wherever the `rsa` crate's
    /// `RsaPublicKey::try_from` refuses it: the same integers decoded the same way, then
    /// `RsaPublicKey::new`'s checks (modulus of 1024 to 8192 bits, odd; exponent odd, from 2
    /// to 2^33 - 1, below the modulus).
    pub fn from_pkcs1(key: &rsa::pkcs1::RsaPublicKey<der::asn1::UintRef<'_>>) -> Option<Self> {
        let integer = |bytes: &[u8]| {
            let bits = u32::try_from(bytes.len()).ok()?.checked_mul(8)?;
            BoxedUint::from_be_slice(bytes, bits).ok()
        };
        let n = integer(key.modulus.as_bytes())?;
        let e = integer(key.public_exponent.as_bytes())?;
        let n_bits = n.bits_vartime();
        let sizes = rsa::RsaPublicKey::MIN_SIZE..=rsa::RsaPublicKey::MAX_SIZE;
        let exponents = rsa::RsaPublicKey::MIN_PUB_EXPONENT..=rsa::RsaPublicKey::MAX_PUB_EXPONENT;
        let acceptable = sizes.contains(&usize::try_from(n_bits).ok()?)
            && e < n
            && n.bit_vartime(0)
            && e.bit_vartime(0)
            && e >= BoxedUint::from(*exponents.start())
            && e <= BoxedUint::from(*exponents.end());
        if !acceptable {
            return None;
        }
        let params = BoxedMontyParams::new_vartime(Odd::new(n).into_option()?);
        Some(RsaKey {
            k: usize::try_from(n_bits.div_ceil(8)).ok()?,
            e,
            params,
            crate_key: OnceLock::new(),
        })
    }

    /// The modulus n.
    fn n(&self) -> &BoxedUint {
        self.params.modulus().as_ref()
    }

    /// `k`: the modulus' length in octets.
    pub fn size(&self) -> usize {
        self.k
    }

    /// The same key as the `rsa` crate's `RsaPublicKey` (built once, on first use), for the
    /// schemes this module leaves to the crate. `None` only if the crate refuses a key this
    /// module accepted, which the differential test rules out.
    pub fn crate_key(&self) -> Option<&rsa::RsaPublicKey> {
        self.crate_key
            .get_or_init(|| rsa::RsaPublicKey::new(self.n().clone(), self.e.clone()).ok())
            .as_ref()
    }
}

/// RSAVP1 (RFC 8017 §5.2.2): `s^e mod n` as the `k`-octet encoded message, or `None` when the
/// signature is not `k` octets long or its integer is not below the modulus.
///
/// Variable time in everything, which is all public.
pub fn public_operation(key: &RsaKey, sig: &[u8]) -> Option<Vec<u8>> {
    let k = key.k;
    if sig.len() != k {
        return None;
    }
    let s = BoxedUint::from_be_slice(sig, key.params.bits_precision()).ok()?;
    if s >= *key.n() {
        return None;
    }
    let e = &key.e;
    // The exponent is at least 3 (odd, at least 2): it has a top bit.
    let top = e.bits_vartime().checked_sub(1)?;
    let x = BoxedMontyForm::new(s, &key.params);
    let mut z = x.clone();
    for bit in (0..top).rev() {
        z = z.square();
        if e.bit_vartime(bit) {
            z = z.mul(&x);
        }
    }
    let m = z.retrieve().to_be_bytes();
    // m < n < 2^(8k): every octet before the last k is zero.
    let (high, em) = m.split_at(m.len().checked_sub(k)?);
    high.iter().all(|&b| b == 0).then(|| em.to_vec())
}

/// RSASSA-PKCS1-v1_5 verification of `hashed` (the message's digest) under `key`, with the
/// DigestInfo `prefix` of the hash (`rsa::Pkcs1v15Sign::prefix`).
pub fn verify(key: &RsaKey, prefix: &[u8], hashed: &[u8], sig: &[u8]) -> bool {
    let Some(em) = public_operation(key, sig) else {
        return false;
    };
    encoded_message_matches(&em, prefix, hashed)
}

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2) compared octet for octet: `em` must be
/// `0x00 0x01 0xff.. 0x00 || prefix || hashed`, with at least 8 octets of `0xff`.
pub fn encoded_message_matches(em: &[u8], prefix: &[u8], hashed: &[u8]) -> bool {
    let t_len = prefix.len() + hashed.len();
    let Some(ps_len) = em.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ps_len < 8 {
        return false;
    }
    let (head, rest) = em.split_at(2);
    let (ps, rest) = rest.split_at(ps_len);
    let (separator, t) = rest.split_at(1);
    let (t_prefix, t_hash) = t.split_at(prefix.len());
    head == [0x00, 0x01]
        && ps.iter().all(|&b| b == 0xff)
        && separator == [0x00]
        && t_prefix == prefix
        && t_hash == hashed
}

#[cfg(test)]
mod tests {
    use super::encoded_message_matches;

    const PREFIX: [u8; 3] = [0x30, 0x31, 0x30];

    fn em(len: usize, hash: &[u8]) -> Vec<u8> {
        let mut em = vec![0x00, 0x01];
        em.resize(len - PREFIX.len() - hash.len() - 1, 0xff);
        em.push(0x00);
        em.extend_from_slice(&PREFIX);
        em.extend_from_slice(hash);
        em
    }

    #[test]
    fn the_encoding_is_compared_octet_for_octet() {
        let hash = [7u8; 32];
        let good = em(64, &hash);
        assert!(encoded_message_matches(&good, &PREFIX, &hash));
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(!encoded_message_matches(&bad, &PREFIX, &hash), "octet {i}");
        }
    }

    #[test]
    fn padding_needs_eight_octets_and_room() {
        let hash = [7u8; 32];
        // 2 + 8 + 1 + 3 + 32 = 46 octets: the shortest encoding.
        assert!(encoded_message_matches(&em(46, &hash), &PREFIX, &hash));
        let mut short = em(46, &hash);
        short.remove(2);
        assert!(!encoded_message_matches(&short, &PREFIX, &hash));
        assert!(!encoded_message_matches(&[], &PREFIX, &hash));
        assert!(!encoded_message_matches(&[0x00, 0x01], &PREFIX, &hash));
    }
}
