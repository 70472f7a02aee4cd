//! Tests of join ordering: a star of joins written in a poor order is joined from its
//! filtered end, with the answer of the plan as written; what it must leave alone.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::*;
use crate::rules::sized_table::{Sized, run};

/// A table of integer columns (and `name` columns of text), `rows` rows, column `i` of
/// row `r` given by `values(i, r)`.
fn table(
    columns: &[&str],
    rows: i64,
    values: impl Fn(usize, i64) -> i64,
    sized: bool,
) -> Arc<dyn TableProvider> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| match c.ends_with("name") {
            true => Field::new(*c, DataType::Utf8, false),
            false => Field::new(*c, DataType::Int64, false),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| -> ArrayRef {
            let data: Vec<i64> = (0..rows).map(|r| values(i, r)).collect();
            match c.ends_with("name") {
                true => Arc::new(StringArray::from(
                    data.iter().map(|v| format!("N{v}")).collect::<Vec<_>>(),
                )),
                false => Arc::new(Int64Array::from(data)),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("test data");
    let mem = MemTable::try_new(schema, vec![vec![batch]]).expect("a table");
    match sized {
        true => Arc::new(Sized(mem, rows as usize)),
        false => Arc::new(mem),
    }
}

/// TPC-H's shape in small: 5 regions, 25 nations, 500 customers, 50 suppliers, 2 000
/// orders, 8 000 lines.
fn context(order: bool, sized: bool) -> SessionContext {
    let ctx = SessionContext::new();
    if order {
        ctx.add_optimizer_rule(Arc::new(JoinOrder));
    }
    let tables = [
        (
            "region",
            table(&["r_regionkey", "r_name"], 5, |_, r| r, sized),
        ),
        (
            "nation",
            table(
                &["n_nationkey", "n_regionkey", "n_name"],
                25,
                |i, r| if i == 1 { r % 5 } else { r },
                sized,
            ),
        ),
        (
            "customer",
            table(
                &["c_custkey", "c_nationkey"],
                500,
                |i, r| if i == 0 { r } else { r % 25 },
                sized,
            ),
        ),
        (
            "supplier",
            table(
                &["s_suppkey", "s_nationkey"],
                50,
                |i, r| if i == 0 { r } else { (r * 7) % 25 },
                sized,
            ),
        ),
        (
            "orders",
            table(
                &["o_orderkey", "o_custkey", "o_year"],
                2000,
                |i, r| match i {
                    0 => r,
                    1 => (r * 13) % 500,
                    _ => 1992 + r % 7,
                },
                sized,
            ),
        ),
        (
            "lineitem",
            table(
                &["l_orderkey", "l_suppkey", "l_quantity"],
                8000,
                |i, r| match i {
                    0 => r / 4,
                    1 => (r * 31) % 50,
                    _ => r % 50 + 1,
                },
                sized,
            ),
        ),
    ];
    for (name, provider) in tables {
        ctx.register_table(name, provider).expect("registers");
    }
    ctx
}

/// The plan with the rule, after checking its answer is the plan as written's.
async fn ordered(sql: &str, sized: bool) -> (String, String) {
    let (written, expected) = run(&context(false, sized), sql).await;
    let (plan, rows) = run(&context(true, sized), sql).await;
    assert_eq!(rows, expected, "{sql}\n{plan}");
    // A border, the header, a rule, a row or more, a border.
    assert!(
        expected.lines().count() > 4,
        "the query returns rows: {sql}"
    );
    (written, plan)
}

/// The join deepest in a plan's display: the first one executed.
fn deepest_join(plan: &str) -> &str {
    plan.lines()
        .filter(|l| l.contains(" Join: "))
        .max_by_key(|l| l.len() - l.trim_start().len())
        .unwrap_or_default()
}

const Q5: &str = "SELECT n_name, count(*) AS lines, sum(l_quantity) AS quantity \
    FROM customer, orders, lineitem, supplier, nation, region \
    WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey \
    AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey \
    AND n_regionkey = r_regionkey AND r_name = 'N0' AND o_year = 1994 \
    GROUP BY n_name";

#[tokio::test]
async fn a_star_is_joined_from_its_filtered_end() {
    let (written, plan) = ordered(Q5, true).await;
    assert!(deepest_join(&written).contains("o_custkey"), "{written}");
    let first = deepest_join(&plan);
    assert!(
        first.contains("r_regionkey") && first.contains("n_regionkey"),
        "region and nation first:\n{plan}"
    );
    // Customers join their nation directly, through the class of nation keys.
    assert!(
        plan.contains("customer.c_nationkey = nation.n_nationkey")
            || plan.contains("nation.n_nationkey = customer.c_nationkey"),
        "{plan}"
    );
}

#[tokio::test]
async fn the_same_order_on_every_optimizer_pass() {
    let ctx = context(true, true);
    let plan = ctx
        .sql(Q5)
        .await
        .expect("plans")
        .into_optimized_plan()
        .expect("optimizes");
    // The ordered plan, optimized again, keeps its order.
    let again = ctx
        .state()
        .optimize(&plan)
        .expect("optimizes again")
        .display_indent()
        .to_string();
    let joins = |p: &str| -> Vec<String> {
        p.lines()
            .filter(|l| l.contains(" Join: "))
            .map(|l| l.trim().to_string())
            .collect()
    };
    assert_eq!(joins(&again), joins(&plan.display_indent().to_string()));
}

#[tokio::test]
async fn joins_it_cannot_weigh_or_must_not_move_stay_as_written() {
    // Tables of unknown size.
    let (written, plan) = ordered(Q5, false).await;
    assert_eq!(plan, written);
    // An outer join is a boundary: the star under it is ordered, never across it.
    let sql = "SELECT n_name, count(o_orderkey) AS orders FROM nation \
        LEFT JOIN customer ON c_nationkey = n_nationkey \
        LEFT JOIN orders ON o_custkey = c_custkey GROUP BY n_name";
    let (written, plan) = ordered(sql, true).await;
    assert_eq!(plan, written);
    // Two relations: DataFusion picks the sides.
    let sql = "SELECT count(*) AS n FROM lineitem, orders WHERE l_orderkey = o_orderkey";
    let (written, plan) = ordered(sql, true).await;
    assert_eq!(plan, written);
}
