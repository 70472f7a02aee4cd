//! Built-in column masks as expressions that keep the column's name and type.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use super::expressions::{parse, policy_error};
use crate::policy::MaskKind;

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// SQL for a built-in mask of column `c` (already quoted) of type `data_type`.
fn mask_sql(kind: &MaskKind, c: &str, data_type: &DataType, rule: &str) -> Result<String> {
    let text_only = |name: &str| {
        if is_text(data_type) {
            Ok(())
        } else {
            Err(policy_error(format!(
                "{rule}: the {name} mask needs a text column, the column is {data_type}"
            )))
        }
    };
    let body = match kind {
        MaskKind::Null => return Ok("NULL".into()),
        MaskKind::Sql(expr) => return Ok(expr.clone()),
        MaskKind::Redact => match data_type {
            t if is_text(t) => "'****'".to_string(),
            DataType::Boolean => "false".into(),
            t if t.is_numeric() => "0".into(),
            DataType::Date32 | DataType::Date64 => "DATE '1970-01-01'".into(),
            DataType::Timestamp(..) => "TIMESTAMP '1970-01-01 00:00:00'".into(),
            _ => "NULL".into(),
        },
        MaskKind::Hash => {
            text_only("hash")?;
            format!("encode(sha256({c}), 'hex')")
        }
        MaskKind::ShowLast4 => {
            text_only("show-last-4")?;
            format!("concat(repeat('X', greatest(character_length({c}) - 4, 0)), right({c}, 4))")
        }
        MaskKind::ShowFirst4 => {
            text_only("show-first-4")?;
            format!("concat(left({c}, 4), repeat('X', greatest(character_length({c}) - 4, 0)))")
        }
        MaskKind::Email => {
            text_only("email")?;
            format!(
                "CASE WHEN strpos({c}, '@') > 1 THEN concat(left({c}, 1), '****', substr({c}, strpos({c}, '@'))) ELSE '****' END"
            )
        }
        MaskKind::DateToYear => match data_type {
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
                format!("date_trunc('year', {c})")
            }
            other => {
                return Err(policy_error(format!(
                    "{rule}: the date-to-year mask needs a date or timestamp column, the column is {other}"
                )));
            }
        },
    };
    // NULL stays NULL under every built-in mask.
    Ok(format!("CASE WHEN {c} IS NULL THEN NULL ELSE {body} END"))
}

/// The masked expression for one column, cast back to the column's type.
pub(crate) fn mask_expr(
    parser: &SessionContext,
    kind: &MaskKind,
    column: &str,
    data_type: &DataType,
    schema: &DFSchema,
    attributes: &BTreeMap<String, String>,
    rule: &str,
) -> Result<Expr> {
    let quoted = format!("\"{}\"", column.replace('"', "\"\""));
    let sql = mask_sql(kind, &quoted, data_type, rule)?;
    let expr = parse(parser, &sql, schema, attributes, rule)?;
    // Always an explicit cast: later analyzer rules (the planner types integer literals
    // as PostgreSQL does) may change the type the expression has now. The optimizer
    // drops it where the types agree.
    Ok(Expr::Cast(datafusion::logical_expr::Cast::new(
        Box::new(expr),
        data_type.clone(),
    )))
}
