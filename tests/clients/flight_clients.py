"""Arrow Flight SQL checks with ADBC (adbc-driver-flightsql over adbc-driver-manager).

Run by the Rust integration test `clients::flight_clients` against a gateway on port 0:

    python flight_clients.py HOST PORT EXPECTED_DIR

EXPECTED_DIR holds the expected rows of the checked queries, read by the Rust test over
Postgres wire: one file per query, one tab-separated line per row. Each check compares
Arrow results with them; the script prints one line per check and exits non-zero if any
check failed.
"""

import decimal
import pathlib
import sys
import traceback

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pandas as pd
import pyarrow as pa

HOST, PORT, EXPECTED = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
URI = f"grpc://{HOST}:{PORT}"
Q1 = (pathlib.Path(__file__).parent.parent / "tpch" / "q1.sql").read_text()

CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def connect(user="demo", password=None):
    # The gateway has no transactions (SqlInfo says so); autocommit says we know.
    return flight_sql.connect(
        URI,
        autocommit=True,
        db_kwargs={
            adbc_driver_manager.DatabaseOptions.USERNAME.value: user,
            adbc_driver_manager.DatabaseOptions.PASSWORD.value: password or user,
        },
    )


def expected(name):
    text = (EXPECTED / f"{name}.tsv").read_text()
    return [line.split("\t") for line in text.splitlines()]


def same_value(arrow_value, text):
    """An Arrow value equals the Postgres text of the same value."""
    if arrow_value is None:
        return text == "\\N"
    if isinstance(arrow_value, (int, float, decimal.Decimal)):
        return decimal.Decimal(str(arrow_value)) == decimal.Decimal(text)
    return str(arrow_value) == text


def expect_equal(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f"{what}: expected {wanted!r}, got {actual!r}")


@check
def tpch_q1_matches_postgres_wire():
    with connect() as conn, conn.cursor() as cur:
        cur.execute(Q1)
        table = cur.fetch_arrow_table()
    rows = expected("q1")
    expect_equal(table.num_rows, len(rows), "Q1 row count")
    expect_equal(table.column_names[0], "l_returnflag", "Q1 first column")
    if not pa.types.is_decimal(table.schema.field("sum_qty").type):
        raise AssertionError(f"sum_qty is {table.schema.field('sum_qty').type}, not decimal")
    for i, row in enumerate(table.to_pylist()):
        for (name, value), text in zip(row.items(), rows[i]):
            if not same_value(value, text):
                raise AssertionError(f"Q1 row {i} {name}: Arrow {value!r}, Postgres {text!r}")


@check
def semantic_query_matches_its_hand_written_sql():
    """A semantic table over ADBC: the same rows as the SQL over the base tables that
    the Rust test ran over Postgres wire."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT customers_nation, MEASURE(revenue), MEASURE(order_count) "
            "FROM semantic.orders GROUP BY 1 ORDER BY 1"
        )
        got = cur.fetchall()
        tables = conn.adbc_get_objects(db_schema_filter="semantic").read_all().to_pylist()
    want = expected("semantic_by_nation")
    expect_equal(len(got), len(want), "nations")
    for row, text in zip(got, want):
        for value, wanted in zip(row, text):
            if not same_value(value, wanted):
                raise AssertionError(f"semantic row {row!r}: expected {text!r}")
    listed = sorted(
        t["table_name"]
        for catalog in tables
        for schema in catalog["catalog_db_schemas"] or []
        if schema["db_schema_name"] == "semantic"
        for t in schema["db_schema_tables"] or []
    )
    expect_equal(listed, ["customers", "nations", "orders", "regions"], "semantic tables")


@check
def large_results_stream_as_batches():
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM lake.tpch.lineitem")
        reader = cur.fetch_record_batch()
        batches = rows = 0
        for batch in reader:
            batches += 1
            rows += batch.num_rows
    expect_equal(str(rows), expected("lineitem_count")[0][0], "lineitem rows")
    if batches < 2:
        raise AssertionError(f"expected several batches, got {batches}")


@check
def get_objects_lists_the_principals_tables_and_columns():
    with connect() as conn:
        objects = conn.adbc_get_objects(
            depth="all", catalog_filter="lake", db_schema_filter="tpch"
        ).read_all().to_pylist()
    expect_equal([c["catalog_name"] for c in objects], ["lake"], "catalogs")
    schemas = objects[0]["catalog_db_schemas"]
    expect_equal([s["db_schema_name"] for s in schemas], ["tpch"], "schemas")
    tables = {t["table_name"]: t for t in schemas[0]["db_schema_tables"]}
    for name in ["customer", "lineitem", "nation", "orders", "region"]:
        if name not in tables:
            raise AssertionError(f"{name} missing from {sorted(tables)}")
    columns = [c["column_name"] for c in tables["nation"]["table_columns"]]
    expect_equal(columns, ["n_nationkey", "n_name", "n_regionkey", "n_comment"], "nation columns")


@check
def get_table_schema():
    with connect() as conn:
        schema = conn.adbc_get_table_schema("lineitem", catalog_filter="lake", db_schema_filter="tpch")
    expect_equal(len(schema), 16, "lineitem columns")
    expect_equal(schema.field("l_orderkey").type, pa.int64(), "l_orderkey type")


@check
def denied_columns_are_hidden_from_the_analyst():
    with connect("analyst") as conn:
        schema = conn.adbc_get_table_schema("customer", catalog_filter="lake", db_schema_filter="tpch")
        if "c_acctbal" in schema.names:
            raise AssertionError("c_acctbal is denied to the analyst but listed")
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT c_acctbal FROM lake.tpch.customer")
                cur.fetchall()
            except adbc_driver_manager.Error as error:
                if "permission denied" not in str(error):
                    raise
            else:
                raise AssertionError("c_acctbal was readable")


@check
def prepared_statement_with_a_bound_parameter():
    with connect() as conn, conn.cursor() as cur:
        sql = "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = ?"
        for key, name in [(7, "GERMANY"), (5, "ETHIOPIA")]:
            cur.execute(sql, parameters=(key,))
            expect_equal(cur.fetchall(), [(name,)], f"nation {key}")
        cur.execute(
            "SELECT count(*) FROM lake.tpch.orders WHERE o_orderdate >= ? AND o_totalprice > ?",
            parameters=("1998-01-01", 100000.5),
        )
        expect_equal(
            str(cur.fetchone()[0]), expected("orders_1998")[0][0], "orders since 1998"
        )


@check
def pandas_through_adbc():
    with connect() as conn:
        frame = pd.read_sql(
            "SELECT r_regionkey, r_name FROM lake.tpch.region ORDER BY r_regionkey", conn
        )
        expect_equal(list(frame["r_name"]), ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"], "regions")
        with conn.cursor() as cur:
            cur.execute("SELECT n_nationkey, n_name FROM lake.tpch.nation WHERE n_regionkey = 3")
            df = cur.fetch_df()
        expect_equal(sorted(df["n_name"]), ["FRANCE", "GERMANY", "ROMANIA", "RUSSIA", "UNITED KINGDOM"], "nations")


@check
def bad_password_is_refused():
    try:
        with connect("demo", "wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    except adbc_driver_manager.Error as error:
        if "UNAUTHENTICATED" not in str(error) and "password authentication failed" not in str(error):
            raise
    else:
        raise AssertionError("a wrong password was accepted")


@check
def syntax_errors_are_reported():
    with connect() as conn, conn.cursor() as cur:
        try:
            cur.execute("SELEC 1")
        except adbc_driver_manager.ProgrammingError as error:
            if "syntax error" not in str(error):
                raise
        else:
            raise AssertionError("SELEC 1 ran")
        cur.execute("SELECT 42")
        expect_equal(cur.fetchone(), (42,), "after an error")


# Statements ADBC refused for a principal with masks ("endpoint 0 returned
# inconsistent schema"): the schema GetFlightInfo, GetSchema and a prepared statement
# announce must be the one DoGet streams. Their rows are compared with the analyst's
# rows over Postgres wire (analyst_N.tsv).
ANALYST_STATEMENTS = [
    "SELECT * FROM lake.tpch.customer ORDER BY c_custkey",
    "SELECT s_suppkey, s_phone FROM lake.tpch.supplier ORDER BY 1 LIMIT 3",
    "SELECT (SELECT count(*) FROM lake.tpch.customer) AS a, (SELECT count(*) FROM lake.tpch.supplier) AS b",
    "SELECT c_custkey, c_phone, lag(c_phone) OVER (ORDER BY c_custkey) AS prev FROM lake.tpch.customer ORDER BY c_custkey",
    "SELECT DISTINCT ON (c_nationkey) c_nationkey, c_custkey, c_phone FROM lake.tpch.customer ORDER BY c_nationkey, c_custkey",
    "SELECT has_table_privilege('lake.tpch.customer', 'SELECT') AS a",
    "SELECT status, MEASURE(revenue), MEASURE(active_customers) FROM lake.semantic.orders GROUP BY 1 ORDER BY 1",
]


def compare_rows(table, rows, what):
    expect_equal(table.num_rows, len(rows), f"{what}: row count")
    # By position: output names may repeat (two MEASURE(...) columns are "measure").
    columns = [column.to_pylist() for column in table.columns]
    for i in range(table.num_rows):
        for name, column, text in zip(table.column_names, columns, rows[i]):
            value = column[i]
            if isinstance(value, bool):
                value = "t" if value else "f"
            if not same_value(value, text):
                raise AssertionError(f"{what} row {i} {name}: Arrow {value!r}, Postgres {text!r}")


@check
def masked_results_keep_one_schema_for_the_analyst():
    with connect("analyst") as conn:
        for i, sql in enumerate(ANALYST_STATEMENTS):
            rows = expected(f"analyst_{i}")
            with conn.cursor() as cur:
                cur.execute(sql)
                compare_rows(cur.fetch_arrow_table(), rows, sql)
            # The same statement prepared (CreatePreparedStatement's dataset schema).
            with conn.cursor() as cur:
                cur.adbc_prepare(sql)
                cur.execute(sql)
                compare_rows(cur.fetch_arrow_table(), rows, f"prepared {sql}")
        frame = pd.read_sql(ANALYST_STATEMENTS[1], conn)
        expect_equal(len(frame), 3, "pandas.read_sql over masked phones")


def main():
    failed = 0
    print(f"adbc-driver-flightsql {adbc_driver_flightsql.__version__}, pyarrow {pa.__version__}")
    for function in CHECKS:
        try:
            function()
            print(f"ok   {function.__name__}")
        except Exception:  # noqa: BLE001 - report every failing check
            failed += 1
            print(f"FAIL {function.__name__}")
            traceback.print_exc(file=sys.stdout)
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
