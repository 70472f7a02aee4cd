//! Interval arithmetic as PostgreSQL does it: `interval * number` and `interval /
//! number` (`interval_mul`, `interval_div`, which DataFusion lacks: fractional months
//! cascade into days of 30 and fractional days into hours), and `age(a, b)` /
//! `age(a)`, the symbolic difference in years, months and days.

use std::any::Any;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, IntervalMonthDayNanoArray, IntervalMonthDayNanoBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

const MONTH_DAY_NANO: DataType = DataType::Interval(IntervalUnit::MonthDayNano);
const MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// `interval_mul(interval, factor)` and `interval_div(interval, divisor)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalScale {
    divide: bool,
    signature: Signature,
}

impl IntervalScale {
    pub fn new(divide: bool) -> Self {
        Self {
            divide,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntervalScale {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        if self.divide {
            "interval_div"
        } else {
            "interval_mul"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Interval(_) | DataType::Null, factor]
                if factor.is_numeric() || factor.is_null() =>
            {
                Ok(MONTH_DAY_NANO)
            }
            _ => datafusion::common::plan_err!(
                "{} takes an interval and a number, got {args:?}",
                self.name()
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [span, factor] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name());
        };
        let scalar = matches!(
            (span, factor),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let spans = cast(&span.to_array(args.number_rows)?, &MONTH_DAY_NANO)?;
        let factors = cast(&factor.to_array(args.number_rows)?, &DataType::Float64)?;
        let spans = spans.as_primitive::<IntervalMonthDayNanoType>();
        let factors = factors.as_primitive::<Float64Type>();
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(spans.len());
        for row in 0..spans.len() {
            if spans.is_null(row) || factors.is_null(row) {
                out.append_null();
                continue;
            }
            let factor = factors.value(row);
            let factor = if self.divide {
                if factor == 0.0 {
                    return Err(datafusion::error::DataFusionError::ArrowError(
                        Box::new(datafusion::arrow::error::ArrowError::DivideByZero),
                        None,
                    ));
                }
                1.0 / factor
            } else {
                factor
            };
            out.append_value(scale(spans.value(row), factor)?);
        }
        let result: ArrayRef = Arc::new(out.finish());
        super::results::columnar(result, scalar)
    }
}

/// Rounds to whole microseconds, as PostgreSQL's TSROUND.
fn round_micros(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

/// PostgreSQL's `interval_mul`.
fn scale(span: IntervalMonthDayNano, factor: f64) -> Result<IntervalMonthDayNano> {
    const DAYS_PER_MONTH: f64 = 30.0;
    const SECS_PER_DAY: f64 = 86_400.0;
    let months = f64::from(span.months) * factor;
    let days = f64::from(span.days) * factor;
    let (mut result_months, mut result_days) = (months.trunc(), days.trunc());
    let month_remainder_days = round_micros((months - result_months) * DAYS_PER_MONTH);
    let mut sec_remainder = round_micros(
        (days - result_days + month_remainder_days - month_remainder_days.trunc()) * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole = (sec_remainder / SECS_PER_DAY).trunc();
        result_days += whole;
        sec_remainder -= whole * SECS_PER_DAY;
    }
    result_days += month_remainder_days.trunc();
    let micros = (span.nanoseconds as f64 / 1e3 * factor + sec_remainder * 1e6).round_ties_even();
    let in_range = |x: f64| x.is_finite() && x.abs() < f64::from(i32::MAX);
    if !in_range(result_months) || !in_range(result_days) || !micros.is_finite() {
        return exec_err!("out of range: interval out of range");
    }
    result_months = result_months.trunc();
    Ok(IntervalMonthDayNano::new(
        result_months as i32,
        result_days as i32,
        (micros as i64).saturating_mul(1_000),
    ))
}

/// `age(a, b)` and `age(a)` (from today's midnight).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Age {
    signature: Signature,
}

impl Age {
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Any(1),
                    datafusion::logical_expr::TypeSignature::Any(2),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for Age {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.iter().all(|t| {
            matches!(
                t,
                DataType::Timestamp(..) | DataType::Date32 | DataType::Null
            )
        }) {
            Ok(MONTH_DAY_NANO)
        } else {
            datafusion::common::plan_err!("age takes timestamps, got {args:?}")
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let today = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros());
        let (later, earlier) = match args.args.as_slice() {
            [a] => (
                ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(today, None)),
                a.clone(),
            ),
            [a, b] => (a.clone(), b.clone()),
            _ => return exec_err!("age takes one or two timestamps"),
        };
        let later = cast(&later.to_array(rows)?, &MICROS)?;
        let earlier = cast(&earlier.to_array(rows)?, &MICROS)?;
        let later = later.as_primitive::<TimestampMicrosecondType>();
        let earlier = earlier.as_primitive::<TimestampMicrosecondType>();
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for row in 0..later.len() {
            let pair = (
                (!later.is_null(row)).then(|| DateTime::from_timestamp_micros(later.value(row))),
                (!earlier.is_null(row))
                    .then(|| DateTime::from_timestamp_micros(earlier.value(row))),
            );
            match pair {
                (Some(Some(a)), Some(Some(b))) => {
                    out.append_value(symbolic_age(&a.naive_utc(), &b.naive_utc()))
                }
                (Some(None), _) | (_, Some(None)) => return exec_err!("timestamp out of range"),
                _ => out.append_null(),
            }
        }
        let result: IntervalMonthDayNanoArray = out.finish();
        let result: ArrayRef = Arc::new(result);
        super::results::columnar(result, scalar)
    }
}

fn days_in_month(year: i32, month: u32) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if leap => 29,
        _ => 28,
    }
}

/// PostgreSQL's `timestamp_age`: field-by-field differences, borrowing from the next
/// field, months borrowed from the earlier timestamp's month.
fn symbolic_age(a: &NaiveDateTime, b: &NaiveDateTime) -> IntervalMonthDayNano {
    let field = |t: &NaiveDateTime| {
        [
            i64::from(t.nanosecond() / 1_000),
            i64::from(t.second()),
            i64::from(t.minute()),
            i64::from(t.hour()),
            i64::from(t.day()),
            i64::from(t.month()),
            i64::from(t.year()),
        ]
    };
    let (fa, fb) = (field(a), field(b));
    let mut d: Vec<i64> = fa.iter().zip(&fb).map(|(x, y)| x - y).collect();
    let negative = a < b;
    if negative {
        d.iter_mut().for_each(|x| *x = -*x);
    }
    let borrow_from = if negative { a } else { b };
    let limits = [1_000_000, 60, 60, 24];
    for (i, limit) in limits.iter().enumerate() {
        while d[i] < 0 {
            d[i] += limit;
            d[i + 1] -= 1;
        }
    }
    while d[4] < 0 {
        d[4] += days_in_month(borrow_from.year(), borrow_from.month());
        d[5] -= 1;
    }
    while d[5] < 0 {
        d[5] += 12;
        d[6] -= 1;
    }
    if negative {
        d.iter_mut().for_each(|x| *x = -*x);
    }
    let micros = ((d[3] * 60 + d[2]) * 60 + d[1]) * 1_000_000 + d[0];
    IntervalMonthDayNano::new(
        (d[6] * 12 + d[5]) as i32,
        d[4] as i32,
        micros.saturating_mul(1_000),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("timestamp")
    }

    // Expected values are PostgreSQL 16's.
    #[test]
    fn age_is_symbolic() {
        // The documentation's example: 43 years 9 mons 27 days.
        assert_eq!(
            symbolic_age(&at("2001-04-10 00:00:00"), &at("1957-06-13 00:00:00")),
            IntervalMonthDayNano::new(43 * 12 + 9, 27, 0)
        );
        // Days are borrowed from the earlier date's month (January: 31).
        assert_eq!(
            symbolic_age(&at("2024-03-01 00:00:00"), &at("2023-01-15 00:00:00")),
            IntervalMonthDayNano::new(13, 17, 0)
        );
        assert_eq!(
            symbolic_age(&at("2023-01-15 00:00:00"), &at("2024-03-01 00:00:00")),
            IntervalMonthDayNano::new(-13, -17, 0)
        );
        // age('2024-01-01 10:00', '2023-12-31 12:00') = 22:00:00
        assert_eq!(
            symbolic_age(&at("2024-01-01 10:00:00"), &at("2023-12-31 12:00:00")),
            IntervalMonthDayNano::new(0, 0, 22 * 3_600_000_000_000)
        );
    }

    #[test]
    fn multiplication_cascades_like_postgres() {
        let day = IntervalMonthDayNano::new(0, 1, 0);
        assert_eq!(
            scale(day, 2.0).ok(),
            Some(IntervalMonthDayNano::new(0, 2, 0))
        );
        // interval '1 mon' * 1.5 = 1 mon 15 days
        assert_eq!(
            scale(IntervalMonthDayNano::new(1, 0, 0), 1.5).ok(),
            Some(IntervalMonthDayNano::new(1, 15, 0))
        );
        // interval '1 day' * 1.5 = 1 day 12:00:00
        assert_eq!(
            scale(day, 1.5).ok(),
            Some(IntervalMonthDayNano::new(0, 1, 12 * 3_600_000_000_000))
        );
        // interval '1 hour' / 4 (= * 0.25) = 00:15:00
        assert_eq!(
            scale(IntervalMonthDayNano::new(0, 0, 3_600_000_000_000), 0.25).ok(),
            Some(IntervalMonthDayNano::new(0, 0, 900_000_000_000))
        );
    }
}
