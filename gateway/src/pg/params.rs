//! Bind parameters → typed scalar values, honouring the client's type OIDs and formats.

use arrow::datatypes::DataType;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use lakegate_planner::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::error::PgWireResult;
use postgres_types::FromSql;
use rust_decimal::Decimal;

use super::errors::user_error;
use super::types::arrow_type;
use lakegate_planner::ErrorKind;

/// Decodes each parameter with the type the client declared, or the type the planner
/// inferred, then casts it to the inferred type.
pub(crate) fn decode_params(
    values: &[Option<Bytes>],
    format: &Format,
    client_types: &[Option<Type>],
    inferred: &[Option<DataType>],
) -> PgWireResult<Vec<ScalarValue>> {
    if values.len() != inferred.len() {
        return Err(user_error(
            ErrorKind::ProtocolViolation,
            format!(
                "bind message supplies {} parameters, but the statement requires {}",
                values.len(),
                inferred.len()
            ),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let target = inferred[i].clone();
            let wire_type = client_types
                .get(i)
                .cloned()
                .flatten()
                .filter(|t| *t != Type::UNKNOWN)
                .or_else(|| target.as_ref().map(super::types::pg_type))
                .unwrap_or(Type::TEXT);
            let scalar =
                decode_one(value.as_deref(), format.is_binary(i), &wire_type).map_err(|e| {
                    user_error(
                        ErrorKind::InvalidTextRepresentation,
                        format!("parameter ${}: {e}", i + 1),
                    )
                })?;
            match target {
                Some(t) if t != scalar.data_type() => scalar.cast_to(&t).map_err(|e| {
                    user_error(
                        ErrorKind::InvalidTextRepresentation,
                        format!("parameter ${}: cannot convert to {t}: {e}", i + 1),
                    )
                }),
                _ => Ok(scalar),
            }
        })
        .collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

fn decode_one(value: Option<&[u8]>, binary: bool, ty: &Type) -> Result<ScalarValue, BoxError> {
    let data_type = arrow_type(ty).unwrap_or(if *ty == Type::NUMERIC {
        DataType::Decimal128(38, 10)
    } else {
        DataType::Utf8
    });
    let Some(bytes) = value else {
        return Ok(ScalarValue::try_from(&data_type)?);
    };
    if !binary {
        let text = std::str::from_utf8(bytes)?;
        let as_text = ScalarValue::Utf8(Some(text.to_string()));
        return Ok(match *ty {
            Type::BOOL => ScalarValue::Boolean(Some(parse_bool(text)?)),
            Type::NUMERIC => {
                let d: Decimal = text.trim().parse()?;
                decimal_scalar(d)
            }
            Type::BYTEA => ScalarValue::Binary(Some(parse_bytea_text(text)?)),
            _ if data_type == DataType::Utf8 => as_text,
            _ => as_text.cast_to(&data_type)?,
        });
    }
    Ok(match *ty {
        Type::BOOL => ScalarValue::Boolean(Some(bool::from_sql(ty, bytes)?)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_sql(ty, bytes)?)),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_sql(ty, bytes)?)),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_sql(ty, bytes)?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_sql(ty, bytes)?)),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_sql(ty, bytes)?)),
        Type::NUMERIC => decimal_scalar(Decimal::from_sql(ty, bytes)?),
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        Type::DATE => {
            let date = NaiveDate::from_sql(ty, bytes)?;
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("epoch")?;
            ScalarValue::Date32(Some((date - epoch).num_days() as i32))
        }
        Type::TIMESTAMP => {
            let ts = NaiveDateTime::from_sql(ty, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(ts.and_utc().timestamp_micros()), None)
        }
        Type::TIMESTAMPTZ => {
            let ts = DateTime::<Utc>::from_sql(ty, bytes)?;
            ScalarValue::TimestampMicrosecond(Some(ts.timestamp_micros()), Some("+00:00".into()))
        }
        _ => ScalarValue::Utf8(Some(String::from_sql(&Type::TEXT, bytes)?)),
    })
}

fn decimal_scalar(d: Decimal) -> ScalarValue {
    ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale() as i8)
}

fn parse_bool(text: &str) -> Result<bool, BoxError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "yes" | "y" | "on" | "1" => Ok(true),
        "f" | "false" | "no" | "n" | "off" | "0" => Ok(false),
        other => Err(format!("invalid input syntax for type boolean: \"{other}\"").into()),
    }
}

fn parse_bytea_text(text: &str) -> Result<Vec<u8>, BoxError> {
    match text.strip_prefix("\\x") {
        Some(hex) if hex.len() % 2 == 0 => (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.into()))
            .collect(),
        Some(_) => Err("invalid hexadecimal bytea".into()),
        None => Ok(text.as_bytes().to_vec()),
    }
}
