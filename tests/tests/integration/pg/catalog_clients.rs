//! What BI tools and psql send while browsing, replayed against the gateway: psql's
//! `\dt`, `\dn`, `\l`, `\du`, `\d` and `\df` (the real psql), and the catalog syntax and functions
//! their queries use (`OPERATOR(pg_catalog.~)`, `::regclass`, `format_type`,
//! privileges), each answered from the principal's own view.

use lakegate_tests::{TestGateway, query_text};

/// Runs a psql meta-command as `user` (whose password is its name) and returns its
/// unaligned rows.
async fn psql(gw: &TestGateway, user: &str, command: &str) -> Vec<String> {
    let output = gw.psql(user, user, command).await;
    assert!(
        output.status.success(),
        "psql {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn psql_lists_tables_schemas_databases_and_roles() {
    let gw = TestGateway::start().await;
    let tables = psql(&gw, "demo", "\\dt").await;
    let names: Vec<&str> = tables
        .iter()
        .map(|l| l.split('|').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"
        ]
    );
    assert!(tables[0].starts_with("tpch|customer|table|"), "{tables:?}");
    // Other tests may add schemas to the shared lakehouse; tpch is always there.
    let schemas = psql(&gw, "demo", "\\dn").await;
    assert!(
        schemas.contains(&"tpch|lakegate".to_string()),
        "{schemas:?}"
    );
    assert!(
        schemas.iter().all(|s| s.ends_with("|lakegate")),
        "{schemas:?}"
    );
    // Catalogs the user reads something in: the lake, and the system catalog for the
    // user's own query history.
    let databases = psql(&gw, "demo", "\\l").await;
    assert_eq!(databases.len(), 2, "{databases:?}");
    assert!(
        databases[0].starts_with("lake|lakegate|UTF8|"),
        "{databases:?}"
    );
    assert!(databases[1].starts_with("system|"), "{databases:?}");
    let roles = psql(&gw, "demo", "\\du").await;
    assert!(roles.iter().any(|r| r.starts_with("demo|")), "{roles:?}");
    // The auditor reads no lake table: nothing to list there.
    assert!(psql(&gw, "auditor", "\\dt").await.is_empty());
}

#[tokio::test]
async fn psql_describes_tables_and_functions() {
    let gw = TestGateway::start().await;
    // `\d` runs eight catalog queries (columns, policies, statistics, publications,
    // inheritance); the publication one lists columns through a lateral
    // generate_series over pg_publication_rel, which is empty here.
    let orders = psql(&gw, "demo", "\\d lake.tpch.orders").await;
    assert_eq!(
        orders,
        [
            "o_orderkey|bigint||not null|",
            "o_custkey|bigint||not null|",
            "o_orderstatus|text||not null|",
            "o_totalprice|numeric(15,2)||not null|",
            "o_orderdate|date||not null|",
            "o_orderpriority|text||not null|",
            "o_clerk|text||not null|",
            "o_shippriority|integer||not null|",
            "o_comment|text||not null|",
        ]
    );
    // The analyst's denied column is not described.
    let customer = psql(&gw, "analyst", "\\d lake.tpch.customer").await;
    let columns: Vec<&str> = customer
        .iter()
        .map(|l| l.split('|').next().unwrap_or_default())
        .collect();
    assert_eq!(
        columns,
        [
            "c_custkey",
            "c_name",
            "c_address",
            "c_nationkey",
            "c_phone",
            "c_mktsegment",
            "c_comment"
        ]
    );
    // `\df`: the type I/O functions pg_proc holds, with their signatures.
    let functions = psql(&gw, "demo", "\\df pg_catalog.int8*").await;
    assert_eq!(
        functions,
        [
            "pg_catalog|int8in|bigint|cstring|func",
            "pg_catalog|int8out|cstring|bigint|func",
            "pg_catalog|int8recv|bigint|internal|func",
            "pg_catalog|int8send|bytea|bigint|func",
        ]
    );
    assert!(psql(&gw, "demo", "\\df").await.is_empty());
}

#[tokio::test]
async fn catalog_syntax_and_functions_clients_use() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let one = |sql: &'static str| {
        let client = &client;
        async move {
            query_text(client, sql).await[0][0]
                .clone()
                .unwrap_or_else(|| "NULL".into())
        }
    };
    // psql's `\d name` lookup: OPERATOR(pg_catalog.~) and COLLATE.
    assert_eq!(
        one("SELECT c.relname FROM pg_catalog.pg_class c \
             WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default \
             AND pg_catalog.pg_table_is_visible(c.oid)")
        .await,
        "orders"
    );
    // ::regclass both ways, ::oid, ::regtype.
    assert_eq!(
        // (semantic.orders shares the name; the one on the search path is meant.)
        one(
            "SELECT ('orders'::regclass)::oid = oid FROM pg_class WHERE relname = 'orders' \
             AND pg_catalog.pg_table_is_visible(oid)"
        )
        .await,
        "t"
    );
    assert_eq!(
        one("SELECT oid::pg_catalog.regclass::pg_catalog.text FROM pg_class WHERE relname = 'nation'")
            .await,
        "nation"
    );
    assert_eq!(one("SELECT 'integer'::regtype::oid").await, "23");
    assert_eq!(one("SELECT 1700::oid::regtype").await, "numeric");
    // format_type with modifiers, as pg_attribute reports them.
    assert_eq!(
        one(
            "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = 'orders'::regclass AND a.attname = 'o_totalprice'"
        )
        .await,
        "numeric(15,2)"
    );
    let columns = query_text(
        &client,
        "SELECT attname, attnum, format_type(atttypid, atttypmod) FROM pg_attribute \
         WHERE attrelid = 'lake.tpch.nation'::regclass ORDER BY attnum",
    )
    .await;
    let columns: Vec<Vec<String>> = columns
        .into_iter()
        .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
        .collect();
    assert_eq!(
        columns,
        [
            ["n_nationkey", "1", "bigint"],
            ["n_name", "2", "text"],
            ["n_regionkey", "3", "bigint"],
            ["n_comment", "4", "text"],
        ]
    );
    // Owners, encodings, search path, privileges from the policy.
    assert_eq!(
        one("SELECT pg_catalog.pg_get_userbyid(10)").await,
        "lakegate"
    );
    assert_eq!(one("SELECT pg_encoding_to_char(6)").await, "UTF8");
    assert_eq!(
        one("SELECT array_to_string(current_schemas(true), ',')").await,
        "pg_catalog,tpch"
    );
    assert_eq!(
        one("SELECT has_table_privilege('lake.tpch.customer', 'SELECT')").await,
        "t"
    );
    assert_eq!(
        one("SELECT has_table_privilege('lake.tpch.customer', 'INSERT')").await,
        "f"
    );
    assert_eq!(
        one("SELECT has_schema_privilege('tpch', 'USAGE')").await,
        "t"
    );
    // Catalogs that are empty here answer with no rows, not errors.
    for table in ["pg_constraint", "pg_index", "pg_attrdef", "pg_range"] {
        let rows = query_text(&client, &format!("SELECT count(*) FROM pg_catalog.{table}")).await;
        assert_eq!(rows[0][0].as_deref(), Some("0"), "{table}");
    }
    // Lookups in catalogs that are empty here are settled before planning: a scalar
    // subquery is NULL, EXISTS false, IN false, and a SELECT joining one has no rows
    // even where its columns hold a lateral set-returning function.
    assert_eq!(
        one("SELECT (SELECT i.indexrelid FROM pg_catalog.pg_index i \
             WHERE i.indrelid = c.oid AND i.indisprimary AND c.relnatts > i.indnatts) IS NULL \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid) \
             AND c.oid NOT IN (SELECT d.adrelid FROM pg_catalog.pg_attrdef d) \
             FROM pg_catalog.pg_class c WHERE c.relname = 'orders'")
        .await,
        "t"
    );
    let rows = query_text(
        &client,
        "SELECT k.conname, generate_subscripts(i.indkey, 1) AS ord, unnest(i.indkey) AS attnum \
         FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_index i ON i.indexrelid = k.conindid",
    )
    .await;
    assert!(rows.is_empty());
    // Arrays: `<> ALL`, typed array literals with quotes and NULLs, `= ANY`.
    assert_eq!(
        one(
            "SELECT 'x' <> ALL ('{a,\"x y\"}'::text[]) AND NOT ('a' <> ALL ('{a,b}'::text[])) \
             AND 2 = ANY ('{1,2,NULL}'::int4[]) AND cardinality('{}'::text[]) = 0"
        )
        .await,
        "t"
    );
    // Regular-expression operators and upper-case identifiers folding to lower case.
    assert_eq!(
        one(
            "SELECT 'abc' ~ 'b' AND NOT 'abc' !~ 'b' AND 'ABC' ~* 'b' AND 'ABC' !~* 'x' \
             FROM LAKE.TPCH.NATION WHERE N_NATIONKEY = 0"
        )
        .await,
        "t"
    );
    // pgjdbc's getSQLKeywords.
    assert_eq!(
        one(
            "SELECT count(*) > 100 AND bool_and(word <> 'select') FROM pg_catalog.pg_get_keywords() \
             WHERE word <> ALL ('{select,from}'::text[])"
        )
        .await,
        "t"
    );
    assert_eq!(
        one("SELECT catdesc FROM pg_get_keywords() WHERE word = 'select'").await,
        "reserved"
    );
    // Every type the gateway sends has its receive function in pg_proc.
    assert_eq!(
        one(
            "SELECT count(*) FROM pg_type t LEFT JOIN pg_proc p ON p.oid = t.typreceive \
             WHERE p.oid IS NULL"
        )
        .await,
        "0"
    );

    // pg_settings follows SET; pg_stat_user_tables lists the readable tables.
    client
        .batch_execute("SET search_path = 'lake.tpch'")
        .await
        .expect("set");
    assert_eq!(
        one("SELECT setting FROM pg_settings WHERE name = 'search_path'").await,
        "lake.tpch"
    );
    assert_eq!(
        one("SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'tpch'").await,
        "8"
    );

    // The admin holds `insert` on the lakehouse: INSERT is answered from the policy.
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let rows = query_text(
        &admin,
        "SELECT has_table_privilege('lake.tpch.customer', 'INSERT'), \
         has_table_privilege('lake.tpch.customer', 'UPDATE'), \
         has_table_privilege('lake.tpch.nope', 'INSERT')",
    )
    .await;
    assert_eq!(
        rows[0],
        [
            Some("t".to_string()),
            Some("f".to_string()),
            Some("f".to_string())
        ]
    );

    // The auditor sees no lake tables and has no privilege on them.
    let auditor = gw.connect_as("auditor", "auditor").await.expect("auditor");
    let rows = query_text(
        &auditor,
        "SELECT has_table_privilege('lake.tpch.customer', 'SELECT'), \
         (SELECT count(*) FROM pg_attribute)",
    )
    .await;
    assert_eq!(rows[0], [Some("f".to_string()), Some("0".to_string())]);
}

#[tokio::test]
async fn information_schema_speaks_postgresql() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let rows = query_text(
        &client,
        "SELECT column_name, ordinal_position, data_type, udt_name, numeric_precision, \
         numeric_scale, is_nullable FROM information_schema.columns \
         WHERE table_schema = 'tpch' AND table_name = 'orders' ORDER BY ordinal_position",
    )
    .await;
    let text = |row: &Vec<Option<String>>| {
        row.iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("|")
    };
    assert_eq!(rows.len(), 9);
    assert_eq!(text(&rows[0]), "o_orderkey|1|bigint|int8|64|0|NO");
    assert_eq!(text(&rows[3]), "o_totalprice|4|numeric|numeric|15|2|NO");
    assert_eq!(text(&rows[4]), "o_orderdate|5|date|date|||NO");
    assert_eq!(text(&rows[7]), "o_shippriority|8|integer|int4|32|0|NO");

    let tables = query_text(
        &client,
        "SELECT table_name, table_type FROM lake.information_schema.tables \
         WHERE table_schema = 'tpch' ORDER BY 1",
    )
    .await;
    assert_eq!(tables.len(), 8);
    assert_eq!(text(&tables[0]), "customer|BASE TABLE");
    let schemata = query_text(
        &client,
        "SELECT schema_name FROM information_schema.schemata",
    )
    .await;
    assert!(
        schemata.contains(&vec![Some("tpch".to_string())]),
        "{schemata:?}"
    );
    for view in [
        "table_constraints",
        "key_column_usage",
        "referential_constraints",
        "views",
        "routines",
    ] {
        let rows = query_text(
            &client,
            &format!("SELECT count(*) FROM information_schema.{view}"),
        )
        .await;
        assert_eq!(rows[0][0].as_deref(), Some("0"), "{view}");
    }

    // The analyst's view leaves out the denied column; SHOW TABLES still works.
    let analyst = gw.connect_as("analyst", "analyst").await.expect("analyst");
    let columns = query_text(
        &analyst,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer'",
    )
    .await;
    assert_eq!(columns.len(), 7);
    assert!(!columns.contains(&vec![Some("c_acctbal".to_string())]));
    let shown = query_text(&client, "SHOW TABLES").await;
    assert!(shown.len() >= 8, "{shown:?}");
}

/// Every type OID the gateway sends (RowDescription), with its element for arrays.
const SENT: &[(u32, Option<u32>)] = &[
    (16, None),
    (17, None),
    (20, None),
    (21, None),
    (23, None),
    (25, None),
    (26, None),
    (114, None),
    (700, None),
    (701, None),
    (1082, None),
    (1083, None),
    (1114, None),
    (1184, None),
    (1186, None),
    (1700, None),
    (1000, Some(16)),
    (1001, Some(17)),
    (1005, Some(21)),
    (1007, Some(23)),
    (1009, Some(25)),
    (1016, Some(20)),
    (1021, Some(700)),
    (1022, Some(701)),
    (1115, Some(1114)),
    (1182, Some(1082)),
    (1183, Some(1083)),
    (1185, Some(1184)),
    (1187, Some(1186)),
    (1231, Some(1700)),
    (199, Some(114)),
];

#[tokio::test]
async fn npgsql_type_queries_load_every_type_the_gateway_sends() {
    let gw = TestGateway::start().await;
    let client = gw.connect().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/npgsql");
    // Current Npgsql: (nspname, oid, typname, typtype, typnotnull, elemtypoid).
    let sql = std::fs::read_to_string(dir.join("load_types_current.sql")).expect("query");
    let rows = query_text(&client, &sql).await;
    for (oid, element) in SENT {
        let row = rows
            .iter()
            .find(|r| r[1].as_deref() == Some(oid.to_string().as_str()))
            .unwrap_or_else(|| panic!("type {oid} missing from Npgsql's type query"));
        match element {
            Some(e) => {
                assert_eq!(row[3].as_deref(), Some("a"), "{oid} is an array");
                assert_eq!(row[5].as_deref(), Some(e.to_string().as_str()), "{oid}");
            }
            None => assert_eq!(row[3].as_deref(), Some("b"), "{oid} is a base type"),
        }
    }
    // Npgsql 4 (Power BI): (nspname, typname, oid, typrelid, typbasetype, type, elemoid, ord).
    let sql = std::fs::read_to_string(dir.join("load_types_2019.sql")).expect("query");
    let rows = query_text(&client, &sql).await;
    for (oid, element) in SENT {
        let row = rows
            .iter()
            .find(|r| r[2].as_deref() == Some(oid.to_string().as_str()))
            .unwrap_or_else(|| panic!("type {oid} missing from the Npgsql 4 query"));
        let expected_type = if element.is_some() { "a" } else { "b" };
        assert_eq!(row[5].as_deref(), Some(expected_type), "{oid}");
        assert_eq!(
            row[6].as_deref(),
            Some(element.unwrap_or(0).to_string().as_str()),
            "{oid}"
        );
    }
    // Arrays come after their elements.
    let ords: Vec<&str> = rows.iter().filter_map(|r| r[7].as_deref()).collect();
    let mut sorted = ords.clone();
    sorted.sort();
    assert_eq!(ords, sorted);
}
