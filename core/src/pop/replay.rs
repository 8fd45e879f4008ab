//! Remembering answered challenges so that each can be answered once.

use std::collections::{BTreeSet, HashSet};

use super::challenge::{Challenge, NONCE_LEN};
use crate::error::Error;
use crate::time::UnixTime;

/// Default capacity: 100,000 nonces at ~100 bytes each is ~10 MB, enough for a gateway taking
/// over 1,500 device logins a second with 60-second challenges.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// A bounded memory of used nonces.
///
/// A nonce is remembered until its challenge expires; after that the challenge itself is refused
/// as expired, so forgetting it is safe. When `capacity` unexpired nonces are held, new ones are
/// refused (`pop-replay-guard-full`): forgetting an unexpired one would reopen a replay window.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    capacity: usize,
    used: HashSet<[u8; NONCE_LEN]>,
    /// (expires_at, nonce), oldest first, to prune in order.
    by_expiry: BTreeSet<(i64, [u8; NONCE_LEN])>,
}

impl ReplayGuard {
    /// A guard holding at most `capacity` unexpired nonces.
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity,
            used: HashSet::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// The most unexpired nonces held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Nonces currently remembered (some may have expired since the last call).
    pub fn len(&self) -> usize {
        self.used.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }

    /// Forget nonces whose challenges expired at or before `now`.
    pub fn prune(&mut self, now: UnixTime) {
        while let Some(first) = self.by_expiry.first().copied() {
            if first.0 > now.0 {
                break;
            }
            self.by_expiry.remove(&first);
            self.used.remove(&first.1);
        }
    }

    /// Whether `challenge` may be accepted at `now` (unexpired, not used, room left), without
    /// recording it. Prunes expired entries first.
    pub fn check(&mut self, challenge: &Challenge, now: UnixTime) -> Result<(), Error> {
        self.prune(now);
        challenge.check_time(now)?;
        if self.used.contains(challenge.nonce()) {
            return Err(Error::PopReplayed {
                expires_at: challenge.expires_at(),
            });
        }
        if self.used.len() >= self.capacity {
            return Err(Error::PopReplayGuardFull {
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// [`ReplayGuard::check`], then remember the nonce until the challenge expires.
    pub fn check_and_record(&mut self, challenge: &Challenge, now: UnixTime) -> Result<(), Error> {
        self.check(challenge, now)?;
        self.used.insert(*challenge.nonce());
        self.by_expiry
            .insert((challenge.expires_at(), *challenge.nonce()));
        Ok(())
    }
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn ch(n: u8, at: i64) -> Challenge {
        Challenge::new([n; 32], "v", UnixTime(at), 60).unwrap()
    }

    #[test]
    fn refuses_reuse_until_expiry_then_expired() {
        let mut g = ReplayGuard::new(10);
        g.check_and_record(&ch(1, 100), UnixTime(100)).unwrap();
        let again = g.check_and_record(&ch(1, 100), UnixTime(120)).unwrap_err();
        assert_eq!(again.code(), ErrorCode::PopReplayed);
        // After expiry the nonce is forgotten, and the challenge is refused as expired instead.
        let late = g.check_and_record(&ch(1, 100), UnixTime(160)).unwrap_err();
        assert_eq!(late.code(), ErrorCode::PopExpired);
        assert!(g.is_empty());
    }

    #[test]
    fn full_guard_refuses_rather_than_forgets() {
        let mut g = ReplayGuard::new(2);
        g.check_and_record(&ch(1, 100), UnixTime(100)).unwrap();
        g.check_and_record(&ch(2, 110), UnixTime(110)).unwrap();
        let full = g.check_and_record(&ch(3, 110), UnixTime(110)).unwrap_err();
        assert_eq!(full.code(), ErrorCode::PopReplayGuardFull);
        // Both unexpired nonces are still refused.
        assert_eq!(
            g.check(&ch(1, 100), UnixTime(111)).unwrap_err().code(),
            ErrorCode::PopReplayed
        );
        // Once the first expires there is room again.
        g.check_and_record(&ch(3, 160), UnixTime(160)).unwrap();
        assert_eq!(g.len(), 2);
    }
}
