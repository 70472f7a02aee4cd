//! PostgreSQL's types for date arithmetic, where DataFusion keeps a date:
//! - `date - date` is an `integer` count of days (DataFusion: an interval);
//! - `date + interval`, `interval + date` and `date - interval` are a `timestamp`
//!   (DataFusion: a date, which drops the time an interval of hours adds);
//! - `date_trunc(field, date)` is a `timestamp with time zone`, the date read as
//!   midnight in the session's time zone (DataFusion: a `timestamp`).
//!
//! A date column compared with a date moved by whole days or months stays a comparison of
//! dates (the same answer, and one that scans prune on).
//!
//! An analyzer rule before type coercion, which then fits the enclosing expressions
//! to the new types (`d + interval '1 day' > DATE '2000-01-02'` compares timestamps,
//! as PostgreSQL does). `date - date` becomes PostgreSQL's own `date_mi`, so that a
//! plan pushed down to a PostgreSQL source keeps its meaning. Output names are kept.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Date32Type, FieldRef, Int32Type, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::OUT_OF_RANGE;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct PostgresDates;

impl AnalyzerRule for PostgresDates {
    fn analyze(&self, plan: LogicalPlan, options: &ConfigOptions) -> Result<LogicalPlan> {
        // PostgreSQL reads a date as a `timestamptz` at midnight where the session is.
        let zone: Arc<str> = options
            .execution
            .time_zone
            .as_deref()
            .unwrap_or("+00:00")
            .into();
        plan.transform_up_with_subqueries(|node| {
            if matches!(
                node,
                LogicalPlan::Extension(_) | LogicalPlan::Dml(_) | LogicalPlan::Ddl(_)
            ) {
                return Ok(Transformed::no(node));
            }
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| rewrite(e, &schema, &zone))
                    .map(|t| t.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "postgres_dates"
    }
}

fn rewrite(expr: Expr, schema: &DFSchema, zone: &Arc<str>) -> Result<Transformed<Expr>> {
    let is_date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32));
    let is_interval = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Interval(_)));
    let timestamp = |e: &Expr, zone: Option<Arc<str>>| {
        Expr::Cast(Cast::new(
            Box::new(e.clone()),
            DataType::Timestamp(TimeUnit::Microsecond, zone),
        ))
    };
    match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
            ) && (is_date(left) || is_date(right)) =>
        {
            Ok(date_comparison(left, *op, right, schema))
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Minus,
            right,
        }) if is_date(left) && is_date(right) => {
            let date_mi = Arc::new(ScalarUDF::new_from_impl(DateMinus::new()));
            Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(date_mi, vec![*left.clone(), *right.clone()]),
            )))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Plus | Operator::Minus)
                && is_date(left)
                && is_interval(right) =>
        {
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(timestamp(left, None)),
                *op,
                right.clone(),
            ))))
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Plus,
            right,
        }) if is_interval(left) && is_date(right) => {
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                left.clone(),
                Operator::Plus,
                Box::new(timestamp(right, None)),
            ))))
        }
        Expr::ScalarFunction(function)
            if function.func.name() == "date_trunc"
                && function.args.len() == 2
                && is_date(&function.args[1]) =>
        {
            let mut function = function.clone();
            function.args[1] = timestamp(&function.args[1], Some(zone.clone()));
            Ok(Transformed::yes(Expr::ScalarFunction(function)))
        }
        _ => Ok(Transformed::no(expr)),
    }
}

/// A date column compared with a date moved by whole days or months
/// (`l_shipdate < date '1996-01-01' + interval '3' month`, as TPC-H and BI tools write
/// ranges): the timestamp is midnight, so comparing dates answers the same, and keeps
/// the comparison one of dates that scans prune and evaluate without a cast per row.
fn date_comparison(
    left: &Expr,
    op: Operator,
    right: &Expr,
    schema: &DFSchema,
) -> Transformed<Expr> {
    let as_date = |side: &Expr| -> Option<Expr> {
        let Expr::BinaryExpr(BinaryExpr {
            left: moved,
            op: shift @ (Operator::Plus | Operator::Minus),
            right: interval,
        }) = side
        else {
            return None;
        };
        let Expr::Cast(Cast { expr: date, .. }) = moved.as_ref() else {
            return None;
        };
        let whole_days = match interval.as_ref() {
            Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) => v.nanoseconds == 0,
            Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => v.milliseconds == 0,
            Expr::Literal(ScalarValue::IntervalYearMonth(Some(_)), _) => true,
            _ => false,
        };
        (whole_days && matches!(date.get_type(schema), Ok(DataType::Date32)))
            .then(|| Expr::BinaryExpr(BinaryExpr::new(date.clone(), *shift, interval.clone())))
    };
    let is_date = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Date32));
    let rebuilt = |l: Expr, r: Expr| {
        Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(l),
            op,
            Box::new(r),
        )))
    };
    if is_date(left)
        && let Some(date) = as_date(right)
    {
        return rebuilt(left.clone(), date);
    }
    if is_date(right)
        && let Some(date) = as_date(left)
    {
        return rebuilt(date, right.clone());
    }
    Transformed::no(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(left.clone()),
        op,
        Box::new(right.clone()),
    )))
}

/// `date - date`: the days between, an `integer` (PostgreSQL's `date_mi`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateMinus {
    signature: Signature,
}

impl DateMinus {
    fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Date32, DataType::Date32],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for DateMinus {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "date_mi"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(super::results::nullable_as_arguments(
            self.name(),
            DataType::Int32,
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [left, right] = arrays.as_slice() else {
            return datafusion::common::exec_err!("date_mi takes two dates");
        };
        // A date is its count of days since 1970-01-01.
        let days = |array: &datafusion::arrow::array::ArrayRef| {
            array
                .as_primitive::<Date32Type>()
                .reinterpret_cast::<Int32Type>()
        };
        let difference = numeric::sub(&days(left), &days(right)).map_err(|_| {
            DataFusionError::Execution(format!("{OUT_OF_RANGE} integer out of range"))
        })?;
        super::results::columnar(difference, scalars)
    }
}
