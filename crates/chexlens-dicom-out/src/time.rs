//! When an object was made, as DICOM dates and times in UTC (the caller
//! gives the clock: the CLI the system's, the page the browser's).

/// A moment in UTC, as DA (`YYYYMMDD`) and TM (`HHMMSS`) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub date: String,
    pub time: String,
}

impl Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(seconds: i64) -> Self {
        let days = seconds.div_euclid(86_400);
        let in_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Self {
            date: format!("{year:04}{month:02}{day:02}"),
            time: format!("{:02}{:02}{:02}", in_day / 3600, in_day / 60 % 60, in_day % 60),
        }
    }

    /// The time zone the values are in: DICOM's Timezone Offset From UTC.
    pub const OFFSET: &'static str = "+0000";
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_become_utc_dates_and_times() {
        // `date -u -d @N +%Y%m%d%H%M%S` for each N.
        for (seconds, date, time) in [
            (0, "19700101", "000000"),
            (951_782_400, "20000229", "000000"),
            (1_796_083_199, "20261130", "235959"),
            (4_107_542_400, "21000301", "000000"),
            (-1, "19691231", "235959"),
        ] {
            let t = Timestamp::from_unix_seconds(seconds);
            assert_eq!((t.date.as_str(), t.time.as_str()), (date, time), "{seconds}");
        }
    }
}
