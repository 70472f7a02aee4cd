//! `to_date(text, pattern)` with PostgreSQL's template patterns (`YYYY-MM-DD`,
//! `DD Mon YYYY`, `YYYYMMDD`), replacing DataFusion's, which reads chrono patterns and
//! fails on PostgreSQL's. Time fields are read and dropped, as PostgreSQL does; pattern
//! elements that make no date here (`IW`, `J`, `Q`, `TZ`, …) are refused with 0A000.
//! `to_date(text)` with one argument stays DataFusion's.

use std::any::Any;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, not_impl_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

/// PostgreSQL's `to_date`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToDate {
    signature: Signature,
}

impl ToDate {
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for ToDate {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "to_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let (text, pattern) = match args.args.as_slice() {
            [text] => {
                // One argument: an ISO date, as a cast reads it.
                let dates = cast(&text.to_array(rows)?, &DataType::Date32)?;
                return super::results::columnar(dates, scalar);
            }
            [text, pattern] => (text, pattern),
            _ => return exec_err!("to_date takes a text and a pattern"),
        };
        let texts = cast(&text.to_array(rows)?, &DataType::Utf8)?;
        let patterns = cast(&pattern.to_array(rows)?, &DataType::Utf8)?;
        let (texts, patterns) = (texts.as_string::<i32>(), patterns.as_string::<i32>());
        let mut out = Date32Builder::with_capacity(rows);
        for row in 0..texts.len() {
            if texts.is_null(row) || patterns.is_null(row) {
                out.append_null();
                continue;
            }
            let date = parse(texts.value(row), patterns.value(row))?;
            out.append_value((date - NaiveDate::default()).num_days() as i32);
        }
        let result: ArrayRef = Arc::new(out.finish());
        super::results::columnar(result, scalar)
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The fields a pattern reads: (keyword, digits at most).
const NUMERIC: &[(&str, usize)] = &[
    ("YYYY", 4),
    ("HH24", 2),
    ("HH12", 2),
    ("DDD", 3),
    ("YY", 2),
    ("MM", 2),
    ("DD", 2),
    ("HH", 2),
    ("MI", 2),
    ("SS", 2),
];
const REFUSED: &[&str] = &[
    "IYYY", "IDDD", "Y,YYY", "YYY", "IYY", "IW", "ID", "IY", "CC", "WW", "RM", "TZ", "OF", "MS",
    "US", "J", "Q", "W", "D", "Y", "I",
];

fn parse(text: &str, pattern: &str) -> Result<NaiveDate> {
    let invalid = || {
        datafusion::error::DataFusionError::Execution(format!(
            "invalid value \"{text}\" for date pattern \"{pattern}\""
        ))
    };
    let input: Vec<char> = text.chars().collect();
    let pat: Vec<char> = pattern.chars().collect();
    let upper: String = pattern.to_uppercase();
    let (mut year, mut month, mut day, mut day_of_year) = (None, None, None, None);
    let (mut i, mut p) = (0usize, 0usize);
    let skip_spaces = |i: &mut usize| {
        while *i < input.len() && input[*i].is_whitespace() {
            *i += 1;
        }
    };
    while p < pat.len() {
        let rest = &upper[upper.char_indices().nth(p).map_or(upper.len(), |(b, _)| b)..];
        if rest.starts_with("FM") || rest.starts_with("FX") {
            p += 2;
            continue;
        }
        if pat[p] == '"' {
            p += 1;
            while p < pat.len() && pat[p] != '"' {
                p += 1;
                i += 1;
            }
            p += 1;
            continue;
        }
        if let Some((word, width)) = NUMERIC.iter().find(|(w, _)| rest.starts_with(w)) {
            skip_spaces(&mut i);
            let start = i;
            while i < input.len() && i - start < *width && input[i].is_ascii_digit() {
                i += 1;
            }
            let value: u32 = input[start..i]
                .iter()
                .collect::<String>()
                .parse()
                .map_err(|_| invalid())?;
            match *word {
                "YYYY" => year = Some(value as i32),
                // Two digits: the year nearest to 2020, as PostgreSQL picks it.
                "YY" => year = Some(if value < 70 { 2000 } else { 1900 } + value as i32),
                "MM" => month = Some(value),
                "DD" => day = Some(value),
                "DDD" => day_of_year = Some(value),
                _ => {}
            }
            p += word.len();
            continue;
        }
        if rest.starts_with("MONTH") || rest.starts_with("MON") {
            let word = next_word(&input, &mut i);
            let full = rest.starts_with("MONTH");
            let found = MONTHS.iter().position(|m| {
                if full {
                    *m == word
                } else {
                    word.len() == 3 && m.starts_with(&word)
                }
            });
            month = Some(found.ok_or_else(invalid)? as u32 + 1);
            p += if full { 5 } else { 3 };
            continue;
        }
        if rest.starts_with("DAY") || rest.starts_with("DY") {
            let word = next_word(&input, &mut i);
            if !DAYS.iter().any(|d| d.starts_with(&word)) || word.len() < 3 {
                return Err(invalid());
            }
            p += if rest.starts_with("DAY") { 3 } else { 2 };
            continue;
        }
        if rest.starts_with("AM") || rest.starts_with("PM") {
            skip_spaces(&mut i);
            i += 2;
            p += 2;
            continue;
        }
        if let Some(word) = REFUSED.iter().find(|w| rest.starts_with(**w)) {
            return not_impl_err!("to_date: the pattern element \"{word}\" is not supported");
        }
        // A separator in the pattern matches one separator (or nothing) in the input.
        if i < input.len() && !input[i].is_alphanumeric() {
            i += 1;
        }
        p += 1;
    }
    let date = match (year, day_of_year) {
        (year, Some(ordinal)) => NaiveDate::from_yo_opt(year.unwrap_or(1), ordinal),
        (year, None) => {
            NaiveDate::from_ymd_opt(year.unwrap_or(1), month.unwrap_or(1), day.unwrap_or(1))
        }
    };
    date.ok_or_else(|| {
        datafusion::error::DataFusionError::Execution(format!(
            "date/time field value out of range: \"{text}\""
        ))
    })
}

/// The next word of the input (after spaces), lowercased; `i` moves past it.
fn next_word(input: &[char], i: &mut usize) -> String {
    while *i < input.len() && input[*i].is_whitespace() {
        *i += 1;
    }
    let word: String = input[*i..]
        .iter()
        .take_while(|c| c.is_alphabetic())
        .collect();
    *i += word.chars().count();
    word.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str, pattern: &str) -> String {
        parse(text, pattern).expect("date").to_string()
    }

    #[test]
    fn reads_postgres_patterns() {
        assert_eq!(date("2024-03-15", "YYYY-MM-DD"), "2024-03-15");
        assert_eq!(date("15 Mar 2024", "DD Mon YYYY"), "2024-03-15");
        assert_eq!(date("2024/3/5", "YYYY/MM/DD"), "2024-03-05");
        assert_eq!(date("20240229", "YYYYMMDD"), "2024-02-29");
        assert_eq!(date("March 5, 24", "Month DD, YY"), "2024-03-05");
        assert_eq!(date("2024-03-15 10:30", "YYYY-MM-DD HH24:MI"), "2024-03-15");
        assert!(parse("2024-02-30", "YYYY-MM-DD").is_err());
        assert!(parse("2024-W10", "IYYY-IW").is_err());
    }
}
