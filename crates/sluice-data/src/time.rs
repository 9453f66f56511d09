//! ISO 8601 text for dates and times held as counts since the Unix epoch.

const SECONDS_PER_DAY: i64 = 86_400;

/// The proleptic Gregorian `(year, month, day)` of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD`.
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SS`, with a fraction of a second only when there is one.
pub(crate) fn format_datetime(seconds: i64, nanos: u32) -> String {
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let secs = seconds.rem_euclid(SECONDS_PER_DAY);
    let mut out = format!(
        "{}T{:02}:{:02}:{:02}",
        format_date(days),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

/// Splits a count of `per_second` units since the epoch into seconds and nanoseconds.
pub(crate) fn split_seconds(value: i64, per_second: i64) -> (i64, u32) {
    let seconds = value.div_euclid(per_second);
    let rest = value.rem_euclid(per_second);
    let nanos = u32::try_from(rest * (1_000_000_000 / per_second)).unwrap_or(0);
    (seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(16_801), "2016-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(11_016), "2000-02-29");
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            format_datetime(1_451_606_400 + 8 * 3600 + 5 * 60 + 7, 0),
            "2016-01-01T08:05:07"
        );
        assert_eq!(format_datetime(-1, 500_000_000), "1969-12-31T23:59:59.5");
        assert_eq!(split_seconds(-1, 1000), (-1, 999_000_000));
        assert_eq!(split_seconds(1_500, 1000), (1, 500_000_000));
    }
}
