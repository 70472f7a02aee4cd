//! PostgreSQL `interval` (months, days, microseconds) from Arrow intervals and durations:
//! text in the default `postgres` IntervalStyle and the binary send form.

use bytes::{BufMut, BytesMut};

/// An interval as PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interval {
    pub(crate) months: i32,
    pub(crate) days: i32,
    pub(crate) micros: i64,
}

impl Interval {
    /// `1 year 2 mons 3 days 04:05:06.5`, as PostgreSQL prints it.
    pub(crate) fn write_text(&self, out: &mut BytesMut) {
        let mut parts: Vec<String> = Vec::new();
        let years = self.months / 12;
        let months = self.months % 12;
        let unit = |n: i64, singular: &str, plural: &str| {
            format!("{n} {}", if n == 1 { singular } else { plural })
        };
        if years != 0 {
            parts.push(unit(i64::from(years), "year", "years"));
        }
        if months != 0 {
            parts.push(unit(i64::from(months), "mon", "mons"));
        }
        if self.days != 0 {
            parts.push(unit(i64::from(self.days), "day", "days"));
        }
        if self.micros != 0 || parts.is_empty() {
            let negative = self.micros < 0;
            let total = self.micros.unsigned_abs();
            let hours = total / 3_600_000_000;
            let minutes = total / 60_000_000 % 60;
            let seconds = total / 1_000_000 % 60;
            let fraction = total % 1_000_000;
            let mut time = format!(
                "{}{hours:02}:{minutes:02}:{seconds:02}",
                if negative { "-" } else { "" }
            );
            if fraction != 0 {
                let digits = format!("{fraction:06}");
                time.push('.');
                time.push_str(digits.trim_end_matches('0'));
            }
            parts.push(time);
        }
        out.put_slice(parts.join(" ").as_bytes());
    }

    /// Microseconds, days, months: the binary send form.
    pub(crate) fn write_binary(&self, out: &mut BytesMut) {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
    }
}

#[cfg(test)]
mod tests {
    use super::Interval;
    use bytes::BytesMut;

    fn text(months: i32, days: i32, micros: i64) -> String {
        let mut out = BytesMut::new();
        Interval {
            months,
            days,
            micros,
        }
        .write_text(&mut out);
        String::from_utf8(out.to_vec()).expect("test value")
    }

    #[test]
    fn prints_like_postgres() {
        assert_eq!(
            text(14, 3, 14_706_500_000),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(text(0, 0, 0), "00:00:00");
        assert_eq!(text(1, 1, 0), "1 mon 1 day");
        assert_eq!(
            text(-13, -2, -3_600_000_000),
            "-1 years -1 mons -2 days -01:00:00"
        );
        assert_eq!(text(0, 0, 100_000_000_000), "27:46:40");
    }
}
