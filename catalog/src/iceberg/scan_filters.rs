//! The filters an Iceberg scan is handed: only predicates it evaluates exactly.
//!
//! iceberg-datafusion turns DataFusion filters into Iceberg predicates by stripping
//! casts and taking literals as they come. A literal of another type than its column
//! then fails the whole query when the predicate is bound (`date >= timestamp '…'`:
//! "Can't convert datum from timestamp_ns type to date type"), and a stripped cast can
//! change what a comparison means (`CAST(x AS INT) = 5` is not `x = 5`). Filters are
//! pushed as `Inexact`, so DataFusion evaluates every one of them above the scan
//! anyway: the scan may be given fewer or weaker predicates, never a stronger one.
//!
//! So a filter reaches the scan only when every part of it is a comparison of a bare
//! column with a literal of exactly the column's type (or IN, IS NULL, a prefix LIKE),
//! combined with AND, OR and NOT. A date column compared through a cast with a
//! timestamp, as BI tools filter dates, is handed over as the equivalent comparison of
//! the date, so that such filters still prune files.

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::expr::{InList, Like};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, Operator, TryCast};
use datafusion::scalar::ScalarValue;

/// The filters to hand an Iceberg scan of a table of `schema`.
pub(crate) fn scan_filters(filters: &[Expr], schema: &Schema) -> Vec<Expr> {
    let mut kept = Vec::new();
    for filter in filters {
        for conjunct in split_conjunction(filter) {
            if exact(conjunct, schema) {
                kept.push(conjunct.clone());
            } else if let Some(derived) = date_bound(conjunct, schema) {
                kept.push(derived);
            }
        }
    }
    kept
}

/// `filters` with their string-view literals as plain strings, the only strings
/// iceberg-datafusion turns into Iceberg literals (Iceberg strings are read as views).
pub(crate) fn iceberg_literals(filters: &[Expr]) -> Vec<Expr> {
    filters
        .iter()
        .map(|filter| {
            filter
                .clone()
                .transform(|e| {
                    Ok(match e {
                        Expr::Literal(ScalarValue::Utf8View(v), metadata) => {
                            Transformed::yes(Expr::Literal(ScalarValue::Utf8(v), metadata))
                        }
                        other => Transformed::no(other),
                    })
                })
                .map_or_else(|_| filter.clone(), |t| t.data)
        })
        .collect()
}

/// Whether Iceberg evaluates `expr` exactly as DataFusion does.
fn exact(expr: &Expr, schema: &Schema) -> bool {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => exact(left, schema) && exact(right, schema),
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq => {
                column_and_literal(left, right, schema) || column_and_literal(right, left, schema)
            }
            _ => false,
        },
        Expr::Not(inner) => exact(inner, schema),
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => column_type(inner, schema).is_some(),
        Expr::InList(InList {
            expr: column, list, ..
        }) => match column_type(column, schema) {
            Some(data_type) => {
                !list.is_empty() && list.iter().all(|item| literal_of(item, data_type))
            }
            None => false,
        },
        Expr::Like(Like {
            expr: column,
            pattern,
            escape_char: None,
            case_insensitive: false,
            ..
        }) => {
            matches!(
                column_type(column, schema),
                Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            ) && matches!(pattern.as_ref(),
                Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)), _)
                    if prefix_pattern(p))
        }
        Expr::Column(_) => column_type(expr, schema) == Some(&DataType::Boolean),
        _ => false,
    }
}

/// `column op literal` where the literal has exactly the column's type.
fn column_and_literal(column: &Expr, literal: &Expr, schema: &Schema) -> bool {
    column_type(column, schema).is_some_and(|data_type| literal_of(literal, data_type))
}

/// The type of a bare column the scan can compare, if `expr` is one.
fn column_type<'a>(expr: &Expr, schema: &'a Schema) -> Option<&'a DataType> {
    let Expr::Column(column) = expr else {
        return None;
    };
    let field = schema.field_with_name(&column.name).ok()?;
    // Floats are left out: NaN orders differently in Iceberg's metrics than in
    // DataFusion's comparisons.
    match field.data_type() {
        DataType::Boolean
        | DataType::Int32
        | DataType::Int64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::Date32 => Some(field.data_type()),
        // Iceberg's literals for timestamps carry no zone: only zone-less columns.
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, None) => {
            Some(field.data_type())
        }
        _ => None,
    }
}

/// Whether `expr` is a non-NULL literal of exactly `data_type`.
fn literal_of(expr: &Expr, data_type: &DataType) -> bool {
    matches!(expr, Expr::Literal(value, _) if !value.is_null() && &value.data_type() == data_type)
}

/// `prefix%` with no other wildcard: Iceberg's STARTS WITH.
fn prefix_pattern(pattern: &str) -> bool {
    pattern
        .strip_suffix('%')
        .is_some_and(|prefix| !prefix.contains(['%', '_', '\\']))
}

/// `CAST(date AS timestamp) op literal` as the comparison of the date it is equivalent
/// to: a date read as a timestamp is its midnight, so `>= t` is `>= ceil(t)`, `> t` is
/// `> floor(t)`, `<= t` is `<= floor(t)`, `< t` is `< ceil(t)`, and `= t` holds only for
/// the date of a midnight `t`.
fn date_bound(expr: &Expr, schema: &Schema) -> Option<Expr> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (cast, literal, op) = match (left.as_ref(), right.as_ref()) {
        (Expr::Literal(..), _) => (right.as_ref(), left.as_ref(), op.swap()?),
        _ => (left.as_ref(), right.as_ref(), *op),
    };
    let inner = match cast {
        Expr::Cast(Cast { expr, data_type }) | Expr::TryCast(TryCast { expr, data_type })
            if matches!(data_type, DataType::Timestamp(..)) =>
        {
            expr.as_ref()
        }
        _ => return None,
    };
    if column_type(inner, schema) != Some(&DataType::Date32) {
        return None;
    }
    let (value, per_day) = match literal {
        Expr::Literal(ScalarValue::TimestampSecond(Some(v), _), _) => (*v, 86_400),
        Expr::Literal(ScalarValue::TimestampMillisecond(Some(v), _), _) => (*v, 86_400_000),
        Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _) => (*v, 86_400_000_000),
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => (*v, 86_400_000_000_000),
        _ => return None,
    };
    let floor = i32::try_from(value.div_euclid(per_day)).ok()?;
    let midnight = value.rem_euclid(per_day) == 0;
    let ceil = if midnight {
        floor
    } else {
        floor.checked_add(1)?
    };
    let date = |day: i32| Expr::Literal(ScalarValue::Date32(Some(day)), None);
    let (op, day) = match op {
        Operator::GtEq => (Operator::GtEq, ceil),
        Operator::Gt => (Operator::Gt, floor),
        Operator::LtEq => (Operator::LtEq, floor),
        Operator::Lt => (Operator::Lt, ceil),
        Operator::Eq if midnight => (Operator::Eq, floor),
        _ => return None,
    };
    Some(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(inner.clone()),
        op,
        Box::new(date(day)),
    )))
}

#[cfg(test)]
mod tests {
    use std::ops::Not;

    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{cast, col, lit};

    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("d", DataType::Date32, false),
            Field::new("n", DataType::Int64, false),
            Field::new("f", DataType::Float64, false),
            Field::new("s", DataType::Utf8, false),
        ])
    }

    fn ts(text: &str) -> Expr {
        let nanos = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .expect("timestamp")
            .and_utc()
            .timestamp_nanos_opt()
            .expect("in range");
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(nanos), None), None)
    }

    fn shown(filters: Vec<Expr>) -> Vec<String> {
        scan_filters(&filters, &schema())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn keeps_exact_comparisons_only() {
        assert_eq!(
            shown(vec![
                col("n").gt(lit(5i64)),
                col("n").gt(lit(5i32)),
                cast(col("n"), DataType::Int32).eq(lit(5i32)),
                col("f").gt(lit(1.0f64)),
                col("s").like(lit("ab%")),
                col("s").like(lit("%ab")),
                col("n").eq(lit(1i64)).and(col("s").like(lit("%x"))),
                col("n").eq(lit(1i64)).and(col("s").like(lit("%x"))).not(),
            ]),
            vec!["n > Int64(5)", "s LIKE Utf8(\"ab%\")", "n = Int64(1)"]
        );
    }

    #[test]
    fn dates_compared_with_timestamps_become_date_bounds() {
        let as_ts = || cast(col("d"), DataType::Timestamp(TimeUnit::Nanosecond, None));
        assert_eq!(
            shown(vec![
                as_ts().gt_eq(ts("1995-01-01 00:00:00")),
                as_ts().gt_eq(ts("1995-01-01 12:00:00")),
                as_ts().gt(ts("1995-01-01 12:00:00")),
                as_ts().lt(ts("1996-01-01 00:00:00")),
                as_ts().lt_eq(ts("1996-01-01 12:00:00")),
                as_ts().eq(ts("1996-01-01 12:00:00")),
                ts("1995-01-01 00:00:00").lt_eq(as_ts()),
            ]),
            vec![
                "d >= Date32(\"1995-01-01\")",
                "d >= Date32(\"1995-01-02\")",
                "d > Date32(\"1995-01-01\")",
                "d < Date32(\"1996-01-01\")",
                "d <= Date32(\"1996-01-01\")",
                "d >= Date32(\"1995-01-01\")",
            ]
        );
    }
}
