"""The DuckDB side of the TPC-H benchmark: answers TPC-H queries over the gateway's
Parquet data files, one query per request, and reports how long DuckDB took.

    python duckdb_tpch.py DATA_DIR QUERY_DIR THREADS

Creates a view per TPC-H table over DATA_DIR/warehouse/tpch/TABLE/data/*.parquet (the
very files the gateway's Iceberg tables hold), prints "ready", then reads query numbers
from stdin, one per line, and for each prints "ROWS SECONDS": the rows of its answer and
the wall time of executing it and fetching every row. Exits when stdin closes.
"""

import pathlib
import sys
import time

import duckdb

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def main():
    data_dir = pathlib.Path(sys.argv[1])
    query_dir = pathlib.Path(sys.argv[2])
    threads = int(sys.argv[3])
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    for table in TABLES:
        files = data_dir / "warehouse" / "tpch" / table / "data" / "*.parquet"
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{files}')")
    queries = {n: (query_dir / f"q{n}.sql").read_text() for n in range(1, 23)}
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        started = time.perf_counter()
        rows = con.execute(queries[n]).fetchall()
        elapsed = time.perf_counter() - started
        print(f"{len(rows)} {elapsed:.6f}", flush=True)


if __name__ == "__main__":
    main()
