//! Zip timestamps: the DOS date and time of new entries, from the options
//! or `SOURCE_DATE_EPOCH`, clipped to what zip can hold.

use zip::DateTime;

use super::WriteOptions;

/// 1980-01-01T00:00:00Z, the earliest time a zip entry can hold.
const ZIP_EPOCH: i64 = 315_532_800;

/// 2107-12-31T23:59:58Z, the latest.
const ZIP_END: i64 = 4_354_819_198;

/// The zip timestamp for `secs` since the Unix epoch (UTC), clipped to the
/// range zip can hold.
fn zip_time(secs: i64) -> DateTime {
    let secs = secs.clamp(ZIP_EPOCH, ZIP_END);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let parts = (
        u16::try_from(year),
        u8::try_from(month),
        u8::try_from(day),
        u8::try_from(rem / 3600),
        u8::try_from(rem % 3600 / 60),
        u8::try_from(rem % 60),
    );
    match parts {
        (Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(s)) => {
            DateTime::from_date_and_time(y, mo, d, h, mi, s).unwrap_or_default()
        }
        _ => DateTime::default(),
    }
}

/// The timestamp for new entries: `options.timestamp`, else
/// `SOURCE_DATE_EPOCH`, else 1980-01-01.
pub(super) fn new_entry_time(options: &WriteOptions) -> DateTime {
    entry_time(options.timestamp, std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// `explicit`, else a parsable `source_date_epoch`, else 1980-01-01.
fn entry_time(explicit: Option<i64>, source_date_epoch: Option<&str>) -> DateTime {
    let secs = explicit.or_else(|| source_date_epoch.and_then(|v| v.trim().parse::<i64>().ok())).unwrap_or(ZIP_EPOCH);
    zip_time(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_time_converts_and_clips() {
        type Civil = (u16, u8, u8, u8, u8, u8);
        let cases: &[(i64, Civil)] = &[
            (0, (1980, 1, 1, 0, 0, 0)),
            (-5, (1980, 1, 1, 0, 0, 0)),
            (ZIP_EPOCH, (1980, 1, 1, 0, 0, 0)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_700_000_000, (2023, 11, 14, 22, 13, 20)),
            (i64::MAX, (2107, 12, 31, 23, 59, 58)),
        ];
        for &(secs, (y, mo, d, h, mi, s)) in cases {
            let t = zip_time(secs);
            assert_eq!(
                (t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()),
                (y, mo, d, h, mi, s),
                "{secs}"
            );
        }
    }

    #[test]
    fn timestamp_sources() {
        let ymd = |t: DateTime| (t.year(), t.month(), t.day());
        assert_eq!(ymd(entry_time(Some(951_782_400), Some("1700000000"))), (2000, 2, 29), "explicit wins");
        assert_eq!(ymd(entry_time(None, Some(" 1700000000\n"))), (2023, 11, 14), "SOURCE_DATE_EPOCH");
        assert_eq!(ymd(entry_time(None, Some("yesterday"))), (1980, 1, 1), "unparsable is ignored");
        assert_eq!(ymd(entry_time(None, Some("-100"))), (1980, 1, 1), "clipped");
        assert_eq!(ymd(entry_time(None, None)), (1980, 1, 1));
    }
}
