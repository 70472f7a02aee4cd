//! PostgreSQL's arithmetic where DataFusion's answers differently:
//! - integer `+`, `-` and `*` fail on overflow ("integer out of range", 22003) where
//!   DataFusion's wrap around silently (`2147483647 + 1` would be `-2147483648`);
//! - a numeric or float cast to an integer rounds (`12.5::int` is 13; a float rounds
//!   half to even) where DataFusion truncates;
//! - a timestamp cast to text is written as PostgreSQL writes it (no `T`);
//! - `numeric / numeric` keeps PostgreSQL's significant digits (numeric_div.rs);
//! - `avg` of integers and `sum` of bigints are `numeric`; `row_number()`, `rank()` and
//!   the other counting window functions are `bigint`.
//!
//! An analyzer rule, right after type coercion (so that both sides have their final
//! types, and before constant folding evaluates anything). The functions it puts in
//! are named as PostgreSQL names the same operation (`int4pl`, `int8mul`, `round`), so
//! that a plan pushed down to a PostgreSQL source unparses into SQL PostgreSQL runs
//! with the same meaning. Output names are preserved.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Datum};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, FieldRef, Float32Type, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::OUT_OF_RANGE;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct PostgresArithmetic;

impl AnalyzerRule for PostgresArithmetic {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            if matches!(node, LogicalPlan::Extension(_)) {
                return Ok(Transformed::no(node));
            }
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            if let LogicalPlan::TableScan(scan) = &node {
                schema.merge(&DFSchema::try_from_qualified_schema(
                    scan.table_name.clone(),
                    &scan.source.schema(),
                )?);
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| rewrite(e, &schema))
                    .map(|t| t.update_data(|e| name.restore(e)))
            })?
            // Keep each node's schema in step with its expressions.
            .map_data(|plan| plan.recompute_schema())?
            .transform_data(bigint_window_results)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "postgres_arithmetic"
    }
}

/// The names a `regtype` or `regproc` expression's OIDs stand for, from its field.
fn oid_kind(expr: &Expr, schema: &DFSchema) -> Option<super::oid_text::OidKind> {
    let (_, field) = expr.to_field(schema).ok()?;
    if field.data_type() != &DataType::UInt32 {
        return None;
    }
    let kind = field.metadata().get(crate::catalog::PG_TYPE_METADATA)?;
    super::oid_text::OidKind::of(kind)
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    if let Expr::AggregateFunction(aggregate) = &expr {
        return Ok(numeric_aggregate(aggregate, schema)
            .map_or_else(|| Transformed::no(expr.clone()), Transformed::yes));
    }
    match &expr {
        // `regtype` and `regproc` values cast to text are their names.
        Expr::Cast(Cast {
            expr: inner,
            data_type,
        }) if matches!(
            data_type,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) && let Some(kind) = oid_kind(inner, schema) =>
        {
            let text = Arc::new(ScalarUDF::new_from_impl(super::oid_text::OidText::new(
                kind,
            )));
            Ok(Transformed::yes(Expr::Cast(Cast::new(
                Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(
                    text,
                    vec![inner.as_ref().clone()],
                ))),
                data_type.clone(),
            ))))
        }
        Expr::Cast(Cast {
            expr: inner,
            data_type,
        }) if matches!(
            data_type,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) && matches!(inner.get_type(schema), Ok(DataType::Timestamp(..))) =>
        {
            let text = Arc::new(ScalarUDF::new_from_impl(
                super::timestamp_text::TimestampText::new(),
            ));
            Ok(Transformed::yes(Expr::Cast(Cast::new(
                Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(
                    text,
                    vec![inner.as_ref().clone()],
                ))),
                data_type.clone(),
            ))))
        }
        Expr::Cast(Cast {
            expr: inner,
            data_type,
        }) if data_type.is_integer() => match inner.get_type(schema) {
            Ok(from) if from.is_floating() || is_decimal(&from) => {
                let round = Arc::new(ScalarUDF::new_from_impl(RoundForCast::new(from)));
                Ok(Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(
                        round,
                        vec![inner.as_ref().clone()],
                    ))),
                    data_type.clone(),
                ))))
            }
            _ => Ok(Transformed::no(expr)),
        },
        _ => checked(expr, schema),
    }
}

/// `row_number()`, `rank()`, `dense_rank()` and `ntile()` are `bigint` in PostgreSQL and
/// UInt64 in DataFusion (sent as numeric): a projection over the window casts them.
fn bigint_window_results(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Window(window) = &plan else {
        return Ok(Transformed::no(plan));
    };
    let schema = window.schema.clone();
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::UInt64)
    {
        return Ok(Transformed::no(plan));
    }
    let columns = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(datafusion::common::Column::from((qualifier, field)));
            if field.data_type() == &DataType::UInt64 {
                Expr::Cast(Cast::new(Box::new(column), DataType::Int64))
                    .alias_qualified(qualifier.cloned(), field.name())
            } else {
                column
            }
        })
        .collect::<Vec<_>>();
    let projection = datafusion::logical_expr::Projection::try_new(columns, Arc::new(plan))?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// `avg` of integers and `sum` of bigints are `numeric` in PostgreSQL (exact, and a
/// sum never overflows): their argument is cast to a `numeric` first.
fn numeric_aggregate(aggregate: &AggregateFunction, schema: &DFSchema) -> Option<Expr> {
    let [arg] = aggregate.params.args.as_slice() else {
        return None;
    };
    // Type coercion has already cast the argument for the function (an integer to
    // float8 for avg, an int4 to int8 for sum): the type that counts is the one before.
    let arg = match arg {
        Expr::Cast(Cast { expr, .. }) => expr.as_ref(),
        other => other,
    };
    let data_type = arg.get_type(schema).ok()?;
    let numeric = match aggregate.func.name() {
        "avg" => data_type.is_integer(),
        "sum" => matches!(data_type, DataType::Int64 | DataType::UInt64),
        _ => false,
    };
    if !numeric {
        return None;
    }
    // An average is exact over the integers' own digits (its scale is what 38 digits
    // leave); a sum of bigints needs all 38.
    let precision = match (aggregate.func.name(), &data_type) {
        ("avg", DataType::Int8 | DataType::Int16 | DataType::Int32) => 10,
        ("avg", DataType::UInt8 | DataType::UInt16 | DataType::UInt32) => 10,
        ("avg", _) => 20,
        _ => 38,
    };
    let mut aggregate = aggregate.clone();
    aggregate.params.args = vec![Expr::Cast(Cast::new(
        Box::new(arg.clone()),
        DataType::Decimal128(precision, 0),
    ))];
    Some(Expr::AggregateFunction(aggregate))
}

fn is_decimal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Decimal128(..) | DataType::Decimal256(..)
    )
}

fn checked(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if *op == Operator::Divide
        && let (Ok(DataType::Decimal128(p1, s1)), Ok(DataType::Decimal128(p2, s2))) =
            (left.get_type(schema), right.get_type(schema))
    {
        let divide = Arc::new(ScalarUDF::new_from_impl(
            super::numeric_div::NumericDiv::new((p1, s1), (p2, s2)),
        ));
        return Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(divide, vec![left.as_ref().clone(), right.as_ref().clone()]),
        )));
    }
    let verb = match op {
        Operator::Plus => "pl",
        Operator::Minus => "mi",
        Operator::Multiply => "mul",
        _ => return Ok(Transformed::no(expr)),
    };
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(expr));
    };
    let width = match (&l, &r) {
        (DataType::Int16, DataType::Int16) => "int2",
        (DataType::Int32, DataType::Int32) => "int4",
        (DataType::Int64, DataType::Int64) => "int8",
        _ => return Ok(Transformed::no(expr)),
    };
    let function = Arc::new(ScalarUDF::new_from_impl(Checked::new(
        format!("{width}{verb}"),
        *op,
        l,
    )));
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(
            function,
            vec![left.as_ref().clone(), right.as_ref().clone()],
        ),
    )))
}

/// The checked operations as plans call them (`int4pl`, `int8mul`, …): each one's name
/// says all it does, so a distributed worker resolves them by name.
pub(crate) fn checked_functions() -> Vec<ScalarUDF> {
    let mut functions = Vec::new();
    for (width, data_type) in [
        ("int2", DataType::Int16),
        ("int4", DataType::Int32),
        ("int8", DataType::Int64),
    ] {
        for (verb, op) in [
            ("pl", Operator::Plus),
            ("mi", Operator::Minus),
            ("mul", Operator::Multiply),
        ] {
            functions.push(ScalarUDF::new_from_impl(Checked::new(
                format!("{width}{verb}"),
                op,
                data_type.clone(),
            )));
        }
    }
    functions
}

/// One checked operation on one integer type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    name: String,
    op: Operator,
    data_type: DataType,
    signature: Signature,
}

impl Checked {
    fn new(name: String, op: Operator, data_type: DataType) -> Self {
        Self {
            signature: Signature::exact(
                vec![data_type.clone(), data_type.clone()],
                Volatility::Immutable,
            ),
            name,
            op,
            data_type,
        }
    }
}

impl ScalarUDFImpl for Checked {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.data_type.clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(super::results::nullable_as_arguments(
            self.name(),
            self.data_type.clone(),
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name);
        };
        let scalars = matches!(
            (left, right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let datum = |value: &ColumnarValue| -> Result<Box<dyn Datum>> {
            Ok(match value {
                ColumnarValue::Array(array) => Box::new(array.clone()),
                ColumnarValue::Scalar(scalar) => Box::new(scalar.to_scalar()?),
            })
        };
        let (l, r) = (datum(left)?, datum(right)?);
        let result: std::result::Result<ArrayRef, ArrowError> = match self.op {
            Operator::Plus => numeric::add(l.as_ref(), r.as_ref()),
            Operator::Minus => numeric::sub(l.as_ref(), r.as_ref()),
            _ => numeric::mul(l.as_ref(), r.as_ref()),
        };
        let array = result.map_err(|error| match error {
            ArrowError::ArithmeticOverflow(_) => {
                let type_name = match self.data_type {
                    DataType::Int16 => "smallint",
                    DataType::Int32 => "integer",
                    _ => "bigint",
                };
                DataFusionError::Execution(format!("{OUT_OF_RANGE} {type_name} out of range"))
            }
            other => DataFusionError::ArrowError(Box::new(other), None),
        })?;
        super::results::columnar(array, scalars)
    }
}

/// PostgreSQL's rounding of a number cast to an integer: half away from zero for a
/// numeric, half to even for a float. The type is kept; the cast follows.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundForCast {
    data_type: DataType,
    signature: Signature,
}

impl RoundForCast {
    fn new(data_type: DataType) -> Self {
        Self {
            signature: Signature::exact(vec![data_type.clone()], Volatility::Immutable),
            data_type,
        }
    }
}

impl ScalarUDFImpl for RoundForCast {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "round"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.data_type.clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(super::results::nullable_as_arguments(
            self.name(),
            self.data_type.clone(),
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("round takes one argument");
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows)?;
        let rounded: ArrayRef = match array.data_type() {
            DataType::Float64 => Arc::new(
                array
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::round_ties_even),
            ),
            DataType::Float32 => Arc::new(
                array
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(f32::round_ties_even),
            ),
            DataType::Decimal128(precision, scale) => {
                let unit = 10i128
                    .checked_pow(u32::try_from(*scale).unwrap_or(0))
                    .unwrap_or(1);
                Arc::new(
                    array
                        .as_primitive::<Decimal128Type>()
                        .unary::<_, Decimal128Type>(|v| {
                            let (quotient, rest) = (v / unit, v % unit);
                            let away = if rest.abs() * 2 >= unit {
                                v.signum()
                            } else {
                                0
                            };
                            (quotient + away).saturating_mul(unit)
                        })
                        .with_precision_and_scale(*precision, *scale)?,
                )
            }
            // Decimal256 and the rest are cast as DataFusion casts them.
            _ => array,
        };
        super::results::columnar(rounded, scalar)
    }
}
