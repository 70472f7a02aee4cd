//! Tests of the semi-join reduction: where it applies, where it must not, and that the
//! answers are those of the plan without it.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::*;
use crate::rules::sized_table::{Sized, run};

/// `part(p_partkey, p_brand)` of 20 rows and `lineitem(l_partkey, l_quantity)` of 400,
/// every part with 20 lines of quantities 1..=20; `sized` says whether they know it.
fn context(reduce: bool, sized: bool) -> SessionContext {
    let ctx = SessionContext::new();
    if reduce {
        ctx.add_optimizer_rule(Arc::new(SemiJoinReduction));
    }
    let part = Arc::new(Schema::new(vec![
        Field::new("p_partkey", DataType::Int64, false),
        Field::new("p_brand", DataType::Utf8, false),
    ]));
    let keys: Vec<i64> = (1..=20).collect();
    let brands: Vec<String> = keys.iter().map(|k| format!("Brand#{}", k % 4)).collect();
    let part_batch = RecordBatch::try_new(
        part.clone(),
        vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(StringArray::from(brands)),
        ],
    )
    .expect("test data");
    let lineitem = Arc::new(Schema::new(vec![
        Field::new("l_partkey", DataType::Int64, true),
        Field::new("l_quantity", DataType::Int64, false),
    ]));
    let (mut partkeys, mut quantities) = (Vec::new(), Vec::new());
    for key in 1..=20 {
        for quantity in 1..=20 {
            partkeys.push(Some(key));
            quantities.push(quantity);
        }
    }
    // A line of no part: its group joins nothing.
    partkeys.push(None);
    quantities.push(7);
    let lineitem_batch = RecordBatch::try_new(
        lineitem.clone(),
        vec![
            Arc::new(Int64Array::from(partkeys)),
            Arc::new(Int64Array::from(quantities)),
        ],
    )
    .expect("test data");
    let table = |schema: SchemaRef, batch: RecordBatch, rows: usize| -> Arc<dyn TableProvider> {
        let mem = MemTable::try_new(schema, vec![vec![batch]]).expect("a table");
        match sized {
            true => Arc::new(Sized(mem, rows)),
            false => Arc::new(mem),
        }
    };
    ctx.register_table("part", table(part, part_batch, 20))
        .expect("test data");
    ctx.register_table("lineitem", table(lineitem, lineitem_batch, 401))
        .expect("test data");
    ctx
}

/// Whether the rule rewrote `sql`, after checking its answer is the plain plan's.
async fn reduced(sql: &str, sized: bool) -> bool {
    reduced_plan(sql, sized).await.is_some()
}

/// The plan the rule rewrote `sql` into, after checking its answer is the plain plan's.
async fn reduced_plan(sql: &str, sized: bool) -> Option<String> {
    let (plain_plan, plain_rows) = run(&context(false, sized), sql).await;
    let (plan, rows) = run(&context(true, sized), sql).await;
    assert!(!plain_plan.contains(KEYS));
    assert_eq!(rows, plain_rows, "{sql}\n{plan}");
    // A border, the header, a rule, two rows or more, a border.
    assert!(
        plain_rows.lines().count() > 5,
        "the query returns rows: {sql}"
    );
    let times = plan.matches(&format!("SubqueryAlias: {KEYS}")).count();
    assert!(
        times <= 1,
        "reduced once, not on every optimizer pass:\n{plan}"
    );
    (times == 1).then_some(plan)
}

const Q17: &str = "SELECT p_partkey, l_quantity FROM lineitem, part \
    WHERE p_partkey = l_partkey AND p_brand = 'Brand#1' \
    AND l_quantity < (SELECT 0.5 * avg(l_quantity) FROM lineitem l2 WHERE l2.l_partkey = p_partkey)";

#[tokio::test]
async fn a_decorrelated_aggregate_computes_only_the_groups_that_join() {
    assert!(reduced(Q17, true).await);
    // Joined by hand, with a HAVING over the groups.
    let sql = "SELECT p_partkey, s.total FROM part \
        JOIN (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey \
              HAVING sum(l_quantity) > 10) s ON s.l_partkey = p_partkey \
        WHERE p_brand IN ('Brand#1', 'Brand#2')";
    assert!(reduced(sql, true).await);
    // The aggregate on the nullable side of an outer join.
    let sql = "SELECT p_partkey, s.total FROM part \
        LEFT JOIN (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        ON s.l_partkey = p_partkey WHERE p_brand = 'Brand#3'";
    assert!(reduced(sql, true).await);
}

#[tokio::test]
async fn groups_are_kept_where_the_join_could_need_them() {
    // No filter on the other side: nothing to gain.
    let sql = "SELECT p_partkey, s.total FROM part \
        JOIN (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        ON s.l_partkey = p_partkey";
    assert!(!reduced(sql, true).await);
    // The aggregate on the preserved side of an outer join keeps every group.
    let sql = "SELECT s.l_partkey, s.total, p_partkey FROM \
        (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        LEFT JOIN part ON s.l_partkey = p_partkey AND p_brand = 'Brand#1'";
    assert!(!reduced(sql, true).await);
    let sql = "SELECT s.l_partkey, s.total, p_partkey FROM \
        (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        FULL JOIN (SELECT * FROM part WHERE p_brand = 'Brand#1') p ON s.l_partkey = p_partkey";
    assert!(!reduced(sql, true).await);
    // A limit without an order would not pick the same parts twice.
    let sql = "SELECT p.p_partkey, s.total FROM (SELECT * FROM part LIMIT 15) p \
        JOIN (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        ON s.l_partkey = p.p_partkey WHERE p.p_brand <> 'x'";
    assert!(!reduced(sql, true).await);
    // Tables of unknown size are not read twice.
    assert!(!reduced(Q17, false).await);
}

#[tokio::test]
async fn a_volatile_filter_is_never_evaluated_twice() {
    // The keys come from the scan under it, whose parts include the filter's.
    let sql = "SELECT p_partkey, s.total FROM part \
        JOIN (SELECT l_partkey, sum(l_quantity) AS total FROM lineitem GROUP BY l_partkey) s \
        ON s.l_partkey = p_partkey WHERE random() < 2 AND p_brand <> 'x'";
    let plan = reduced_plan(sql, true)
        .await
        .expect("reduced by the scan's keys");
    assert_eq!(plan.matches("random()").count(), 1, "{plan}");
}

#[tokio::test]
async fn the_smaller_aggregate_is_not_reduced_by_a_larger_table() {
    // lineitem filtered on the other side, part aggregated: reading lineitem again
    // would cost more than grouping part.
    let sql = "SELECT l_partkey, l_quantity, c.n FROM lineitem \
        JOIN (SELECT p_partkey, count(*) AS n FROM part GROUP BY p_partkey) c \
        ON c.p_partkey = l_partkey WHERE l_quantity = 3";
    assert!(!reduced(sql, true).await);
}
