"""Client-compatibility checks with the Python clients people use against the gateway.

Run by the Rust integration test `clients::python_clients` against a gateway on port 0:

    python python_clients.py HOST PORT

Each check compares rows with expected values; a failure raises. The script prints one
line per check and exits non-zero if any failed.
"""

import datetime
import decimal
import sys
import threading
import time
import traceback

import pandas as pd
import psycopg
import psycopg2
import psycopg2.errors
import pyodbc
import sqlalchemy

HOST, PORT = sys.argv[1], int(sys.argv[2])
DSN = f"host={HOST} port={PORT} user=demo password=demo dbname=lake"
ODBC = (
    "DRIVER={PostgreSQL Unicode};"
    f"SERVER={HOST};PORT={PORT};UID=demo;PWD=demo;DATABASE=lake"
)
# A query that runs for minutes unless cancelled.
SLOW = (
    "SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b "
    "WHERE a.l_comment < b.l_comment"
)
NATIONS_0_TO_2 = [(0, "ALGERIA", 0), (1, "ARGENTINA", 1), (2, "BRAZIL", 1)]

CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def expect_equal(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def cancel_after(delay, cancel):
    timer = threading.Timer(delay, cancel)
    timer.start()
    return timer


# psycopg 3 -------------------------------------------------------------------------------


@check
def psycopg3_simple_query():
    with psycopg.connect(DSN) as conn:
        cur = conn.execute(
            "SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation "
            "ORDER BY n_nationkey LIMIT 3"
        )
        expect_equal(cur.fetchall(), NATIONS_0_TO_2, "rows")
        expect_equal([c.name for c in cur.description], ["n_nationkey", "n_name", "n_regionkey"], "names")


@check
def psycopg3_server_side_binding_and_types():
    with psycopg.connect(DSN) as conn:
        row = conn.execute(
            "SELECT o_orderkey, o_totalprice, o_orderdate, o_orderpriority "
            "FROM lake.tpch.orders WHERE o_orderkey = %s",
            (1,),
        ).fetchone()
        expect_equal(row[0], 1, "orderkey")
        expect_equal(type(row[1]), decimal.Decimal, "numeric decodes as Decimal")
        expect_equal(type(row[2]), datetime.date, "date decodes as date")
        cur = conn.execute(
            "SELECT l_extendedprice FROM lake.tpch.lineitem LIMIT 1"
        )
        column = cur.description[0]
        expect_equal((column.precision, column.scale), (15, 2), "numeric typmod")
        # Every parameter type a client declares.
        row = conn.execute(
            "SELECT %s::int + 1, %s::bigint * 2, %s::text || 'x', %s::date, %s::numeric(10,2), "
            "%s::double precision / 2, %s::boolean, %s::timestamp",
            (
                41,
                2**40,
                "a",
                datetime.date(2024, 2, 29),
                decimal.Decimal("12.34"),
                3.0,
                True,
                datetime.datetime(2024, 1, 2, 3, 4, 5),
            ),
        ).fetchone()
        expect_equal(
            row,
            (
                42,
                2**41,
                "ax",
                datetime.date(2024, 2, 29),
                decimal.Decimal("12.34"),
                1.5,
                True,
                datetime.datetime(2024, 1, 2, 3, 4, 5),
            ),
            "typed parameters",
        )


@check
def psycopg3_binary_results():
    with psycopg.connect(DSN) as conn:
        cur = conn.cursor(binary=True)
        cur.execute(
            "SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation "
            "WHERE n_nationkey < %s ORDER BY 1",
            (3,),
        )
        expect_equal(cur.fetchall(), NATIONS_0_TO_2, "binary rows")
        cur.execute(
            "SELECT CAST(12.5 AS DECIMAL(10,2)), DATE '2024-02-29', "
            "TIMESTAMP '2024-01-02 03:04:05.5', make_array(1, 2, NULL)"
        )
        expect_equal(
            cur.fetchone(),
            (
                decimal.Decimal("12.50"),
                datetime.date(2024, 2, 29),
                datetime.datetime(2024, 1, 2, 3, 4, 5, 500000),
                [1, 2, None],
            ),
            "binary values",
        )


@check
def psycopg3_prepared_statements():
    with psycopg.connect(DSN) as conn:
        names = []
        for key in range(7):
            row = conn.execute(
                "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = %s",
                (key,),
                prepare=True,
            ).fetchone()
            names.append(row[0])
        expect_equal(
            names,
            ["ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT", "ETHIOPIA", "FRANCE"],
            "prepared executions",
        )


@check
def psycopg3_server_cursor_and_copy():
    with psycopg.connect(DSN) as conn:
        with conn.cursor(name="nations") as cur:
            cur.execute("SELECT n_nationkey FROM lake.tpch.nation ORDER BY 1")
            expect_equal(cur.fetchmany(3), [(0,), (1,), (2,)], "first fetch")
            expect_equal(len(cur.fetchall()), 22, "rest of the cursor")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY (SELECT r_regionkey, r_name FROM lake.tpch.region ORDER BY 1) TO STDOUT"
            ) as copy:
                rows = list(copy.rows())
        expect_equal(rows[0], ("0", "AFRICA"), "COPY text rows")
        expect_equal(len(rows), 5, "COPY row count")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY (SELECT r_regionkey, r_name FROM lake.tpch.region ORDER BY 1) "
                "TO STDOUT (FORMAT binary)"
            ) as copy:
                copy.set_types(["int8", "text"])
                rows = list(copy.rows())
        expect_equal(rows[4], (4, "MIDDLE EAST"), "COPY binary rows")


@check
def psycopg3_errors_keep_the_connection():
    with psycopg.connect(DSN, autocommit=True) as conn:
        try:
            conn.execute("SELEC 1")
            raise AssertionError("syntax error expected")
        except psycopg.errors.SyntaxError as e:
            expect_equal(e.sqlstate, "42601", "syntax error code")
        timer = cancel_after(0.5, conn.cancel)
        try:
            conn.execute(SLOW)
            raise AssertionError("cancel expected")
        except psycopg.errors.QueryCanceled as e:
            expect_equal(e.sqlstate, "57014", "cancel code")
        finally:
            timer.cancel()
        expect_equal(conn.execute("SELECT 1").fetchone(), (1,), "usable after errors")
    try:
        psycopg.connect(DSN.replace("password=demo", "password=wrong"))
        raise AssertionError("wrong password accepted")
    except psycopg.OperationalError as e:
        if "28P01" not in str(e) and "password authentication failed" not in str(e):
            raise


# psycopg2 --------------------------------------------------------------------------------


@check
def psycopg2_queries_parameters_and_errors():
    conn = psycopg2.connect(DSN)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation "
            "WHERE n_nationkey < %s ORDER BY 1",
            (3,),
        )
        expect_equal(cur.fetchall(), NATIONS_0_TO_2, "rows")
        cur.execute("SELECT o_totalprice FROM lake.tpch.orders WHERE o_orderkey = %s", (1,))
        expect_equal(type(cur.fetchone()[0]), decimal.Decimal, "numeric")
        try:
            cur.execute("SELEC 1")
            raise AssertionError("syntax error expected")
        except psycopg2.errors.SyntaxError as e:
            expect_equal(e.pgcode, "42601", "syntax error code")
        conn.rollback()
        timer = cancel_after(0.5, conn.cancel)
        try:
            cur.execute(SLOW)
            raise AssertionError("cancel expected")
        except psycopg2.errors.QueryCanceled as e:
            expect_equal(e.pgcode, "57014", "cancel code")
        finally:
            timer.cancel()
        conn.rollback()
        cur.execute("SELECT 1")
        expect_equal(cur.fetchone(), (1,), "usable after errors")
        # Named (server-side) cursor: DECLARE … FETCH in a transaction.
        named = conn.cursor("big")
        named.itersize = 4
        named.execute("SELECT n_nationkey FROM lake.tpch.nation ORDER BY 1")
        expect_equal([r[0] for r in named], list(range(25)), "named cursor")
        named.close()
        conn.commit()
    finally:
        conn.close()
    try:
        psycopg2.connect(DSN.replace("password=demo", "password=wrong"))
        raise AssertionError("wrong password accepted")
    except psycopg2.OperationalError as e:
        if "password authentication failed" not in str(e):
            raise


# SQLAlchemy and pandas -------------------------------------------------------------------


@check
def sqlalchemy_and_pandas():
    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg2://demo:demo@{HOST}:{PORT}/lake", pool_pre_ping=True
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT r_name FROM lake.tpch.region WHERE r_regionkey >= :k ORDER BY 1"
            ),
            {"k": 3},
        ).fetchall()
        expect_equal(rows, [("EUROPE",), ("MIDDLE EAST",)], "SQLAlchemy rows")
    frame = pd.read_sql(
        "SELECT n_regionkey, count(*) AS nations FROM lake.tpch.nation "
        "GROUP BY n_regionkey ORDER BY n_regionkey",
        engine,
    )
    expect_equal(list(frame.columns), ["n_regionkey", "nations"], "frame columns")
    expect_equal(frame["nations"].tolist(), [5, 5, 5, 5, 5], "frame values")
    frame = pd.read_sql(
        sqlalchemy.text("SELECT o_orderkey, o_totalprice FROM lake.tpch.orders WHERE o_orderkey < :k"),
        engine,
        params={"k": 4},
    )
    expect_equal(sorted(frame["o_orderkey"].tolist()), [1, 2, 3], "parameterised frame")
    engine.dispose()


# psqlODBC through unixODBC and pyodbc ----------------------------------------------------


@check
def odbc_parameters_and_cursors():
    for extra in ["", "UseDeclareFetch=1;Fetch=4;"]:
        conn = pyodbc.connect(ODBC + ";" + extra, autocommit=False)
        try:
            cur = conn.cursor()
            cur.execute(
                "SELECT n_nationkey, n_name, n_regionkey FROM lake.tpch.nation "
                "WHERE n_nationkey < ? ORDER BY 1",
                3,
            )
            rows = [tuple(r) for r in cur.fetchall()]
            expect_equal(rows, NATIONS_0_TO_2, f"ODBC rows ({extra or 'default'})")
            cur.execute("SELECT n_nationkey FROM lake.tpch.nation ORDER BY 1")
            expect_equal([r[0] for r in cur.fetchall()], list(range(25)), "all rows")
            cur.execute("SELECT o_totalprice FROM lake.tpch.orders WHERE o_orderkey = ?", 1)
            expect_equal(type(cur.fetchone()[0]), decimal.Decimal, "numeric via ODBC")
            try:
                cur.execute("SELEC 1")
                raise AssertionError("syntax error expected")
            except pyodbc.ProgrammingError as e:
                expect_equal(e.args[0], "42601", "ODBC syntax error state")
            conn.rollback()
            cur.execute("SELECT 1")
            expect_equal(cur.fetchone()[0], 1, "usable after the error")
            conn.commit()
        finally:
            conn.close()
    try:
        pyodbc.connect(ODBC.replace("PWD=demo", "PWD=wrong"))
        raise AssertionError("wrong password accepted")
    except pyodbc.Error as e:
        if "28P01" not in str(e) and "password authentication failed" not in str(e):
            raise


@check
def odbc_cancel():
    conn = pyodbc.connect(ODBC, autocommit=True)
    try:
        cur = conn.cursor()
        timer = cancel_after(0.5, cur.cancel)
        try:
            cur.execute(SLOW)
            raise AssertionError("cancel expected")
        except pyodbc.Error as e:
            if "57014" not in str(e) and "canceling statement" not in str(e):
                raise
        finally:
            timer.cancel()
        cur.execute("SELECT 2")
        expect_equal(cur.fetchone()[0], 2, "usable after cancel")
    finally:
        conn.close()


# Browsing: what BI tools call to list tables and columns ------------------------------

TPCH_TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


@check
def odbc_catalog_functions():
    conn = pyodbc.connect(ODBC)
    try:
        cur = conn.cursor()
        tables = [row.table_name for row in cur.tables(schema="tpch", tableType="TABLE").fetchall()]
        expect_equal(sorted(tables), TPCH_TABLES, "SQLTables")
        columns = [
            (row.column_name, row.type_name, row.ordinal_position)
            for row in cur.columns(table="orders", schema="tpch").fetchall()
        ]
        expect_equal(
            columns[:4],
            [
                ("o_orderkey", "int8", 1),
                ("o_custkey", "int8", 2),
                ("o_orderstatus", "text", 3),
                ("o_totalprice", "numeric", 4),
            ],
            "SQLColumns",
        )
        expect_equal(len(columns), 9, "orders has 9 columns")
    finally:
        conn.close()


@check
def semantic_tables_through_psycopg_and_odbc():
    with psycopg.connect(DSN) as conn:
        semantic = conn.execute(
            "SELECT status, MEASURE(revenue), MEASURE(order_count) "
            "FROM semantic.orders GROUP BY 1 ORDER BY 1"
        ).fetchall()
        plain = conn.execute(
            "SELECT o_orderstatus, sum(o_totalprice), count(*) "
            "FROM lake.tpch.orders GROUP BY 1 ORDER BY 1"
        ).fetchall()
        expect_equal(semantic, plain, "revenue and orders by status")
        # A bound parameter filters a dimension (extended protocol, server-side binding).
        bound = conn.execute(
            "SELECT MEASURE(order_count) FROM semantic.orders WHERE status = %s",
            ("F",),
            prepare=True,
        ).fetchone()[0]
        expect_equal(bound, [r for r in plain if r[0] == "F"][0][2], "orders with status F")
    conn = pyodbc.connect(ODBC)
    try:
        cur = conn.cursor()
        tables = sorted(row.table_name for row in cur.tables(schema="semantic").fetchall())
        expect_equal(tables, ["customers", "nations", "orders", "regions"], "SQLTables")
        columns = [row.column_name for row in cur.columns(table="orders", schema="semantic")]
        for name in ("order_date_month", "revenue", "customers_nation"):
            if name not in columns:
                raise AssertionError(f"{name} not in {columns}")
    finally:
        conn.close()


@check
def sqlalchemy_inspector_lists_tables_and_columns():
    # Both dialects: psycopg 3's reads pg_type with to_regtype() when it connects.
    for url in [
        f"postgresql+psycopg2://demo:demo@{HOST}:{PORT}/lake",
        f"postgresql+psycopg://demo:demo@{HOST}:{PORT}/lake",
    ]:
        engine = sqlalchemy.create_engine(url)
        dialect = url.split(":")[0]
        try:
            inspector = sqlalchemy.inspect(engine)
            names = inspector.get_table_names(schema="tpch")
            expect_equal(sorted(names), TPCH_TABLES, f"{dialect} get_table_names")
            columns = inspector.get_columns("orders", schema="tpch")
            expect_equal(
                [(c["name"], str(c["type"]), c["nullable"]) for c in columns[:5]],
                [
                    ("o_orderkey", "BIGINT", False),
                    ("o_custkey", "BIGINT", False),
                    ("o_orderstatus", "TEXT", False),
                    ("o_totalprice", "NUMERIC(15, 2)", False),
                    ("o_orderdate", "DATE", False),
                ],
                f"{dialect} get_columns",
            )
            expect_equal(len(columns), 9, f"{dialect} orders has 9 columns")
            # Keys, indexes and constraints: Iceberg declares none, and each lookup
            # answers empty rather than failing.
            expect_equal(
                inspector.get_pk_constraint("orders", schema="tpch")["constrained_columns"],
                [],
                f"{dialect} get_pk_constraint",
            )
            expect_equal(inspector.get_foreign_keys("orders", schema="tpch"), [], "foreign keys")
            expect_equal(inspector.get_indexes("orders", schema="tpch"), [], "indexes")
            expect_equal(
                inspector.get_unique_constraints("orders", schema="tpch"), [], "unique"
            )
            expect_equal(inspector.get_view_names(schema="tpch"), [], "views")
        finally:
            engine.dispose()

    # The analyst's denied column is not listed.
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://analyst:analyst@{HOST}:{PORT}/lake")
    try:
        names = [c["name"] for c in sqlalchemy.inspect(engine).get_columns("customer", schema="tpch")]
        expect_equal("c_acctbal" in names, False, "analyst does not see c_acctbal")
        expect_equal("c_name" in names, True, "analyst sees c_name")
    finally:
        engine.dispose()


def main():
    failed = 0
    for function in CHECKS:
        started = time.monotonic()
        try:
            function()
            print(f"ok   {function.__name__} ({time.monotonic() - started:.2f}s)")
        except Exception:
            failed += 1
            print(f"FAIL {function.__name__}")
            traceback.print_exc()
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
