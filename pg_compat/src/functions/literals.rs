//! Integer literals typed as PostgreSQL types them: `integer` (int4) when the value fits,
//! `bigint` otherwise. DataFusion reads every integer literal as int8, so `1 + 1`,
//! `CASE … THEN 1` or `greatest(id, 3)` were `bigint` on the wire where PostgreSQL
//! says `integer`, and `id * 2147483647` computed a bigint product where PostgreSQL
//! raises "integer out of range".
//!
//! An analyzer rule before type coercion, which then widens an int4 literal wherever
//! it meets a wider type (`bigint_col = 1` still compares bigints). Left as they are:
//! LIMIT and OFFSET, VALUES rows (typed when planned), and the arguments of aggregate and
//! window functions (`count(1)`, `lag(x, 1)`), whose results PostgreSQL types
//! independently of the literal. Output names are preserved.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::scalar::ScalarValue;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            if matches!(
                node,
                LogicalPlan::Limit(_)
                    | LogicalPlan::Values(_)
                    | LogicalPlan::Extension(_)
                    | LogicalPlan::Dml(_)
                    | LogicalPlan::Ddl(_)
            ) {
                return Ok(Transformed::no(node));
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_down(|e| match e {
                    // Arguments whose type the function's result does not follow.
                    Expr::AggregateFunction(_) | Expr::WindowFunction(_) => {
                        Ok(Transformed::new(e, false, TreeNodeRecursion::Jump))
                    }
                    Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => {
                        match i32::try_from(v) {
                            Ok(v) => Ok(Transformed::yes(Expr::Literal(
                                ScalarValue::Int32(Some(v)),
                                metadata,
                            ))),
                            Err(_) => Ok(Transformed::no(Expr::Literal(
                                ScalarValue::Int64(Some(v)),
                                metadata,
                            ))),
                        }
                    }
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "integer_literals"
    }
}
