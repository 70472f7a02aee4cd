//! Statement rewrites that give PostgreSQL's meaning to what DataFusion reads otherwise:
//! - `SELECT generate_series(1, 3)` is set-returning in PostgreSQL (three rows), a
//!   list in DataFusion (one row): in a select list it becomes `unnest(…)`;
//! - `date_part` is `double precision` and `extract` `numeric`;
//! - `mod(a, b)` is `a % b`; `interval * n` and `interval / n` are PostgreSQL's
//!   `interval_mul` and `interval_div`;
//! - `timestamp '2024-01-31 10:00'` (no seconds) is a valid PostgreSQL timestamp that
//!   Arrow's parser refuses: the seconds are written out.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, ExactNumberInfo, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, SelectItem,
    SetExpr, Value, VisitMut, VisitorMut, visit_expressions_mut,
};

/// Rewrites the statement in place.
pub fn rewrite_function_syntax(statement: &mut DFStatement) {
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    let _ = statement.as_mut().visit(&mut SelectLists);
    let _ = visit_expressions_mut(statement.as_mut(), |expr: &mut Expr| {
        timestamp_with_seconds(expr);
        modulo(expr);
        interval_scale(expr);
        date_parts(expr);
        ControlFlow::<()>::Continue(())
    });
}

struct SelectLists;

impl VisitorMut for SelectLists {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        select_lists(query.body.as_mut());
        ControlFlow::Continue(())
    }
}

fn select_lists(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                let (expr, unnamed) = match item {
                    SelectItem::UnnamedExpr(expr) => (expr, true),
                    SelectItem::ExprWithAlias { expr, .. } => (expr, false),
                    _ => continue,
                };
                if let Some(series) = set_returning(expr) {
                    let name = function_name(expr).unwrap_or_default();
                    *expr = series;
                    // The column keeps PostgreSQL's name, the function's.
                    if unnamed {
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias: Ident::new(name),
                        };
                    }
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            select_lists(left);
            select_lists(right);
        }
        SetExpr::Query(query) => select_lists(query.body.as_mut()),
        _ => {}
    }
}

fn function_name(expr: &Expr) -> Option<String> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let ident = function.name.0.last()?.as_ident()?;
    Some(ident.value.to_ascii_lowercase())
}

/// `generate_series(…)` as the `unnest` that makes it set-returning.
fn set_returning(expr: &Expr) -> Option<Expr> {
    let name = function_name(expr)?;
    let Expr::Function(function) = expr else {
        return None;
    };
    if name != "generate_series" || function.over.is_some() {
        return None;
    }
    Some(Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("unnest")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr.clone()))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// `mod(a, b)`, which DataFusion lacks, as `a % b` (PostgreSQL's meaning: the sign of
/// the dividend).
fn modulo(expr: &mut Expr) {
    if function_name(expr).as_deref() != Some("mod") {
        return;
    }
    let Expr::Function(function) = expr else {
        return;
    };
    let FunctionArguments::List(list) = &function.args else {
        return;
    };
    let [
        FunctionArg::Unnamed(FunctionArgExpr::Expr(a)),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(b)),
    ] = list.args.as_slice()
    else {
        return;
    };
    *expr = Expr::BinaryOp {
        left: Box::new(Expr::Nested(Box::new(a.clone()))),
        op: BinaryOperator::Modulo,
        right: Box::new(Expr::Nested(Box::new(b.clone()))),
    };
}

/// `interval * n`, `n * interval` and `interval / n`, which DataFusion refuses, as
/// PostgreSQL's own `interval_mul` and `interval_div`.
fn interval_scale(expr: &mut Expr) {
    let Expr::BinaryOp { left, op, right } = expr else {
        return;
    };
    let is_interval = |e: &Expr| match e {
        Expr::Interval(_) => true,
        Expr::Cast { data_type, .. } => matches!(data_type, DataType::Interval { .. }),
        Expr::Nested(inner) => matches!(inner.as_ref(), Expr::Interval(_)),
        _ => false,
    };
    let (name, span, factor) = match op {
        BinaryOperator::Multiply if is_interval(left) => ("interval_mul", left, right),
        BinaryOperator::Multiply if is_interval(right) => ("interval_mul", right, left),
        BinaryOperator::Divide if is_interval(left) => ("interval_div", left, right),
        _ => return,
    };
    let argument = |e: &Expr| FunctionArg::Unnamed(FunctionArgExpr::Expr(e.clone()));
    *expr = Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![argument(span), argument(factor)],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
}

/// `date_part(…)` is `double precision` and `extract(…)` `numeric` in PostgreSQL, where
/// DataFusion gives an integer for most fields: the results are cast (`extract`'s
/// numeric has PostgreSQL's scale: 6 for seconds and epochs, 3 for milliseconds).
fn date_parts(expr: &mut Expr) {
    let cast = |inner: Expr, data_type: DataType| Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(inner),
        data_type,
        array: false,
        format: None,
    };
    match expr {
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let name = field.to_string().to_ascii_lowercase();
            let scale = match name.as_str() {
                "second" | "seconds" | "epoch" => 6,
                "millisecond" | "milliseconds" => 3,
                _ => 0,
            };
            let is_iso_day = name == "isodow";
            let seconds = matches!(name.as_str(), "second" | "seconds");
            let field = if seconds {
                "microsecond".to_string()
            } else {
                name
            };
            let part = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new("date_part")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(
                            Value::SingleQuotedString(field).into(),
                        ))),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(inner.as_ref().clone())),
                    ],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
            // DataFusion counts ISO days of the week from 0 (Monday); PostgreSQL from 1.
            // Its seconds drop the fraction: they are read as microseconds instead.
            let part = if seconds {
                per_million(part)
            } else if is_iso_day {
                Expr::BinaryOp {
                    left: Box::new(part),
                    op: BinaryOperator::Plus,
                    right: Box::new(Expr::Value(Value::Number("1".into(), false).into())),
                }
            } else {
                part
            };
            *expr = cast(
                part,
                DataType::Numeric(ExactNumberInfo::PrecisionAndScale(38, scale)),
            );
        }
        Expr::Function(function)
            if function
                .name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("date_part")) =>
        {
            let iso_day = matches!(&function.args, FunctionArguments::List(list)
                if matches!(list.args.first(), Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    Expr::Value(v)))) if matches!(&v.value, Value::SingleQuotedString(f)
                        if f.eq_ignore_ascii_case("isodow"))));
            let seconds = matches!(&function.args, FunctionArguments::List(list)
                if matches!(list.args.first(), Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    Expr::Value(v)))) if matches!(&v.value, Value::SingleQuotedString(f)
                        if f.eq_ignore_ascii_case("second") || f.eq_ignore_ascii_case("seconds"))));
            if seconds
                && let FunctionArguments::List(list) = &mut function.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) =
                    list.args.first_mut()
            {
                v.value = Value::SingleQuotedString("microsecond".into());
            }
            let part = if seconds {
                per_million(expr.clone())
            } else if iso_day {
                Expr::BinaryOp {
                    left: Box::new(expr.clone()),
                    op: BinaryOperator::Plus,
                    right: Box::new(Expr::Value(Value::Number("1".into(), false).into())),
                }
            } else {
                expr.clone()
            };
            *expr = cast(part, DataType::DoublePrecision);
        }
        _ => {}
    }
}

/// `part / 1000000.0`: microseconds as seconds with their fraction.
fn per_million(part: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(part),
        op: BinaryOperator::Divide,
        right: Box::new(Expr::Value(Value::Number("1000000.0".into(), false).into())),
    }
}

/// `timestamp 'YYYY-MM-DD HH:MM'` (and the same text cast to a timestamp) with `:00`
/// seconds written out.
fn timestamp_with_seconds(expr: &mut Expr) {
    let (data_type, value) = match expr {
        Expr::TypedString(typed) => (&typed.data_type, &mut typed.value.value),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match inner.as_mut() {
            Expr::Value(value) => (&*data_type, &mut value.value),
            _ => return,
        },
        _ => return,
    };
    if !matches!(data_type, DataType::Timestamp(..)) {
        return;
    }
    let (Value::SingleQuotedString(text) | Value::DoubleQuotedString(text)) = value else {
        return;
    };
    if let Some(full) = with_seconds(text) {
        *text = full;
    }
}

/// The text with `:00` seconds after a bare `HH:MM`, if it has one.
fn with_seconds(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // YYYY-MM-DD, a space or T, HH:MM, then the end or a zone.
    if bytes.len() < 16 || !matches!(bytes[10], b' ' | b'T') {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16);
    let rest = &text[16..];
    if !shaped || rest.starts_with(':') {
        return None;
    }
    Some(format!("{}:00{rest}", &text[..16]))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})
            .expect("parse")
            .pop_front()
            .expect("one");
        rewrite_function_syntax(&mut statement);
        statement.to_string()
    }

    #[test]
    fn postgres_meanings() {
        assert_eq!(
            rewritten("SELECT generate_series(1, 3)"),
            "SELECT unnest(generate_series(1, 3)) AS generate_series"
        );
        assert_eq!(
            rewritten("SELECT generate_series(1, 3) AS n"),
            "SELECT unnest(generate_series(1, 3)) AS n"
        );
        assert_eq!(
            rewritten("SELECT timestamp '2024-01-31 10:00', '2024-01-31 10:00+02'::timestamptz"),
            "SELECT TIMESTAMP '2024-01-31 10:00:00', '2024-01-31 10:00:00+02'::TIMESTAMPTZ"
        );
        assert_eq!(
            rewritten("SELECT timestamp '2024-01-31 10:00:05'"),
            "SELECT TIMESTAMP '2024-01-31 10:00:05'"
        );
    }
}
