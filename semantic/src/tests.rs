//! Unit tests: the shipped demo models validate, model-file mistakes are reported with
//! their place, and queries expand (or are refused) as documented. Results are compared
//! with hand-written SQL by the integration tests.

use std::path::{Path, PathBuf};

use datafusion::sql::sqlparser::ast::{ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::{QueryError, QueryErrorKind, SemanticModels, expand_statement, load_dir};

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/semantic")
}

fn demo() -> SemanticModels {
    load_dir(&demo_dir()).unwrap_or_else(|e| panic!("demo models: {e}"))
}

/// `semantic.x` and `lake.semantic.x` name model x.
fn resolver(models: &SemanticModels) -> impl Fn(&ObjectName) -> Option<usize> + '_ {
    move |name: &ObjectName| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
            .collect();
        match parts.as_slice() {
            [schema, table] | [_, schema, table] if schema == "semantic" => models.find(table),
            _ => None,
        }
    }
}

fn expand(models: &SemanticModels, sql: &str) -> Result<String, QueryError> {
    let mut statement: Statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .expect("parse")
        .remove(0);
    let resolve = resolver(models);
    expand_statement(&mut statement, models, &resolve)?;
    Ok(statement.to_string())
}

fn expand_err(models: &SemanticModels, sql: &str) -> QueryError {
    match expand(models, sql) {
        Ok(sql) => panic!("expected an error, got {sql}"),
        Err(e) => e,
    }
}

#[test]
fn demo_models_validate_and_show_joined_members() {
    let models = demo();
    let orders = models.find("orders").expect("test input is valid");
    let names: Vec<String> = models.columns(orders).into_iter().map(|c| c.name).collect();
    for expected in [
        "order_date",
        "order_date_month",
        "order_date_year",
        "revenue",
        "average_order_value",
        "high_priority",
        "customers_market_segment",
        "customers_nation",
        "customers_customer_count",
        "nations_name",
        "regions_name",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    // customers reaches orders through the join orders declares, walked backwards.
    let customers = models.find("customers").expect("test input is valid");
    let names: Vec<String> = models
        .columns(customers)
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"orders_revenue".to_string()), "{names:?}");
}

#[test]
fn a_plain_query_aggregates_one_model_at_the_grain() {
    let models = demo();
    let sql = expand(
        &models,
        "SELECT status, MEASURE(revenue) FROM semantic.orders WHERE order_date >= DATE '1995-01-01' GROUP BY 1 ORDER BY 1",
    )
    .expect("test input is valid");
    assert!(sql.contains("sum(orders.o_totalprice)"), "{sql}");
    assert!(sql.contains("FROM lake.tpch.orders AS orders"), "{sql}");
    assert!(
        sql.contains("(orders.o_orderdate) >= DATE '1995-01-01'"),
        "{sql}"
    );
    assert!(sql.contains("GROUP BY 1"), "{sql}");
    assert!(!sql.contains("JOIN"), "no join is needed: {sql}");
    assert!(sql.ends_with("ORDER BY 1"), "{sql}");
}

#[test]
fn measures_may_be_wrapped_in_their_aggregate_or_used_alone() {
    let models = demo();
    let wrapped = expand(
        &models,
        "SELECT status, SUM(revenue) FROM semantic.orders GROUP BY status",
    )
    .expect("test input is valid");
    let alone = expand(&models, "SELECT status, revenue FROM semantic.orders")
        .expect("test input is valid");
    let measure = expand(
        &models,
        "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1",
    )
    .expect("test input is valid");
    for sql in [&wrapped, &alone, &measure] {
        assert!(
            sql.contains("sum(orders.o_totalprice) AS \"revenue\""),
            "{sql}"
        );
        assert!(sql.contains("GROUP BY 1"), "{sql}");
    }
    let err = expand_err(
        &models,
        "SELECT status, AVG(revenue) FROM semantic.orders GROUP BY 1",
    );
    assert_eq!(err.kind, QueryErrorKind::WrongAggregate);
    assert!(
        err.message.contains("SUM() or MEASURE()"),
        "{}",
        err.message
    );
}

#[test]
fn derived_measures_and_filters_and_segments_expand() {
    let models = demo();
    let sql = expand(
        &models,
        "SELECT order_date_year, average_order_value, MEASURE(urgent_revenue) FROM semantic.orders WHERE high_priority GROUP BY 1",
    )
    .expect("test input is valid");
    assert!(
        sql.contains("CAST(date_trunc('year', orders.o_orderdate) AS DATE)"),
        "{sql}"
    );
    assert!(sql.contains("(\"revenue\") / (\"order_count\")"), "{sql}");
    assert!(
        sql.contains("CASE WHEN orders.o_orderpriority = '1-URGENT' THEN orders.o_totalprice END"),
        "{sql}"
    );
    assert!(
        sql.contains("orders.o_orderpriority IN ('1-URGENT', '2-HIGH')"),
        "{sql}"
    );
}

#[test]
fn joined_dimensions_add_the_joins_they_need() {
    let models = demo();
    let sql = expand(
        &models,
        "SELECT regions_name, MEASURE(revenue) FROM semantic.orders GROUP BY 1",
    )
    .expect("test input is valid");
    assert!(
        sql.contains(
            "INNER JOIN lake.tpch.customer AS customers ON orders.o_custkey = customers.c_custkey"
        ),
        "{sql}"
    );
    assert!(
        sql.contains("INNER JOIN lake.tpch.nation AS nations"),
        "{sql}"
    );
    assert!(
        sql.contains("INNER JOIN lake.tpch.region AS regions"),
        "{sql}"
    );
    assert!(
        !sql.contains("DISTINCT"),
        "many-to-one joins do not fan out: {sql}"
    );
}

#[test]
fn a_fanned_out_measure_is_counted_once_per_key() {
    let models = demo();
    // customers → orders is one-to-many: each customer once per order status.
    let sql = expand(
        &models,
        "SELECT orders_status, MEASURE(customer_count) FROM semantic.customers GROUP BY 1",
    )
    .expect("test input is valid");
    // A count of rows is a distinct count of keys.
    assert!(sql.contains("count(DISTINCT customers.c_custkey)"), "{sql}");
    assert!(!sql.contains("__key"), "{sql}");
    // A sum is not: one row per key and grain first.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("m.yml"),
        "models:\n  - name: c\n    table: l.s.c\n    primary_key: id\n    measures:\n      - name: balance\n        type: sum\n        sql: bal\n  - name: o\n    table: l.s.o\n    joins:\n      - model: c\n        relationship: many_to_one\n        on: o.cid = c.id\n    dimensions:\n      - name: status\n",
    )
    .expect("write");
    let custom = load_dir(dir.path()).expect("valid");
    let sql = expand(
        &custom,
        "SELECT o_status, MEASURE(balance) FROM semantic.c GROUP BY 1",
    )
    .expect("expands");
    assert!(sql.contains("SELECT DISTINCT c.id AS \"__key\""), "{sql}");
    assert!(sql.contains("sum(\"__v0\")"), "{sql}");
    // Measures of two models: each at its grain, joined on the grain.
    let sql = expand(
        &models,
        "SELECT market_segment, MEASURE(customer_count), MEASURE(orders_revenue) FROM semantic.customers GROUP BY 1",
    )
    .expect("test input is valid");
    assert!(sql.contains("FULL JOIN"), "{sql}");
    assert!(
        sql.contains("COALESCE(\"__q1\".\"customer_count\", 0)"),
        "a count is zero where its model has no row: {sql}"
    );
    assert!(sql.contains("IS NOT DISTINCT FROM"), "{sql}");
}

#[test]
fn mistakes_in_queries_get_their_own_errors() {
    let models = demo();
    let cases = [
        (
            "SELECT nope FROM semantic.orders",
            QueryErrorKind::UndefinedColumn,
        ),
        (
            "SELECT status FROM semantic.orders WHERE revenue > 10",
            QueryErrorKind::Grouping,
        ),
        (
            "SELECT status, priority, MEASURE(revenue) FROM semantic.orders GROUP BY 1",
            QueryErrorKind::Grouping,
        ),
        (
            "SELECT MEASURE(revenue) FROM semantic.orders GROUP BY revenue",
            QueryErrorKind::Grouping,
        ),
        (
            "SELECT count(*) FROM semantic.orders",
            QueryErrorKind::Unsupported,
        ),
        (
            "SELECT MEASURE(status) FROM semantic.orders",
            QueryErrorKind::WrongAggregate,
        ),
        (
            "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1 HAVING high_priority",
            QueryErrorKind::Grouping,
        ),
        (
            "SELECT o.status FROM semantic.orders o JOIN lake.tpch.nation n ON true",
            QueryErrorKind::Unsupported,
        ),
        (
            "SELECT status FROM semantic.orders WHERE status IN (SELECT 'F')",
            QueryErrorKind::Unsupported,
        ),
    ];
    for (sql, kind) in cases {
        let err = expand_err(&models, sql);
        assert_eq!(err.kind, kind, "{sql}: {}", err.message);
        assert!(
            err.message.contains("orders")
                || err.message.contains("MEASURE")
                || err.message.contains("aggregate"),
            "{sql}: {}",
            err.message
        );
    }
}

#[test]
fn semantic_tables_work_inside_larger_queries() {
    let models = demo();
    let sql = expand(
        &models,
        "WITH r AS (SELECT status, revenue FROM semantic.orders) SELECT * FROM r JOIN (SELECT status, order_count FROM lake.semantic.orders) c USING (status)",
    )
    .expect("test input is valid");
    assert_eq!(
        sql.matches("FROM lake.tpch.orders AS orders").count(),
        2,
        "{sql}"
    );
    // Untouched when no semantic table is read.
    let plain = "SELECT 1 FROM lake.tpch.orders";
    assert_eq!(expand(&models, plain).expect("test input is valid"), plain);
}

fn check(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("test input is valid");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("test input is valid");
    }
    match load_dir(dir.path()) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn model_file_errors_name_file_line_and_field() {
    let bad_type = "models:\n  - name: a\n    table: l.s.t\n    measures:\n      - name: m\n        type: summ\n        sql: x\n";
    let message = check(&[("a.yml", bad_type)]);
    assert!(message.contains("a.yml:6:"), "{message}");
    assert!(message.contains("summ"), "{message}");

    let unknown_model = "models:\n  - name: a\n    table: l.s.t\n    dimensions:\n      - name: d\n        sql: b.x\n";
    let message = check(&[("b.yaml", unknown_model)]);
    assert!(message.contains("b.yaml:6:"), "{message}");
    assert!(message.contains("dimensions[].sql"), "{message}");

    let bad_sql = "models:\n  - name: a\n    table: l.s.t\n    segments:\n      - name: s\n        sql: x = = 1\n";
    let message = check(&[("c.yml", bad_sql)]);
    assert!(
        message.contains("c.yml:6:") && message.contains("segments[].sql"),
        "{message}"
    );

    let derived = "models:\n  - name: a\n    table: l.s.t\n    measures:\n      - name: r\n        type: derived\n        sql: nope / 2\n";
    let message = check(&[("d.yml", derived)]);
    assert!(
        message.contains("d.yml:7:") && message.contains("nope"),
        "{message}"
    );

    let twice = "models:\n  - name: a\n    table: l.s.t\n";
    let message = check(&[("e.yml", twice), ("f.yml", twice)]);
    assert!(
        message.contains("f.yml:2:") && message.contains("defined twice"),
        "{message}"
    );

    let cycle = "models:\n  - name: a\n    table: l.s.a\n    joins:\n      - model: b\n        relationship: many_to_one\n        on: a.x = b.x\n  - name: b\n    table: l.s.b\n    joins:\n      - model: c\n        relationship: many_to_one\n        on: b.x = c.x\n  - name: c\n    table: l.s.c\n    joins:\n      - model: a\n        relationship: many_to_one\n        on: c.x = a.x\n";
    let message = check(&[("g.yml", cycle)]);
    assert!(message.contains("cycle"), "{message}");
}

#[test]
fn a_period_equality_is_also_a_range_the_scan_can_prune_by() {
    let models = demo();
    let query = |filter: &str| {
        expand(
            &models,
            &format!("SELECT MEASURE(order_count) FROM semantic.orders WHERE {filter}"),
        )
        .expect("expands")
    };
    let year = query("order_date_year = DATE '1995-01-01'");
    assert!(
        year.contains("orders.o_orderdate >= CAST(DATE '1995-01-01' AS DATE)")
            && year.contains(
                "orders.o_orderdate < CAST(DATE '1995-01-01' AS DATE) + INTERVAL '1 year'"
            ),
        "{year}"
    );
    assert!(
        !year.contains("date_trunc"),
        "1995-01-01 starts a year: the range alone: {year}"
    );
    // Not the first day of a year: the equality stays (and matches nothing).
    assert!(query("order_date_year = DATE '1995-01-02'").contains("date_trunc('year'"));
    // 1995-01-02 is a Monday, 1995-01-03 is not.
    assert!(!query("order_date_week = DATE '1995-01-02'").contains("date_trunc"));
    assert!(query("order_date_week = DATE '1995-01-03'").contains("date_trunc('week'"));
    assert!(!query("order_date_quarter = DATE '1995-04-01'").contains("date_trunc"));
    assert!(query("order_date_quarter = DATE '1995-05-01'").contains("date_trunc('quarter'"));
    // A parameter keeps the equality.
    assert!(query("order_date_month = $1").contains("date_trunc('month'"));
}
