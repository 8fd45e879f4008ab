//! Time as the caller gives it: Unix seconds, never read from a clock here.

use core::fmt;

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// Fractional inputs round down, as RFC 5280 validation expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UnixTime(pub i64);

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl UnixTime {
    /// Parse either a decimal Unix time (`1700000000`, `1700000000.75`) or an RFC 3339 timestamp
    /// (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.250+02:00`). Fractions round down.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            let int = s.split('.').next().unwrap_or("");
            return int
                .parse::<i64>()
                .map(UnixTime)
                .map_err(|_| format!("{s:?} is not a Unix time in seconds"));
        }
        Self::parse_rfc3339(s).ok_or_else(|| {
            format!("{s:?} is neither Unix seconds nor RFC 3339 (e.g. 2025-06-01T12:00:00Z)")
        })
    }

    fn parse_rfc3339(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: core::ops::Range<usize>| -> Option<i64> {
            let part = s.get(r)?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let (y, mo, d, h, mi, se) = (
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        );
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            rest = &frac[n..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && &rest[3..4] == ":" =>
            {
                let oh = num(s.len() - 5..s.len() - 3)?;
                let om = num(s.len() - 2..s.len())?;
                let v = oh * 3600 + om * 60;
                if rest.starts_with('-') { -v } else { v }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        Some(UnixTime(days * 86_400 + h * 3600 + mi * 60 + se - offset))
    }

    /// RFC 3339 in UTC, e.g. `2025-06-01T12:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }

    /// From an X.509 `Time` (UTCTime or GeneralizedTime).
    pub fn from_x509(t: &x509_cert::time::Time) -> Self {
        let d = t.to_unix_duration();
        UnixTime(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_rounds_down() {
        assert_eq!(
            UnixTime::parse("1700000000").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            UnixTime::parse("1700000000.9").unwrap(),
            UnixTime(1_700_000_000)
        );
        assert_eq!(
            UnixTime::parse("1970-01-01T00:00:00Z").unwrap(),
            UnixTime(0)
        );
        assert_eq!(
            UnixTime::parse("2024-01-01T00:00:00+00:00").unwrap(),
            UnixTime(1_704_067_200)
        );
        assert_eq!(
            UnixTime::parse("2024-01-01T00:00:00.999Z").unwrap(),
            UnixTime(1_704_067_200)
        );
        assert_eq!(
            UnixTime::parse("2024-01-01T02:00:00+02:00").unwrap(),
            UnixTime(1_704_067_200)
        );
        assert!(UnixTime::parse("yesterday").is_err());
        assert!(UnixTime::parse("2024-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(UnixTime(1_704_067_200).to_rfc3339(), "2024-01-01T00:00:00Z");
        assert_eq!(UnixTime(0).to_string(), "1970-01-01T00:00:00Z");
        for t in [0, 951_782_400, 1_704_067_199, 4_102_444_800] {
            assert_eq!(
                UnixTime::parse(&UnixTime(t).to_rfc3339()).unwrap(),
                UnixTime(t)
            );
        }
    }
}
