//! Schedule expressions: `rate(...)` and AWS's six-field `cron(...)`.
//!
//! [`Schedule::parse`] accepts what EventBridge accepts for scheduled rules:
//!
//! - `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`, `rate(2 days)`: singular unit for 1,
//!   plural otherwise;
//! - `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, in UTC, with `, - * /` in every
//!   field, `?` in one of the two day fields (exactly one of them must be `?`), `L` and `W` (and
//!   `LW`) in day-of-month, `L` and `#` in day-of-week, month names `JAN`-`DEC`, day names
//!   `SUN`-`SAT` with `1` = Sunday, years 1970-2199.
//!
//! The parser is written here because the Rust cron crates parse Unix or Quartz syntax (seconds
//! field, `0` = Sunday), not AWS's. A rate rule first fires one period after it is created (or
//! enabled), then every period after that; a cron rule fires on every matching minute.

use time::{Date, Month, OffsetDateTime, Weekday};

const MINUTE_MS: i64 = 60_000;
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every this many milliseconds.
    Rate(i64),
    Cron(Box<Cron>),
}

/// The message EventBridge gives for every malformed schedule, with what is wrong after it.
fn invalid(why: impl std::fmt::Display) -> String {
    format!("Parameter ScheduleExpression is not valid: {why}")
}

impl Schedule {
    /// Parses `rate(...)` or `cron(...)`; `allow_seconds` admits `rate(N second[s])`.
    pub fn parse(expr: &str, allow_seconds: bool) -> Result<Self, String> {
        if let Some(inner) = expr.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
            return parse_rate(inner.trim(), allow_seconds).map(Schedule::Rate);
        }
        if let Some(inner) = expr.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
            return Cron::parse(inner).map(|c| Schedule::Cron(Box::new(c)));
        }
        Err(invalid("expected rate(...) or cron(...)"))
    }

    /// The first firing strictly after `after_ms`. `anchor_ms` is when the rule last fired (or
    /// was created or enabled): rates keep its phase.
    pub fn next_after(&self, anchor_ms: i64, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Rate(period) => {
                let k = if after_ms < anchor_ms {
                    1
                } else {
                    (after_ms - anchor_ms) / period + 1
                };
                Some(anchor_ms + k * period)
            }
            Schedule::Cron(c) => c.next_after(after_ms),
        }
    }
}

fn parse_rate(inner: &str, allow_seconds: bool) -> Result<i64, String> {
    let (value, unit) = inner
        .split_once(' ')
        .ok_or_else(|| invalid("expected rate(value unit)"))?;
    let value: i64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| invalid("the rate value must be a positive whole number"))?;
    let unit = unit.trim();
    let (singular, ms) = match unit {
        "minute" | "minutes" => ("minute", MINUTE_MS),
        "hour" | "hours" => ("hour", 60 * MINUTE_MS),
        "day" | "days" => ("day", 24 * 60 * MINUTE_MS),
        "second" | "seconds" if allow_seconds => ("second", 1000),
        _ => {
            return Err(invalid(
                "the rate unit must be minute(s), hour(s) or day(s)",
            ))
        }
    };
    if (value == 1) != (unit == singular) {
        return Err(invalid(format!(
            "use '1 {singular}' for one and '{singular}s' for more"
        )));
    }
    value
        .checked_mul(ms)
        .ok_or_else(|| invalid("the rate is too long"))
}

/// A set of values of one field, indexed by value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Values(Vec<bool>);

impl Values {
    fn has(&self, v: u32) -> bool {
        self.0.get(v as usize).copied().unwrap_or(false)
    }
}

/// Day-of-month.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dom {
    Any,
    Days(Values),
    /// `L`
    Last,
    /// `LW`
    LastWeekday,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u8),
}

/// Day-of-week, `1` = Sunday.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dow {
    Any,
    Days(Values),
    /// `6L`: the last Friday of the month.
    Last(u8),
    /// `2#1`: the first Monday of the month.
    Nth(u8, u8),
}

/// A parsed six-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Values,
    hours: Values,
    dom: Dom,
    months: Values,
    dow: Dow,
    years: Values,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses a value of a field: a number or (for months and days) a three-letter name.
fn value(s: &str, min: u32, max: u32, names: &[&str], field: &str) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    let v = match names.iter().position(|n| *n == upper) {
        Some(i) => min + i as u32,
        None => s
            .parse::<u32>()
            .map_err(|_| invalid(format!("'{s}' is not a value of the {field} field")))?,
    };
    if v < min || v > max {
        return Err(invalid(format!(
            "{v} is out of range for the {field} field ({min}-{max})"
        )));
    }
    Ok(v)
}

/// Parses `*`, lists, ranges and steps into a set of values.
fn values(s: &str, min: u32, max: u32, names: &[&str], field: &str) -> Result<Values, String> {
    let mut set = vec![false; max as usize + 1];
    for item in s.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => {
                let step: u32 =
                    st.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                        invalid(format!("bad increment '{st}' in the {field} field"))
                    })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, min, max, names, field)?,
                value(b, min, max, names, field)?,
            );
            if a > b {
                return Err(invalid(format!("range {range} runs backwards")));
            }
            (a, b)
        } else {
            let a = value(range, min, max, names, field)?;
            // `a/step` runs from a to the end of the field.
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(Values(set))
}

fn weekday_number(d: Weekday) -> u8 {
    d.number_from_sunday()
}

fn days_in_month(year: i32, month: Month) -> u8 {
    month.length(year)
}

impl Cron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(inner: &str) -> Result<Self, String> {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, dom, months, dow, years] = fields[..] else {
            return Err(invalid(format!(
                "a cron expression has six fields, this one has {}",
                fields.len()
            )));
        };
        let dom_field = match dom {
            "?" => None,
            "*" => Some(Dom::Any),
            "L" => Some(Dom::Last),
            "LW" => Some(Dom::LastWeekday),
            d if d.ends_with('W') => {
                let n = value(&d[..d.len() - 1], 1, 31, &[], "day-of-month")?;
                Some(Dom::NearestWeekday(n as u8))
            }
            d => Some(Dom::Days(values(d, 1, 31, &[], "day-of-month")?)),
        };
        let dow_field = match dow {
            "?" => None,
            "*" => Some(Dow::Any),
            // `L` alone is the last day of the week: Saturday.
            "L" => Some(Dow::Days(values("7", 1, 7, &DAYS, "day-of-week")?)),
            d if d.ends_with('L') => {
                let day = value(&d[..d.len() - 1], 1, 7, &DAYS, "day-of-week")?;
                Some(Dow::Last(day as u8))
            }
            d if d.contains('#') => {
                let (day, nth) = d.split_once('#').unwrap_or_default();
                let day = value(day, 1, 7, &DAYS, "day-of-week")?;
                let nth = value(nth, 1, 5, &[], "day-of-week")?;
                Some(Dow::Nth(day as u8, nth as u8))
            }
            d => Some(Dow::Days(values(d, 1, 7, &DAYS, "day-of-week")?)),
        };
        let (dom, dow) = match (dom_field, dow_field) {
            (Some(dom), None) => (dom, Dow::Any),
            (None, Some(dow)) => (Dom::Any, dow),
            _ => {
                return Err(invalid(
                    "one of day-of-month and day-of-week must be '?', and only one",
                ))
            }
        };
        Ok(Cron {
            minutes: values(minutes, 0, 59, &[], "minutes")?,
            hours: values(hours, 0, 23, &[], "hours")?,
            dom,
            months: values(months, 1, 12, &MONTHS, "month")?,
            dow,
            years: values(years, FIRST_YEAR as u32, LAST_YEAR as u32, &[], "year")?,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let (year, month, day) = (date.year(), date.month(), date.day());
        let last = days_in_month(year, month);
        let is_weekday = |d: Date| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday);
        let dom_ok = match &self.dom {
            Dom::Any => true,
            Dom::Days(v) => v.has(u32::from(day)),
            Dom::Last => day == last,
            Dom::LastWeekday => {
                let mut d = date.replace_day(last).unwrap_or(date);
                while !is_weekday(d) {
                    d = d.previous_day().unwrap_or(d);
                }
                d == date
            }
            Dom::NearestWeekday(n) => {
                if *n > last {
                    return false;
                }
                let Ok(target) = date.replace_day(*n) else {
                    return false;
                };
                let nearest = match target.weekday() {
                    Weekday::Saturday if *n == 1 => target.replace_day(3),
                    Weekday::Saturday => target.replace_day(n - 1),
                    Weekday::Sunday if *n == last => target.replace_day(n - 2),
                    Weekday::Sunday => target.replace_day(n + 1),
                    _ => Ok(target),
                };
                nearest.is_ok_and(|d| d == date)
            }
        };
        let wd = weekday_number(date.weekday());
        let dow_ok = match &self.dow {
            Dow::Any => true,
            Dow::Days(v) => v.has(u32::from(wd)),
            Dow::Last(d) => wd == *d && day + 7 > last,
            Dow::Nth(d, n) => wd == *d && (day - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after_ms` (UTC), if there is one before 2200.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let start_ms = (after_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        let start = OffsetDateTime::from_unix_timestamp(start_ms / 1000).ok()?;
        let mut date = start.date();
        let mut from = Some((start.hour(), start.minute()));
        while date.year() <= LAST_YEAR {
            let (year, month) = (date.year(), date.month());
            if year < FIRST_YEAR || !self.years.has(year as u32) {
                date = Date::from_calendar_date(year + 1, Month::January, 1).ok()?;
                from = None;
                continue;
            }
            if !self.months.has(u32::from(u8::from(month))) {
                let (y, m) = if month == Month::December {
                    (year + 1, Month::January)
                } else {
                    (year, month.next())
                };
                date = Date::from_calendar_date(y, m, 1).ok()?;
                from = None;
                continue;
            }
            if self.day_matches(date) {
                let (h0, m0) = from.unwrap_or((0, 0));
                for h in h0..24 {
                    if !self.hours.has(u32::from(h)) {
                        continue;
                    }
                    let first_minute = if h == h0 { m0 } else { 0 };
                    for m in first_minute..60 {
                        if self.minutes.has(u32::from(m)) {
                            let t = date.with_hms(h, m, 0).ok()?.assume_utc();
                            return Some(t.unix_timestamp() * 1000);
                        }
                    }
                }
            }
            date = date.next_day()?;
            from = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
        time::PrimitiveDateTime::parse(s, &fmt)
            .expect("test time")
            .assume_utc()
            .unix_timestamp()
            * 1000
    }

    fn show(ms: i64) -> String {
        let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
        OffsetDateTime::from_unix_timestamp(ms / 1000)
            .expect("time")
            .format(&fmt)
            .expect("format")
    }

    /// The next `n` firings of `expr` after `from`.
    fn next(expr: &str, from: &str, n: usize) -> Vec<String> {
        let s = Schedule::parse(expr, false).expect("valid expression");
        let mut t = at(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = s.next_after(t, t).expect("a next firing");
            out.push(show(t));
        }
        out
    }

    // The examples of the EventBridge user guide ("Cron expressions" table).
    #[test]
    fn daily_at_ten() {
        // 2024-03-09 is a Saturday.
        assert_eq!(
            next("cron(0 10 * * ? *)", "2024-03-09 10:00", 2),
            ["2024-03-10 10:00", "2024-03-11 10:00"]
        );
    }

    #[test]
    fn daily_at_quarter_past_noon() {
        assert_eq!(
            next("cron(15 12 * * ? *)", "2024-03-09 09:00", 2),
            ["2024-03-09 12:15", "2024-03-10 12:15"]
        );
    }

    #[test]
    fn weekdays_at_six_pm() {
        assert_eq!(
            next("cron(0 18 ? * MON-FRI *)", "2024-03-08 18:30", 2),
            ["2024-03-11 18:00", "2024-03-12 18:00"]
        );
    }

    #[test]
    fn first_day_of_every_month_at_eight() {
        assert_eq!(
            next("cron(0 8 1 * ? *)", "2024-01-15 00:00", 3),
            ["2024-02-01 08:00", "2024-03-01 08:00", "2024-04-01 08:00"]
        );
    }

    #[test]
    fn every_ten_minutes_on_weekdays() {
        assert_eq!(
            next("cron(0/10 * ? * MON-FRI *)", "2024-03-08 23:45", 3),
            ["2024-03-08 23:50", "2024-03-11 00:00", "2024-03-11 00:10"]
        );
    }

    #[test]
    fn every_five_minutes_during_office_hours() {
        assert_eq!(
            next("cron(0/5 8-17 ? * MON-FRI *)", "2024-03-08 17:50", 3),
            ["2024-03-08 17:55", "2024-03-11 08:00", "2024-03-11 08:05"]
        );
    }

    #[test]
    fn first_monday_of_each_month() {
        assert_eq!(
            next("cron(0 9 ? * 2#1 *)", "2024-01-01 10:00", 2),
            ["2024-02-05 09:00", "2024-03-04 09:00"]
        );
    }

    #[test]
    fn every_five_minutes() {
        assert_eq!(
            next("cron(0/5 * * * ? *)", "2024-03-08 10:03", 2),
            ["2024-03-08 10:05", "2024-03-08 10:10"]
        );
    }

    #[test]
    fn last_day_and_last_weekday_of_the_month() {
        assert_eq!(
            next("cron(0 0 L * ? *)", "2024-02-01 00:00", 2),
            ["2024-02-29 00:00", "2024-03-31 00:00"]
        );
        // 2024-03-31 is a Sunday, 2024-08-31 a Saturday.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-03-01 00:00", 1),
            ["2024-03-29 00:00"]
        );
        assert_eq!(
            next("cron(0 0 LW 8 ? 2024)", "2024-03-01 00:00", 1),
            ["2024-08-30 00:00"]
        );
    }

    #[test]
    fn nearest_weekday_stays_in_its_month() {
        // 2024-06-01 is a Saturday: 1W is Monday the 3rd, not May 31st.
        assert_eq!(
            next("cron(0 12 1W 6 ? 2024)", "2024-01-01 00:00", 1),
            ["2024-06-03 12:00"]
        );
        // 2024-06-15 is a Saturday: 15W is Friday the 14th.
        assert_eq!(
            next("cron(0 12 15W 6 ? 2024)", "2024-01-01 00:00", 1),
            ["2024-06-14 12:00"]
        );
        // 2024-06-30 is a Sunday and the last day: 30W is Friday the 28th.
        assert_eq!(
            next("cron(0 12 30W 6 ? 2024)", "2024-01-01 00:00", 1),
            ["2024-06-28 12:00"]
        );
    }

    #[test]
    fn last_friday_and_names_and_years() {
        assert_eq!(
            next("cron(30 22 ? JAN-FEB 6L 2025)", "2024-06-01 00:00", 2),
            ["2025-01-31 22:30", "2025-02-28 22:30"]
        );
        let s = Schedule::parse("cron(30 22 ? JAN-FEB 6L 2025)", false).expect("valid");
        assert_eq!(
            s.next_after(at("2025-03-01 00:00"), at("2025-03-01 00:00")),
            None
        );
        assert_eq!(
            next("cron(0 0 ? * SUN,SAT *)", "2024-03-08 00:00", 2),
            ["2024-03-09 00:00", "2024-03-10 00:00"]
        );
    }

    #[test]
    fn impossible_dates_never_fire() {
        let s = Schedule::parse("cron(0 0 30 2 ? *)", false).expect("valid");
        assert_eq!(s.next_after(0, at("2024-01-01 00:00")), None);
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in [
            "cron(0 10 * * * *)",
            "cron(0 10 ? * ? *)",
            "cron(0 10 * *)",
            "cron(60 10 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 10 32 * ? *)",
            "cron(0 10 ? * 8 *)",
            "cron(0 10 ? * 0 *)",
            "cron(0 10 ? * MON#6 *)",
            "cron(0 10 * FOO ? *)",
            "cron(0 10 * * ? 1969)",
            "cron(0/0 10 * * ? *)",
            "cron(5-1 10 * * ? *)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(10 seconds)",
            "rate(5 weeks)",
            "rate(5minutes)",
            "every 5 minutes",
        ] {
            assert!(Schedule::parse(bad, false).is_err(), "{bad} was accepted");
        }
        assert!(Schedule::parse("rate(10 seconds)", true).is_ok());
        assert!(Schedule::parse("rate(1 second)", true).is_ok());
    }

    #[test]
    fn rates_keep_their_phase_and_skip_missed_ticks() {
        let s = Schedule::parse("rate(5 minutes)", false).expect("valid");
        assert_eq!(s, Schedule::Rate(300_000));
        // First firing one period after creation.
        assert_eq!(s.next_after(1_000, 1_000), Some(301_000));
        // After a long outage: the next tick in phase after now, not the missed ones.
        assert_eq!(s.next_after(301_000, 10_000_000), Some(10_201_000));
        assert_eq!(
            Schedule::parse("rate(1 day)", false).expect("valid"),
            Schedule::Rate(86_400_000)
        );
    }
}
