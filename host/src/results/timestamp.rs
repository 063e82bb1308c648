//! A moment as the layout writes it everywhere: RFC 3339, UTC, to the
//! millisecond (`2026-12-04T10:00:00.000Z`). The journal writes one for
//! every line, four lines a test; chrono's formatter, general and driven
//! by `fmt`, took a tenth of the host's instructions on a run of fast
//! tests, so the common case is written digit by digit here.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// `time` in RFC 3339, UTC, to the millisecond, exactly as chrono's
/// `to_rfc3339_opts(SecondsFormat::Millis, true)` writes it.
pub fn timestamp(time: DateTime<Utc>) -> String {
    let year = time.year();
    let nanos = time.nanosecond();
    // Years of other than four digits, and leap seconds (nanoseconds past
    // a billion), are chrono's to write.
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return time.to_rfc3339_opts(SecondsFormat::Millis, true);
    }
    let mut text = String::with_capacity(24);
    let mut digits = |value: u32, width: u32, then: Option<char>| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
        text.extend(then);
    };
    digits(year as u32, 4, Some('-'));
    digits(time.month(), 2, Some('-'));
    digits(time.day(), 2, Some('T'));
    digits(time.hour(), 2, Some(':'));
    digits(time.minute(), 2, Some(':'));
    digits(time.second(), 2, Some('.'));
    digits(nanos / 1_000_000, 3, Some('Z'));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_writes(time: DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    #[test]
    fn every_moment_is_written_as_chrono_writes_it() {
        // A spread of moments over the four-digit years, each field at its
        // edges somewhere among them, and the cases chrono keeps.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut moments = vec![
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::milliseconds(999),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 30, 30).unwrap(),
            Utc.with_ymd_and_hms(2016, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1_500))
                .unwrap()
                .and_utc(),
            Utc::now(),
        ];
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let millis = (state % 253_402_300_800_000) as i64 - 62_167_219_200_000;
            moments.push(DateTime::from_timestamp_millis(millis).unwrap());
        }
        for moment in moments {
            assert_eq!(timestamp(moment), chrono_writes(moment), "{moment:?}");
        }
    }
}
