"""Computes the reference answers of the 22 TPC-H queries with DuckDB.

The answers in this directory were computed once with this script over the Parquet
data files the gateway seeds at scale factor 0.1 (TPC-H data is deterministic), and
are committed: `tests/tests/integration/tpch_answers.rs` compares the gateway's rows
with them. To compute them again:

    cargo run --bin gateway -- serve --config CONFIG   # with data_dir=DIR, scale_factor=0.1
    target/clients-venv/bin/python tests/tpch/answers/compute.py DIR

One file per query, `qN.tsv`: a row per line, values separated by tabs, NULL as `\\N`,
numbers as DuckDB gives them (the test compares them with a relative tolerance).
"""

import pathlib
import sys

import duckdb

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def text(value):
    if value is None:
        return "\\N"
    return str(value)


def main():
    data_dir = pathlib.Path(sys.argv[1])
    here = pathlib.Path(__file__).resolve().parent
    queries = here.parent
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for table in TABLES:
        files = data_dir / "warehouse" / "tpch" / table / "data" / "*.parquet"
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}')")
    for n in range(1, 23):
        sql = (queries / f"q{n}.sql").read_text()
        rows = con.execute(sql).fetchall()
        lines = ["\t".join(text(v) for v in row) for row in rows]
        (here / f"q{n}.tsv").write_text("".join(line + "\n" for line in lines))
        print(f"q{n}: {len(rows)} rows")


if __name__ == "__main__":
    main()
