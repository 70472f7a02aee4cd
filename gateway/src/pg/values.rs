//! One Arrow column, normalised to a type with a PostgreSQL encoding, written value by
//! value in PostgreSQL's text form or binary send form. DataRows and the three COPY
//! formats are all built from these writers.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, Date32Array,
    Decimal128Array, Decimal256Array, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, IntervalMonthDayNanoArray, LargeBinaryArray, LargeStringArray, ListArray, MapArray,
    StringArray, StringViewArray, StructArray, Time64MicrosecondArray, TimestampMicrosecondArray,
    UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate};
use pgwire::error::PgWireResult;
use std::fmt::Write as _;
use std::sync::Arc;

use super::errors::user_error;
use super::interval::Interval;
use super::numeric;
use super::types::pg_type;
use lakegate_planner::ErrorKind;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A column ready to encode.
pub(crate) enum Column {
    Bool(BooleanArray),
    /// `oid`: unsigned, four bytes in binary.
    Oid(UInt32Array),
    /// Function OIDs printed as names (`regproc`).
    Regproc(UInt32Array),
    /// Type OIDs printed as names (`regtype`, what `pg_typeof` returns).
    Regtype(UInt32Array),
    I16(Int16Array),
    I32(Int32Array),
    I64(Int64Array),
    F32(Float32Array),
    F64(Float64Array),
    Numeric128 {
        array: Decimal128Array,
        scale: u32,
    },
    Numeric256 {
        array: Decimal256Array,
        scale: u32,
    },
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    Date(Date32Array),
    Timestamp(TimestampMicrosecondArray),
    TimestampTz(TimestampMicrosecondArray),
    Time(Time64MicrosecondArray),
    Interval(IntervalMonthDayNanoArray),
    /// A one-dimensional PostgreSQL array of a scalar element type.
    Array {
        list: ListArray,
        elements: Box<Column>,
        element_oid: u32,
    },
    /// Structs, maps and nested lists, as `json`.
    Json(Json),
    /// All NULL.
    Null,
    /// Anything else, in Arrow's display form.
    Display(ArrayRef),
}

/// A nested value written as JSON.
pub(crate) enum Json {
    Scalar(Box<Column>),
    List(ListArray, Box<Json>),
    Struct(StructArray, Vec<(String, Json)>),
    Map(MapArray, Box<Column>, Box<Json>),
}

fn normalise(array: &ArrayRef, to: &DataType) -> PgWireResult<ArrayRef> {
    cast(array, to).map_err(|e| {
        user_error(
            ErrorKind::DataException,
            format!("cannot encode column: {e}"),
        )
    })
}

fn as_list(array: &ArrayRef) -> PgWireResult<ListArray> {
    let field = match array.data_type() {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => f.clone(),
        _ => return Err(user_error(ErrorKind::DataException, "not a list")),
    };
    Ok(normalise(array, &DataType::List(field))?
        .as_list::<i32>()
        .clone())
}

/// Precision and scale to cast a decimal to: a negative scale multiplies, so it widens
/// exactly to scale 0 (up to the type's `max_precision`).
fn scale_zero_or_more(precision: u8, scale: i8, max_precision: i32) -> (u8, i8) {
    if scale < 0 {
        let widened = (i32::from(precision) - i32::from(scale)).min(max_precision);
        (widened as u8, 0)
    } else {
        (precision, scale)
    }
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..)
    )
}

impl Column {
    /// A column sent as `ty` (the field's type, which may come from metadata).
    pub(crate) fn new_as(array: &ArrayRef, ty: &pgwire::api::Type) -> PgWireResult<Self> {
        if *ty == pgwire::api::Type::OID && array.data_type() == &DataType::UInt32 {
            return Ok(Column::Oid(array.as_primitive().clone()));
        }
        if *ty == pgwire::api::Type::REGPROC && array.data_type() == &DataType::UInt32 {
            return Ok(Column::Regproc(array.as_primitive().clone()));
        }
        if *ty == pgwire::api::Type::REGTYPE && array.data_type() == &DataType::UInt32 {
            return Ok(Column::Regtype(array.as_primitive().clone()));
        }
        Column::new(array)
    }

    pub(crate) fn new(array: &ArrayRef) -> PgWireResult<Self> {
        let micros = |tz: Option<Arc<str>>| DataType::Timestamp(TimeUnit::Microsecond, tz);
        Ok(match array.data_type() {
            DataType::Null => Column::Null,
            DataType::Boolean => Column::Bool(array.as_boolean().clone()),
            DataType::Int8 | DataType::UInt8 => {
                Column::I16(normalise(array, &DataType::Int16)?.as_primitive().clone())
            }
            DataType::Int16 => Column::I16(array.as_primitive().clone()),
            DataType::UInt16 => {
                Column::I32(normalise(array, &DataType::Int32)?.as_primitive().clone())
            }
            DataType::Int32 => Column::I32(array.as_primitive().clone()),
            DataType::UInt32 => {
                Column::I64(normalise(array, &DataType::Int64)?.as_primitive().clone())
            }
            DataType::Int64 => Column::I64(array.as_primitive().clone()),
            DataType::UInt64 => Column::Numeric128 {
                array: normalise(array, &DataType::Decimal128(20, 0))?
                    .as_primitive()
                    .clone(),
                scale: 0,
            },
            DataType::Float16 => {
                Column::F32(normalise(array, &DataType::Float32)?.as_primitive().clone())
            }
            DataType::Float32 => Column::F32(array.as_primitive().clone()),
            DataType::Float64 => Column::F64(array.as_primitive().clone()),
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                let (precision, scale) = scale_zero_or_more(*p, *s, 38);
                Column::Numeric128 {
                    array: normalise(array, &DataType::Decimal128(precision, scale))?
                        .as_primitive()
                        .clone(),
                    scale: scale as u32,
                }
            }
            DataType::Decimal256(p, s) => {
                let (precision, scale) = scale_zero_or_more(*p, *s, 76);
                Column::Numeric256 {
                    array: normalise(array, &DataType::Decimal256(precision, scale))?
                        .as_primitive()
                        .clone(),
                    scale: scale as u32,
                }
            }
            DataType::Utf8 => Column::Utf8(array.as_string().clone()),
            DataType::LargeUtf8 => Column::LargeUtf8(array.as_string().clone()),
            DataType::Utf8View => Column::Utf8View(array.as_string_view().clone()),
            DataType::Binary => Column::Binary(array.as_binary().clone()),
            DataType::LargeBinary => Column::LargeBinary(array.as_binary().clone()),
            DataType::BinaryView => Column::BinaryView(array.as_binary_view().clone()),
            DataType::FixedSizeBinary(_) => {
                Column::Binary(normalise(array, &DataType::Binary)?.as_binary().clone())
            }
            DataType::Date32 => Column::Date(array.as_primitive().clone()),
            DataType::Date64 => {
                Column::Date(normalise(array, &DataType::Date32)?.as_primitive().clone())
            }
            DataType::Timestamp(_, None) => {
                Column::Timestamp(normalise(array, &micros(None))?.as_primitive().clone())
            }
            // Values are UTC instants whatever the zone; PostgreSQL sends them as UTC.
            DataType::Timestamp(_, Some(_)) => {
                Column::TimestampTz(normalise(array, &micros(None))?.as_primitive().clone())
            }
            DataType::Time32(_) | DataType::Time64(_) => Column::Time(
                normalise(array, &DataType::Time64(TimeUnit::Microsecond))?
                    .as_primitive()
                    .clone(),
            ),
            DataType::Interval(_) | DataType::Duration(_) => Column::Interval(interval(array)?),
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::FixedSizeList(f, _)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
                if !is_nested(f.data_type()) =>
            {
                let list = as_list(array)?;
                let elements = Column::new(list.values())?;
                let element_oid = pg_type(f.data_type()).oid();
                Column::Array {
                    list,
                    elements: Box::new(elements),
                    element_oid,
                }
            }
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Struct(_)
            | DataType::Map(..) => Column::Json(Json::new(array)?),
            DataType::Dictionary(_, value) => return Column::new(&normalise(array, value)?),
            DataType::RunEndEncoded(_, values) => {
                return Column::new(&normalise(array, values.data_type())?);
            }
            _ => Column::Display(array.clone()),
        })
    }

    pub(crate) fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Bool(a) => a.is_null(row),
            Column::Oid(a) | Column::Regproc(a) | Column::Regtype(a) => a.is_null(row),
            Column::I16(a) => a.is_null(row),
            Column::I32(a) => a.is_null(row),
            Column::I64(a) => a.is_null(row),
            Column::F32(a) => a.is_null(row),
            Column::F64(a) => a.is_null(row),
            Column::Numeric128 { array, .. } => array.is_null(row),
            Column::Numeric256 { array, .. } => array.is_null(row),
            Column::Utf8(a) => a.is_null(row),
            Column::LargeUtf8(a) => a.is_null(row),
            Column::Utf8View(a) => a.is_null(row),
            Column::Binary(a) => a.is_null(row),
            Column::LargeBinary(a) => a.is_null(row),
            Column::BinaryView(a) => a.is_null(row),
            Column::Date(a) => a.is_null(row),
            Column::Timestamp(a) | Column::TimestampTz(a) => a.is_null(row),
            Column::Time(a) => a.is_null(row),
            Column::Interval(a) => a.is_null(row),
            Column::Array { list, .. } => list.is_null(row),
            Column::Json(json) => json.is_null(row),
            Column::Null => true,
            Column::Display(a) => a.is_null(row),
        }
    }

    /// Whether the text form may contain characters that COPY text or CSV must escape.
    pub(crate) fn needs_escaping(&self) -> bool {
        matches!(
            self,
            Column::Utf8(_)
                | Column::LargeUtf8(_)
                | Column::Utf8View(_)
                | Column::Array { .. }
                | Column::Json(_)
                | Column::Display(_)
                | Column::Interval(_)
        )
    }

    /// Appends the text form of a non-NULL value.
    pub(crate) fn write_text(&self, row: usize, out: &mut BytesMut) -> PgWireResult<()> {
        match self {
            Column::Bool(a) => out.put_u8(if a.value(row) { b't' } else { b'f' }),
            Column::Oid(a) => write_integer(out, i64::from(a.value(row))),
            Column::Regproc(a) => {
                let oid = a.value(row);
                match lakegate_pg_compat::catalog::regproc_name(oid) {
                    Some(name) => out.extend_from_slice(name.as_bytes()),
                    None => write_integer(out, i64::from(oid)),
                }
            }
            Column::Regtype(a) => out.extend_from_slice(
                lakegate_pg_compat::catalog::regtype_name(a.value(row)).as_bytes(),
            ),
            Column::I16(a) => write_integer(out, i64::from(a.value(row))),
            Column::I32(a) => write_integer(out, i64::from(a.value(row))),
            Column::I64(a) => write_integer(out, a.value(row)),
            Column::F32(a) => write_float(out, f64::from(a.value(row)), a.value(row), 6),
            Column::F64(a) => write_float(out, a.value(row), a.value(row), 15),
            Column::Numeric128 { array, scale } => {
                numeric::write_text_i128(array.value(row), *scale, out)
            }
            Column::Numeric256 { array, scale } => {
                numeric::write_text(&array.value(row).to_string(), *scale, out)
            }
            Column::Utf8(a) => out.put_slice(a.value(row).as_bytes()),
            Column::LargeUtf8(a) => out.put_slice(a.value(row).as_bytes()),
            Column::Utf8View(a) => out.put_slice(a.value(row).as_bytes()),
            Column::Binary(a) => write_hex(out, a.value(row)),
            Column::LargeBinary(a) => write_hex(out, a.value(row)),
            Column::BinaryView(a) => write_hex(out, a.value(row)),
            Column::Date(a) => write_date(out, a.value(row))?,
            Column::Timestamp(a) => write_timestamp(out, a.value(row))?,
            Column::TimestampTz(a) => {
                write_timestamp(out, a.value(row))?;
                out.put_slice(b"+00");
            }
            Column::Time(a) => write_time(out, a.value(row))?,
            Column::Interval(a) => interval_value(a, row).write_text(out),
            Column::Array { list, elements, .. } => write_array_text(list, elements, row, out)?,
            Column::Json(json) => json.write(row, out)?,
            Column::Null => {}
            Column::Display(array) => {
                let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
                    .map_err(|e| {
                        user_error(
                            ErrorKind::DataException,
                            format!("cannot display value: {e}"),
                        )
                    })?;
                write_display(out, formatter.value(row));
            }
        }
        Ok(())
    }

    /// Appends the binary send form of a non-NULL value.
    pub(crate) fn write_binary(&self, row: usize, out: &mut BytesMut) -> PgWireResult<()> {
        match self {
            Column::Bool(a) => out.put_u8(u8::from(a.value(row))),
            Column::Oid(a) | Column::Regproc(a) | Column::Regtype(a) => out.put_u32(a.value(row)),
            Column::I16(a) => out.put_i16(a.value(row)),
            Column::I32(a) => out.put_i32(a.value(row)),
            Column::I64(a) => out.put_i64(a.value(row)),
            Column::F32(a) => out.put_f32(a.value(row)),
            Column::F64(a) => out.put_f64(a.value(row)),
            Column::Numeric128 { array, scale } => {
                numeric::write_binary_i128(array.value(row), *scale, out)
            }
            Column::Numeric256 { array, scale } => {
                numeric::write_binary(&array.value(row).to_string(), *scale, out)
            }
            Column::Utf8(a) => out.put_slice(a.value(row).as_bytes()),
            Column::LargeUtf8(a) => out.put_slice(a.value(row).as_bytes()),
            Column::Utf8View(a) => out.put_slice(a.value(row).as_bytes()),
            Column::Binary(a) => out.put_slice(a.value(row)),
            Column::LargeBinary(a) => out.put_slice(a.value(row)),
            Column::BinaryView(a) => out.put_slice(a.value(row)),
            Column::Date(a) => out.put_i32(a.value(row) - PG_EPOCH_DAYS),
            Column::Timestamp(a) | Column::TimestampTz(a) => {
                out.put_i64(a.value(row) - PG_EPOCH_MICROS)
            }
            Column::Time(a) => out.put_i64(a.value(row)),
            Column::Interval(a) => interval_value(a, row).write_binary(out),
            Column::Array {
                list,
                elements,
                element_oid,
            } => write_array_binary(list, elements, *element_oid, row, out)?,
            // `json` sends its text.
            Column::Json(_) | Column::Display(_) | Column::Null => self.write_text(row, out)?,
        }
        Ok(())
    }
}

/// Decimal digits of an integer, without the formatting machinery.
fn write_integer(out: &mut BytesMut, value: i64) {
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&buffer[at..]);
}

/// `n` as exactly `width` digits (zero-padded).
fn write_padded(out: &mut BytesMut, n: u32, width: usize) {
    let mut buffer = [b'0'; 10];
    let mut rest = n;
    for at in (10 - width..10).rev() {
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.put_slice(&buffer[10 - width..]);
}

fn write_display(out: &mut BytesMut, value: impl std::fmt::Display) {
    let _ = write!(BytesWriter(out), "{value}");
}

/// `fmt::Write` into a byte buffer.
struct BytesWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for BytesWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// Shortest round-trip digits as PostgreSQL prints them (`extra_float_digits` ≥ 1):
/// fixed notation for decimal exponents from -4 up to `max_fixed`, `1e+20` style
/// beyond, and PostgreSQL's spellings of the non-finite values.
fn write_float<T: std::fmt::Display + std::fmt::LowerExp>(
    out: &mut BytesMut,
    value: f64,
    shown: T,
    max_fixed: i32,
) {
    if value.is_nan() {
        out.put_slice(b"NaN");
        return;
    }
    if value.is_infinite() {
        out.put_slice(if value > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
        return;
    }
    let scientific = format!("{shown:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if value == 0.0 || (-4..max_fixed).contains(&exponent) {
        write_display(out, shown);
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        write_display(out, format_args!("{mantissa}e{sign}{:02}", exponent.abs()));
    }
}

fn write_hex(out: &mut BytesMut, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + bytes.len() * 2);
    out.put_slice(b"\\x");
    for b in bytes {
        out.put_u8(HEX[usize::from(b >> 4)]);
        out.put_u8(HEX[usize::from(b & 0xf)]);
    }
}

fn date_of(days: i32) -> PgWireResult<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days + 719_163)
        .ok_or_else(|| user_error(ErrorKind::DatetimeOverflow, "date out of range"))
}

/// `2024-01-02`, or `0044-03-15 BC` before year 1 as PostgreSQL writes it.
fn write_date(out: &mut BytesMut, days: i32) -> PgWireResult<()> {
    let before_christ = write_day(out, days)?;
    if before_christ {
        out.put_slice(b" BC");
    }
    Ok(())
}

/// Writes `YYYY-MM-DD` of a day since 1970; returns whether it is before year 1.
fn write_day(out: &mut BytesMut, days: i32) -> PgWireResult<bool> {
    let date = date_of(days)?;
    let year = date.year();
    let shown_year = if year <= 0 { 1 - year } else { year } as u32;
    if shown_year > 9999 {
        write_integer(out, i64::from(shown_year));
    } else {
        write_padded(out, shown_year, 4);
    }
    out.put_u8(b'-');
    write_padded(out, date.month(), 2);
    out.put_u8(b'-');
    write_padded(out, date.day(), 2);
    Ok(year <= 0)
}

fn write_fraction(out: &mut BytesMut, micros: u32) {
    if micros != 0 {
        let mut digits = micros;
        let mut width = 6;
        while digits.is_multiple_of(10) {
            digits /= 10;
            width -= 1;
        }
        out.put_u8(b'.');
        write_padded(out, digits, width);
    }
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight, trailing zeros dropped.
fn write_clock(out: &mut BytesMut, micros: i64) {
    let seconds = micros / 1_000_000;
    write_padded(out, (seconds / 3600) as u32, 2);
    out.put_u8(b':');
    write_padded(out, (seconds / 60 % 60) as u32, 2);
    out.put_u8(b':');
    write_padded(out, (seconds % 60) as u32, 2);
    write_fraction(out, (micros % 1_000_000) as u32);
}

/// `2024-01-02 03:04:05.5`: fractional seconds without trailing zeros.
fn write_timestamp(out: &mut BytesMut, micros: i64) -> PgWireResult<()> {
    const DAY: i64 = 86_400_000_000;
    let days = i32::try_from(micros.div_euclid(DAY))
        .map_err(|_| user_error(ErrorKind::DatetimeOverflow, "timestamp out of range"))?;
    let before_christ = write_day(out, days)?;
    out.put_u8(b' ');
    write_clock(out, micros.rem_euclid(DAY));
    if before_christ {
        out.put_slice(b" BC");
    }
    Ok(())
}

fn write_time(out: &mut BytesMut, micros: i64) -> PgWireResult<()> {
    if !(0..86_400_000_000).contains(&micros) {
        return Err(user_error(ErrorKind::DatetimeOverflow, "time out of range"));
    }
    write_clock(out, micros);
    Ok(())
}

/// Any Arrow interval or duration as months, days and microseconds.
fn interval(array: &ArrayRef) -> PgWireResult<IntervalMonthDayNanoArray> {
    let month_day_nano = DataType::Interval(IntervalUnit::MonthDayNano);
    match array.data_type() {
        DataType::Duration(unit) => {
            let per_micro = match unit {
                TimeUnit::Second => -1_000_000,
                TimeUnit::Millisecond => -1_000,
                TimeUnit::Microsecond => 1,
                TimeUnit::Nanosecond => 1_000,
            };
            let values = normalise(array, &DataType::Int64)?;
            let values = values.as_primitive::<arrow::datatypes::Int64Type>();
            Ok(values
                .iter()
                .map(|v| {
                    v.map(|v| {
                        // Negative factors multiply; positive ones divide.
                        let micros = if per_micro < 0 {
                            v.saturating_mul(-per_micro)
                        } else {
                            v / per_micro
                        };
                        // Whole days apart from the time, as PostgreSQL's timestamp
                        // subtraction gives them (`8796 days 10:15:30`).
                        const DAY: i64 = 86_400_000_000;
                        let days = i32::try_from(micros / DAY).unwrap_or(i32::MAX);
                        arrow::datatypes::IntervalMonthDayNano::new(
                            0,
                            days,
                            (micros % DAY).saturating_mul(1_000),
                        )
                    })
                })
                .collect())
        }
        _ => Ok(normalise(array, &month_day_nano)?.as_primitive().clone()),
    }
}

fn interval_value(array: &IntervalMonthDayNanoArray, row: usize) -> Interval {
    let value = array.value(row);
    Interval {
        months: value.months,
        days: value.days,
        micros: value.nanoseconds / 1_000,
    }
}

/// `{1,2,NULL}` with elements quoted where PostgreSQL quotes them.
fn write_array_text(
    list: &ListArray,
    elements: &Column,
    row: usize,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    out.put_u8(b'{');
    let mut scratch = BytesMut::new();
    for i in start..end {
        if i > start {
            out.put_u8(b',');
        }
        if elements.is_null(i) {
            out.put_slice(b"NULL");
            continue;
        }
        scratch.clear();
        elements.write_text(i, &mut scratch)?;
        let needs_quotes = scratch.is_empty()
            || scratch.eq_ignore_ascii_case(b"null")
            || scratch
                .iter()
                .any(|b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace());
        if needs_quotes {
            out.put_u8(b'"');
            for b in scratch.iter() {
                if matches!(b, b'"' | b'\\') {
                    out.put_u8(b'\\');
                }
                out.put_u8(*b);
            }
            out.put_u8(b'"');
        } else {
            out.put_slice(&scratch);
        }
    }
    out.put_u8(b'}');
    Ok(())
}

/// The array send form: dimensions, NULL flag, element OID, bounds, elements.
fn write_array_binary(
    list: &ListArray,
    elements: &Column,
    element_oid: u32,
    row: usize,
    out: &mut BytesMut,
) -> PgWireResult<()> {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let has_null = (start..end).any(|i| elements.is_null(i));
    out.put_i32(i32::from(end > start));
    out.put_i32(i32::from(has_null));
    out.put_u32(element_oid);
    if end > start {
        out.put_i32((end - start) as i32);
        out.put_i32(1);
    }
    for i in start..end {
        if elements.is_null(i) {
            out.put_i32(-1);
            continue;
        }
        let at = out.len();
        out.put_i32(0);
        elements.write_binary(i, out)?;
        let len = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

impl Json {
    fn new(array: &ArrayRef) -> PgWireResult<Self> {
        Ok(match array.data_type() {
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::ListView(_)
            | DataType::LargeListView(_) => {
                let list = as_list(array)?;
                let child = Json::new(list.values())?;
                Json::List(list, Box::new(child))
            }
            DataType::Struct(fields) => {
                let array = array.as_struct().clone();
                let children = fields
                    .iter()
                    .zip(array.columns())
                    .map(|(f, c)| Ok((f.name().clone(), Json::new(c)?)))
                    .collect::<PgWireResult<Vec<_>>>()?;
                Json::Struct(array, children)
            }
            DataType::Map(..) => {
                let map = array.as_map().clone();
                let keys = Column::new(map.keys())?;
                let values = Json::new(map.values())?;
                Json::Map(map, Box::new(keys), Box::new(values))
            }
            _ => Json::Scalar(Box::new(Column::new(array)?)),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Json::Scalar(c) => c.is_null(row),
            Json::List(list, _) => list.is_null(row),
            Json::Struct(array, _) => array.is_null(row),
            Json::Map(map, ..) => map.is_null(row),
        }
    }

    fn write(&self, row: usize, out: &mut BytesMut) -> PgWireResult<()> {
        if self.is_null(row) {
            out.put_slice(b"null");
            return Ok(());
        }
        match self {
            Json::Scalar(column) => match column.as_ref() {
                Column::Bool(_)
                | Column::I16(_)
                | Column::I32(_)
                | Column::I64(_)
                | Column::Numeric128 { .. }
                | Column::Numeric256 { .. } => column.write_text(row, out)?,
                Column::F32(a) if a.value(row).is_finite() => column.write_text(row, out)?,
                Column::F64(a) if a.value(row).is_finite() => column.write_text(row, out)?,
                _ => {
                    let mut text = BytesMut::new();
                    column.write_text(row, &mut text)?;
                    write_json_string(out, &String::from_utf8_lossy(&text));
                }
            },
            Json::List(list, child) => {
                let offsets = list.value_offsets();
                out.put_u8(b'[');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.put_u8(b',');
                    }
                    child.write(i, out)?;
                }
                out.put_u8(b']');
            }
            Json::Struct(_, children) => {
                out.put_u8(b'{');
                for (n, (name, child)) in children.iter().enumerate() {
                    if n > 0 {
                        out.put_u8(b',');
                    }
                    write_json_string(out, name);
                    out.put_u8(b':');
                    child.write(row, out)?;
                }
                out.put_u8(b'}');
            }
            Json::Map(map, keys, values) => {
                let offsets = map.value_offsets();
                out.put_u8(b'{');
                for (n, i) in (offsets[row] as usize..offsets[row + 1] as usize).enumerate() {
                    if n > 0 {
                        out.put_u8(b',');
                    }
                    let mut key = BytesMut::new();
                    keys.write_text(i, &mut key)?;
                    write_json_string(out, &String::from_utf8_lossy(&key));
                    out.put_u8(b':');
                    values.write(i, out)?;
                }
                out.put_u8(b'}');
            }
        }
        Ok(())
    }
}

fn write_json_string(out: &mut BytesMut, s: &str) {
    out.put_u8(b'"');
    for c in s.chars() {
        match c {
            '"' => out.put_slice(b"\\\""),
            '\\' => out.put_slice(b"\\\\"),
            '\n' => out.put_slice(b"\\n"),
            '\r' => out.put_slice(b"\\r"),
            '\t' => out.put_slice(b"\\t"),
            c if (c as u32) < 0x20 => write_display(out, format_args!("\\u{:04x}", c as u32)),
            c => {
                let mut buf = [0u8; 4];
                out.put_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut BytesMut) -> PgWireResult<()>) -> String {
        let mut out = BytesMut::new();
        f(&mut out).expect("writes");
        String::from_utf8(out.to_vec()).expect("utf8")
    }

    #[test]
    fn dates_and_times_print_like_postgres() {
        assert_eq!(text(|o| write_date(o, 19_782)), "2024-02-29");
        assert_eq!(text(|o| write_date(o, -719_163)), "0001-12-31 BC");
        let micros = 1_704_164_645_500_000; // 2024-01-02 03:04:05.5
        assert_eq!(
            text(|o| write_timestamp(o, micros)),
            "2024-01-02 03:04:05.5"
        );
        assert_eq!(
            text(|o| write_timestamp(o, micros - 500_000 + 1)),
            "2024-01-02 03:04:05.000001"
        );
        assert_eq!(
            text(|o| write_timestamp(o, -1)),
            "1969-12-31 23:59:59.999999"
        );
        assert_eq!(text(|o| write_time(o, 45_296_250_000)), "12:34:56.25");
        assert!(write_time(&mut BytesMut::new(), 86_400_000_000).is_err());
    }

    #[test]
    fn integers_print_every_digit() {
        for value in [0, 7, -7, 1_234_567, i64::MIN, i64::MAX] {
            let mut out = BytesMut::new();
            write_integer(&mut out, value);
            assert_eq!(out.as_ref(), value.to_string().as_bytes());
        }
    }
}
