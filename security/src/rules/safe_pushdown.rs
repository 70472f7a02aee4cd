//! Lets predicates that cannot fail cross the policy barrier, so governed queries keep
//! scan pruning.
//!
//! The barrier exists because a user predicate that can raise an error (a cast, a
//! division) would reveal hidden rows if it ran before the row filter. A predicate that
//! can never raise an error reveals nothing by running early, whatever it is combined
//! with: comparisons of plain (unmasked) columns with literals, AND/OR/NOT, IS NULL,
//! BETWEEN, IN lists, LIKE with a literal pattern, and widening casts. Those conjuncts are
//! moved below the barrier, where DataFusion pushes them into the scan; every other
//! conjunct stays above it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Cast, Expr, ExprSchemable, Extension, Filter, LogicalPlan, Operator,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::barrier::PolicyBarrier;

/// The optimizer rule; runs after DataFusion's filter pushdown.
#[derive(Debug, Default)]
pub struct PushSafePredicatesThroughBarrier;

impl OptimizerRule for PushSafePredicatesThroughBarrier {
    fn name(&self) -> &str {
        "push_safe_predicates_through_policy_barrier"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::Extension(extension) = filter.input.as_ref() else {
            return Ok(Transformed::no(plan));
        };
        let Some(barrier) = extension.node.as_any().downcast_ref::<PolicyBarrier>() else {
            return Ok(Transformed::no(plan));
        };
        let schema = barrier.input().schema();
        let (safe, unsafe_): (Vec<&Expr>, Vec<&Expr>) = split_conjunction(&filter.predicate)
            .into_iter()
            .partition(|e| is_safe(e, schema, barrier.masked()));
        let Some(below) = conjunction(safe.into_iter().cloned()) else {
            return Ok(Transformed::no(plan));
        };
        let inner = LogicalPlan::Filter(Filter::try_new(below, Arc::new(barrier.input().clone()))?);
        let crossed = LogicalPlan::Extension(Extension {
            node: Arc::new(PolicyBarrier::new(inner, barrier.masked().to_vec())),
        });
        Ok(Transformed::yes(
            match conjunction(unsafe_.into_iter().cloned()) {
                Some(above) => LogicalPlan::Filter(Filter::try_new(above, Arc::new(crossed))?),
                None => crossed,
            },
        ))
    }
}

pub(super) fn is_safe(expr: &Expr, schema: &DFSchema, masked: &[String]) -> bool {
    match expr {
        Expr::Column(c) => !masked.contains(&c.name),
        Expr::Literal(..) => true,
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
            ) && is_safe(left, schema, masked)
                && is_safe(right, schema, masked)
        }
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e) => is_safe(e, schema, masked),
        Expr::Between(b) => {
            is_safe(&b.expr, schema, masked)
                && matches!(*b.low, Expr::Literal(..))
                && matches!(*b.high, Expr::Literal(..))
        }
        Expr::InList(list) => {
            is_safe(&list.expr, schema, masked)
                && list.list.iter().all(|e| matches!(e, Expr::Literal(..)))
        }
        Expr::Like(like) => {
            like.escape_char.is_none()
                && is_safe(&like.expr, schema, masked)
                && matches!(*like.pattern, Expr::Literal(..))
        }
        Expr::Cast(Cast { expr, data_type }) => {
            is_safe(expr, schema, masked)
                && expr
                    .get_type(schema)
                    .map(|from| widens(&from, data_type))
                    .unwrap_or(false)
        }
        Expr::TryCast(cast) => is_safe(&cast.expr, schema, masked),
        _ => false,
    }
}

/// Casts that cannot fail: to a type that holds every value of the source.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    let int_bits = |t: &DataType| match t {
        Int8 => Some(8),
        Int16 => Some(16),
        Int32 => Some(32),
        Int64 => Some(64),
        _ => None,
    };
    match (from, to) {
        (a, b) if int_bits(a).is_some() && int_bits(b).is_some() => int_bits(a) <= int_bits(b),
        (Int8 | Int16 | Int32 | Int64, Float64) => true,
        (Int8 | Int16 | Int32 | Int64, Decimal128(p, s)) => {
            let needed = int_bits(from)
                .map(|b| if b <= 32 { 10 } else { 19 })
                .unwrap_or(38);
            i16::from(*p) - i16::from(*s) >= needed
        }
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        (Float32, Float64) => true,
        (Date32, Date64) | (Date32, Timestamp(..)) => true,
        (Utf8, LargeUtf8 | Utf8View) | (Utf8View, Utf8 | LargeUtf8) | (LargeUtf8, Utf8View) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lossless_casts_widen() {
        assert!(widens(&DataType::Int32, &DataType::Int64));
        assert!(!widens(&DataType::Int64, &DataType::Int32));
        assert!(widens(
            &DataType::Decimal128(15, 2),
            &DataType::Decimal128(16, 2)
        ));
        assert!(!widens(
            &DataType::Decimal128(15, 2),
            &DataType::Decimal128(15, 1)
        ));
        assert!(!widens(&DataType::Utf8, &DataType::Int64));
        assert!(widens(
            &DataType::Date32,
            &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, None)
        ));
    }
}
