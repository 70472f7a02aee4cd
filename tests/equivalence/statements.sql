-- Cross-protocol equivalence (tests/tests/integration/equivalence.rs): each statement
-- runs as admin and as analyst through Postgres wire, arrow-flight's Rust client and
-- ADBC, and must give the same rows on every path, or the same error. One statement
-- per line; the 22 TPC-H queries of tests/tpch/ are added by the test. Statements with
-- LIMIT order totally, so that every path reads the same rows.

-- Scans, projections, masks and denied columns (the security tests' shapes).
SELECT * FROM lake.tpch.customer ORDER BY c_custkey
SELECT * FROM lake.tpch.supplier ORDER BY s_suppkey
SELECT s_suppkey, s_phone FROM lake.tpch.supplier ORDER BY 1 LIMIT 3
SELECT c_custkey, c_phone FROM lake.tpch.customer WHERE c_nationkey = 7 ORDER BY 1 LIMIT 5
SELECT c_acctbal FROM lake.tpch.customer ORDER BY 1 LIMIT 3
SELECT count(*) FROM lake.tpch.customer WHERE c_acctbal > 0
SELECT c_custkey FROM lake.tpch.customer ORDER BY c_acctbal, c_custkey LIMIT 3
SELECT (SELECT max(c_acctbal) FROM lake.tpch.customer)
SELECT count(*) FROM lake.tpch.customer
SELECT count(*) FROM lake.tpch.customer AS c
SELECT count(1) FROM lake.tpch.customer
SELECT count(c_custkey) FROM lake.tpch.customer
SELECT sum(1) FROM lake.tpch.customer
SELECT (SELECT count(*) FROM lake.tpch.customer) AS a, (SELECT count(*) FROM lake.tpch.supplier) AS b
SELECT count(*) FROM (SELECT * FROM lake.tpch.customer) t
SELECT count(*) FROM lake.tpch.customer WHERE c_custkey IN (SELECT c_custkey FROM lake.tpch.customer)
SELECT count(*) FROM lake.tpch.orders o WHERE EXISTS (SELECT 1 FROM lake.tpch.customer c WHERE c.c_custkey = o.o_custkey)
WITH c AS (SELECT * FROM lake.tpch.customer) SELECT count(*), min(c_phone), max(c_phone) FROM c
WITH RECURSIVE r AS (SELECT c_custkey FROM lake.tpch.customer UNION ALL SELECT c_custkey FROM r WHERE false) SELECT count(*) FROM r
SELECT count(*) FROM (SELECT c_custkey FROM lake.tpch.customer UNION ALL SELECT c_custkey FROM lake.tpch.customer) u
SELECT count(*) FROM (SELECT c_custkey FROM lake.tpch.customer UNION SELECT c_custkey FROM lake.tpch.customer) u
SELECT count(*) FROM (SELECT c_custkey FROM lake.tpch.customer INTERSECT SELECT c_custkey FROM lake.tpch.customer) u
SELECT count(*) FROM (SELECT c_custkey FROM lake.tpch.customer EXCEPT SELECT c_custkey FROM lake.tpch.customer WHERE c_custkey < 100) u
SELECT count(*) FROM lake.tpch.customer a JOIN lake.tpch.customer b ON a.c_custkey = b.c_custkey
SELECT count(*) FROM lake.tpch.customer c LEFT JOIN lake.tpch.nation n ON c.c_nationkey = n.n_nationkey
SELECT count(*) FROM lake.tpch.nation n RIGHT JOIN lake.tpch.customer c ON c.c_nationkey = n.n_nationkey WHERE n.n_name IS NULL
SELECT DISTINCT c_nationkey FROM lake.tpch.customer UNION SELECT n_nationkey FROM lake.tpch.nation ORDER BY 1
SELECT r_name FROM lake.tpch.region ORDER BY 1
SELECT count(*) FROM lake.tpch.customer WHERE c_phone LIKE '1%'
SELECT count(*) FROM lake.tpch.customer WHERE substr(c_phone, 1, 3) = '17-'
SELECT max(c_phone) OVER (), min(c_phone) OVER (PARTITION BY c_nationkey) FROM lake.tpch.customer ORDER BY 1, 2 LIMIT 3
SELECT c_custkey, c_phone, lag(c_phone) OVER (ORDER BY c_custkey) AS prev FROM lake.tpch.customer ORDER BY c_custkey
SELECT DISTINCT ON (c_nationkey) c_nationkey, c_custkey, c_phone FROM lake.tpch.customer ORDER BY c_nationkey, c_custkey
SELECT CAST(c_phone AS INT) FROM lake.tpch.customer
SELECT c_nationkey, count(*), min(c_name), max(c_mktsegment) FROM lake.tpch.customer GROUP BY 1 ORDER BY 1
SELECT n_name, count(*) FROM lake.tpch.customer JOIN lake.tpch.nation ON c_nationkey = n_nationkey GROUP BY 1 ORDER BY 1
SELECT o_orderpriority, count(*), sum(o_totalprice) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1
SELECT l_returnflag, avg(l_quantity), stddev(l_extendedprice) > 0 FROM lake.tpch.lineitem GROUP BY 1 ORDER BY 1
SELECT * FROM lake.tpch.nation ORDER BY n_nationkey
SELECT * FROM lake.tpch.region ORDER BY 1
SELECT * FROM lake.tpch.part ORDER BY p_partkey LIMIT 20
SELECT * FROM lake.tpch.partsupp ORDER BY ps_partkey, ps_suppkey LIMIT 20
SELECT * FROM lake.tpch.orders ORDER BY o_orderkey LIMIT 20
SELECT * FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 20
SELECT nope FROM lake.tpch.nation
SELECT * FROM lake.tpch.nope
SELEC 1
SELECT 1 / 0
-- Dates filtered with timestamps, as BI tools send them.
SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= timestamp '1995-01-01 00:00:00'
SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= '1995-01-01 00:00:00'::timestamp
SELECT count(*) FROM lake.tpch.orders WHERE cast(o_orderdate AS timestamp) >= timestamp '1995-01-01 00:00:00'
SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= timestamptz '1995-01-01 00:00:00+00'
SELECT o_orderstatus, count(DISTINCT o_custkey) FROM lake.tpch.orders WHERE o_orderdate >= timestamp '1995-01-01 00:00:00' AND o_orderdate < timestamp '1996-01-01 00:00:00' GROUP BY 1 ORDER BY 1
-- Expressions and PostgreSQL functions.
SELECT 1 AS x, 2.5 AS y, 'a' AS z, NULL AS n, true AS b
SELECT generate_series(1, 3)
SELECT to_char(o_orderdate, 'YYYY-MM') AS month, count(*) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1
SELECT count(*), (SELECT count(*) FROM lake.tpch.region) FROM lake.tpch.nation
SELECT l_quantity / 7, l_quantity::int / 7 FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 5
SELECT l_shipdate::timestamp, l_shipdate::text, l_quantity::text FROM lake.tpch.lineitem ORDER BY l_orderkey, l_linenumber LIMIT 5
SELECT date_trunc('month', o_orderdate) AS m, count(*) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1 LIMIT 5
SELECT extract(year FROM o_orderdate) AS y, count(*) FROM lake.tpch.orders GROUP BY 1 ORDER BY 1
SELECT upper(n_name), lower(n_name), length(n_comment) FROM lake.tpch.nation ORDER BY 1
SELECT coalesce(NULL, n_name), nullif(n_regionkey, 0) FROM lake.tpch.nation ORDER BY 1
SELECT CASE WHEN n_regionkey = 3 THEN 'europe' ELSE 'other' END AS k, count(*) FROM lake.tpch.nation GROUP BY 1 ORDER BY 1
-- Catalog functions and metadata.
SELECT has_table_privilege('lake.tpch.customer', 'SELECT') AS a
SELECT has_table_privilege('lake.tpch.customer', 'INSERT') AS a
SELECT current_user, current_schema(), current_database()
SELECT pg_typeof(1), pg_typeof(now())
SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' AND table_schema = 'tpch' ORDER BY 1
SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'tpch' AND table_name = 'customer' ORDER BY ordinal_position
SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r' AND relname LIKE 'n%' ORDER BY 1
SHOW search_path
-- Time travel and metadata tables.
SELECT count(*) FROM lake.tpch.nation FOR TIMESTAMP AS OF TIMESTAMP '2999-01-01 00:00:00'
SELECT count(*) FROM lake.tpch.nation FOR TIMESTAMP AS OF TIMESTAMP '2000-01-01 00:00:00'
SELECT count(*) FROM lake.tpch.customer FOR TIMESTAMP AS OF TIMESTAMP '2999-01-01 00:00:00'
SELECT operation FROM lake.tpch."nation$snapshots"
SELECT record_count FROM lake.tpch."nation$files" ORDER BY 1
-- Semantic layer.
SELECT status, MEASURE(revenue), MEASURE(active_customers) FROM lake.semantic.orders GROUP BY 1 ORDER BY 1
SELECT customers_nation, MEASURE(revenue), MEASURE(order_count), average_order_value FROM lake.semantic.orders GROUP BY 1 ORDER BY 1
SELECT status, SUM(revenue), largest_order FROM lake.semantic.orders GROUP BY status ORDER BY 1
SELECT nation, market_segment FROM lake.semantic.customers WHERE nation LIKE 'A%' ORDER BY 1, 2
SELECT MEASURE(customer_count), MEASURE(orders_order_count) FROM lake.semantic.customers
SELECT count(*) FROM lake.semantic.orders
