//! PostgreSQL's template patterns for dates and timestamps (`to_char`), compiled once
//! per pattern and applied to each value.
//!
//! DataFusion's `to_char` takes chrono's `%Y-%m-%d` and copies a PostgreSQL pattern
//! such as `YYYY-MM-DD` to its output unchanged: a PostgreSQL client gets a wrong
//! answer and no error. This follows PostgreSQL 16's `formatting.c`: keywords are
//! matched longest first, numeric fields in any case, and the case of a name field
//! (`MONTH`, `Month`, `month`) picks the case of its output; `FM` suppresses padding,
//! `TH`/`th` add an ordinal suffix, double quotes and backslashes copy text.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// One compiled piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Field {
        field: Field,
        fill: bool,
        ordinal: Option<bool>,
        case: Case,
    },
}

/// How a name is written: as in `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Upper,
    Capitalized,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Hour24,
    Hour12,
    Minute,
    Second,
    Millis,
    Micros,
    SecondsOfDay,
    Meridiem { dots: bool },
    YearComma,
    Year4,
    Year3,
    Year2,
    Year1,
    IsoYear4,
    IsoYear3,
    IsoYear2,
    IsoYear1,
    Era { dots: bool },
    MonthName,
    MonthAbbrev,
    Month,
    DayName,
    DayAbbrev,
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    Julian,
    Quarter,
    RomanMonth,
    ZoneName,
    ZoneOffset,
}

/// Keywords, longest first where one is a prefix of another.
const KEYWORDS: &[(&str, Field)] = &[
    ("A.M.", Field::Meridiem { dots: true }),
    ("P.M.", Field::Meridiem { dots: true }),
    ("AM", Field::Meridiem { dots: false }),
    ("PM", Field::Meridiem { dots: false }),
    ("A.D.", Field::Era { dots: true }),
    ("B.C.", Field::Era { dots: true }),
    ("AD", Field::Era { dots: false }),
    ("BC", Field::Era { dots: false }),
    ("HH24", Field::Hour24),
    ("HH12", Field::Hour12),
    ("HH", Field::Hour12),
    ("MI", Field::Minute),
    ("SSSSS", Field::SecondsOfDay),
    ("SSSS", Field::SecondsOfDay),
    ("SS", Field::Second),
    ("MS", Field::Millis),
    ("US", Field::Micros),
    ("Y,YYY", Field::YearComma),
    ("YYYY", Field::Year4),
    ("YYY", Field::Year3),
    ("YY", Field::Year2),
    ("Y", Field::Year1),
    ("IYYY", Field::IsoYear4),
    ("IYY", Field::IsoYear3),
    ("IY", Field::IsoYear2),
    ("IDDD", Field::IsoDayOfYear),
    ("ID", Field::IsoDayOfWeek),
    ("IW", Field::IsoWeek),
    ("I", Field::IsoYear1),
    ("MONTH", Field::MonthName),
    ("MON", Field::MonthAbbrev),
    ("MM", Field::Month),
    ("DAY", Field::DayName),
    ("DY", Field::DayAbbrev),
    ("DDD", Field::DayOfYear),
    ("DD", Field::DayOfMonth),
    ("D", Field::DayOfWeek),
    ("WW", Field::WeekOfYear),
    ("W", Field::WeekOfMonth),
    ("CC", Field::Century),
    ("J", Field::Julian),
    ("Q", Field::Quarter),
    ("RM", Field::RomanMonth),
    ("TZ", Field::ZoneName),
    ("OF", Field::ZoneOffset),
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

/// A compiled date/time pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct DateTimePattern {
    pieces: Vec<Piece>,
}

impl DateTimePattern {
    /// Compiles a PostgreSQL template pattern.
    pub fn compile(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            // Quoted text is copied; a backslash escapes a quote inside it.
            if chars[i] == '"' {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    text.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            if chars[i] == '\\' && i + 1 < chars.len() && chars[i + 1] == '"' {
                text.push('"');
                i += 2;
                continue;
            }
            let mut fill = true;
            let mut at = i;
            // FM (fill mode off) and FX prefixes.
            loop {
                if starts_with_ci(&chars, at, "FM") {
                    fill = false;
                    at += 2;
                } else if starts_with_ci(&chars, at, "FX") {
                    at += 2;
                } else {
                    break;
                }
            }
            match keyword_at(&chars, at) {
                Some((len, field)) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    let case = case_of(&chars[at..at + len]);
                    let mut next = at + len;
                    let ordinal = if starts_with_ci(&chars, next, "TH") {
                        let upper = chars[next] == 'T';
                        next += 2;
                        Some(upper)
                    } else {
                        None
                    };
                    pieces.push(Piece::Field {
                        field,
                        fill,
                        ordinal,
                        case,
                    });
                    i = next;
                }
                None => {
                    // A prefix without a keyword is text, as in PostgreSQL.
                    text.push(chars[i]);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Self { pieces }
    }

    /// Formats a date and time (a date is its midnight); `zone` names the time zone
    /// of a timestamp with time zone (empty for one without).
    pub fn format(&self, at: &NaiveDateTime, zone: Option<&str>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field {
                    field,
                    fill,
                    ordinal,
                    case,
                } => format_field(&mut out, *field, *fill, *ordinal, *case, at, zone),
            }
        }
        out
    }
}

fn starts_with_ci(chars: &[char], at: usize, word: &str) -> bool {
    let word: Vec<char> = word.chars().collect();
    at + word.len() <= chars.len()
        && chars[at..at + word.len()]
            .iter()
            .zip(&word)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

fn keyword_at(chars: &[char], at: usize) -> Option<(usize, Field)> {
    KEYWORDS
        .iter()
        .filter(|(word, _)| starts_with_ci(chars, at, word))
        .map(|(word, field)| (word.chars().count(), *field))
        .max_by_key(|(len, _)| *len)
}

fn case_of(word: &[char]) -> Case {
    let letters: Vec<char> = word.iter().copied().filter(|c| c.is_alphabetic()).collect();
    match letters.as_slice() {
        [first, second, ..] if first.is_uppercase() && second.is_uppercase() => Case::Upper,
        [first, ..] if first.is_uppercase() => Case::Capitalized,
        [_, ..] => Case::Lower,
        [] => Case::Upper,
    }
}

fn cased(name: &str, case: Case) -> String {
    match case {
        Case::Upper => name.to_uppercase(),
        Case::Capitalized => name.to_string(),
        Case::Lower => name.to_lowercase(),
    }
}

/// The English ordinal suffix of `n` (`st`, `nd`, `rd`, `th`).
fn ordinal_suffix(n: i64) -> &'static str {
    let n = n.abs();
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

fn number(out: &mut String, value: i64, width: usize, fill: bool, ordinal: Option<bool>) {
    let text = if fill {
        if value < 0 {
            format!("-{:0width$}", -value, width = width)
        } else {
            format!("{value:0width$}")
        }
    } else {
        value.to_string()
    };
    out.push_str(&text);
    if let Some(upper) = ordinal {
        let suffix = ordinal_suffix(value);
        out.push_str(&if upper {
            suffix.to_uppercase()
        } else {
            suffix.to_string()
        });
    }
}

fn name(out: &mut String, text: &str, case: Case, pad: usize, fill: bool) {
    let text = cased(text, case);
    if fill {
        out.push_str(&format!("{text:<pad$}"));
    } else {
        out.push_str(&text);
    }
}

fn format_field(
    out: &mut String,
    field: Field,
    fill: bool,
    ordinal: Option<bool>,
    case: Case,
    at: &NaiveDateTime,
    zone: Option<&str>,
) {
    let date = at.date();
    let year = i64::from(date.year());
    // PostgreSQL writes years BC as positive numbers with the era.
    let display_year = if year <= 0 { 1 - year } else { year };
    let iso = date.iso_week();
    match field {
        Field::Hour24 => number(out, i64::from(at.hour()), 2, fill, ordinal),
        Field::Hour12 => {
            let hour = match at.hour() % 12 {
                0 => 12,
                h => h,
            };
            number(out, i64::from(hour), 2, fill, ordinal)
        }
        Field::Minute => number(out, i64::from(at.minute()), 2, fill, ordinal),
        Field::Second => number(out, i64::from(at.second()), 2, fill, ordinal),
        Field::Millis => number(
            out,
            i64::from(at.nanosecond() / 1_000_000),
            3,
            fill,
            ordinal,
        ),
        Field::Micros => number(out, i64::from(at.nanosecond() / 1_000), 6, fill, ordinal),
        Field::SecondsOfDay => number(
            out,
            i64::from(at.num_seconds_from_midnight()),
            1,
            false,
            ordinal,
        ),
        Field::Meridiem { dots } => {
            let text = match (at.hour() >= 12, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            out.push_str(&match case {
                Case::Lower => text.to_lowercase(),
                _ => text.to_string(),
            });
        }
        Field::Era { dots } => {
            let text = match (year <= 0, dots) {
                (false, false) => "AD",
                (true, false) => "BC",
                (false, true) => "A.D.",
                (true, true) => "B.C.",
            };
            out.push_str(&match case {
                Case::Lower => text.to_lowercase(),
                _ => text.to_string(),
            });
        }
        Field::YearComma => {
            out.push_str(&format!(
                "{},{:03}",
                display_year / 1000,
                display_year % 1000
            ));
            if let Some(upper) = ordinal {
                let suffix = ordinal_suffix(display_year);
                out.push_str(&if upper {
                    suffix.to_uppercase()
                } else {
                    suffix.to_string()
                });
            }
        }
        Field::Year4 => number(out, display_year, 4, fill, ordinal),
        Field::Year3 => number(out, display_year % 1000, 3, fill, ordinal),
        Field::Year2 => number(out, display_year % 100, 2, fill, ordinal),
        Field::Year1 => number(out, display_year % 10, 1, fill, ordinal),
        Field::IsoYear4 => number(out, i64::from(iso.year()), 4, fill, ordinal),
        Field::IsoYear3 => number(out, i64::from(iso.year()) % 1000, 3, fill, ordinal),
        Field::IsoYear2 => number(out, i64::from(iso.year()) % 100, 2, fill, ordinal),
        Field::IsoYear1 => number(out, i64::from(iso.year()) % 10, 1, fill, ordinal),
        Field::MonthName => name(out, MONTHS[date.month0() as usize], case, 9, fill),
        Field::MonthAbbrev => name(out, &MONTHS[date.month0() as usize][..3], case, 3, fill),
        Field::Month => number(out, i64::from(date.month()), 2, fill, ordinal),
        Field::DayName => {
            let day = date.weekday().num_days_from_sunday() as usize;
            name(out, DAYS[day], case, 9, fill)
        }
        Field::DayAbbrev => {
            let day = date.weekday().num_days_from_sunday() as usize;
            name(out, &DAYS[day][..3], case, 3, fill)
        }
        Field::DayOfYear => number(out, i64::from(date.ordinal()), 3, fill, ordinal),
        Field::IsoDayOfYear => {
            let day = (iso.week() - 1) * 7 + date.weekday().number_from_monday();
            number(out, i64::from(day), 3, fill, ordinal)
        }
        Field::DayOfMonth => number(out, i64::from(date.day()), 2, fill, ordinal),
        Field::DayOfWeek => number(
            out,
            i64::from(date.weekday().number_from_sunday()),
            1,
            fill,
            ordinal,
        ),
        Field::IsoDayOfWeek => number(
            out,
            i64::from(date.weekday().number_from_monday()),
            1,
            fill,
            ordinal,
        ),
        Field::WeekOfMonth => number(out, i64::from((date.day() - 1) / 7 + 1), 1, fill, ordinal),
        Field::WeekOfYear => number(
            out,
            i64::from((date.ordinal() - 1) / 7 + 1),
            2,
            fill,
            ordinal,
        ),
        Field::IsoWeek => number(out, i64::from(iso.week()), 2, fill, ordinal),
        Field::Century => {
            let century = if year > 0 {
                (year + 99) / 100
            } else {
                -((99 - year) / 100)
            };
            number(out, century, 2, fill, ordinal)
        }
        Field::Julian => {
            // Julian day 2440588 is 1970-01-01.
            let days = date
                .signed_duration_since(chrono::NaiveDate::default())
                .num_days();
            number(out, days + 2_440_588, 1, false, ordinal)
        }
        Field::Quarter => number(out, i64::from(date.month0() / 3 + 1), 1, false, ordinal),
        Field::RomanMonth => {
            let roman = ROMAN[date.month0() as usize];
            let text = match case {
                Case::Lower => roman.to_lowercase(),
                _ => roman.to_string(),
            };
            if fill {
                out.push_str(&format!("{text:<4}"));
            } else {
                out.push_str(&text);
            }
        }
        Field::ZoneName => {
            let zone = zone.unwrap_or_default();
            out.push_str(&match case {
                Case::Lower => zone.to_lowercase(),
                _ => zone.to_string(),
            });
        }
        Field::ZoneOffset => {
            if zone.is_some() {
                out.push_str("+00");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("timestamp")
    }

    fn fmt(pattern: &str, text: &str) -> String {
        DateTimePattern::compile(pattern).format(&at(text), None)
    }

    // Expected values are PostgreSQL 16's output for the same calls.
    #[test]
    fn formats_like_postgres() {
        let t = "1995-03-05 14:07:09.123456";
        assert_eq!(fmt("YYYY-MM-DD", t), "1995-03-05");
        assert_eq!(fmt("yyyy-mm-dd", t), "1995-03-05");
        assert_eq!(fmt("YYYY-MM-DD HH24:MI:SS", t), "1995-03-05 14:07:09");
        assert_eq!(fmt("HH12:MI AM", t), "02:07 PM");
        assert_eq!(fmt("hh:mi pm", t), "02:07 pm");
        assert_eq!(fmt("Month", t), "March    ");
        assert_eq!(fmt("FMMonth", t), "March");
        assert_eq!(fmt("MONTH", t), "MARCH    ");
        assert_eq!(fmt("Mon DD, YYYY", t), "Mar 05, 1995");
        assert_eq!(fmt("FMDay, FMDDth", t), "Sunday, 5th");
        assert_eq!(fmt("Dy", t), "Sun");
        assert_eq!(fmt("DDD", t), "064");
        assert_eq!(fmt("Q", t), "1");
        assert_eq!(fmt("IYYY-IW", t), "1995-09");
        assert_eq!(fmt("WW", t), "10");
        assert_eq!(fmt("D", t), "1");
        assert_eq!(fmt("MS US", t), "123 123456");
        assert_eq!(fmt("\"Year\" YYYY", t), "Year 1995");
        assert_eq!(fmt("YYYY\"Q\"Q", t), "1995Q1");
        assert_eq!(fmt("CC", t), "20");
        assert_eq!(fmt("J", t), "2449782");
        assert_eq!(fmt("RM", t), "III ");
        assert_eq!(fmt("Y,YYY", t), "1,995");
        assert_eq!(fmt("SSSS", t), "50829");
        assert_eq!(fmt("DDTH ddth", "2024-01-22 00:00:00"), "22ND 22nd");
        assert_eq!(fmt("FMHH24", "2024-01-22 00:00:00"), "0");
        assert_eq!(fmt("HH", "2024-01-22 00:00:00"), "12");
    }
}
