"""The ADBC path of the cross-protocol equivalence test (tests/tests/integration/equivalence.rs).

    python equivalence_adbc.py HOST PORT USER STATEMENTS_JSON OUT_DIR

Runs each statement through ADBC's Flight SQL driver (the Go driver, which checks that
every DoGet stream has the schema GetFlightInfo announced), once as a statement and once
prepared, and writes OUT_DIR/N.arrow and OUT_DIR/N.prepared.arrow (Arrow IPC files), or
N.error / N.prepared.error with the driver's message. The Rust test compares them with
the other paths.
"""

import json
import pathlib
import sys

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa

HOST, PORT, USER = sys.argv[1], int(sys.argv[2]), sys.argv[3]
STATEMENTS = json.loads(pathlib.Path(sys.argv[4]).read_text())
OUT = pathlib.Path(sys.argv[5])


def write(path, table):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def main():
    with flight_sql.connect(
        f"grpc://{HOST}:{PORT}",
        autocommit=True,
        db_kwargs={
            adbc_driver_manager.DatabaseOptions.USERNAME.value: USER,
            adbc_driver_manager.DatabaseOptions.PASSWORD.value: USER,
        },
    ) as conn:
        for i, sql in enumerate(STATEMENTS):
            for suffix, prepare in (("", False), (".prepared", True)):
                try:
                    with conn.cursor() as cur:
                        if prepare:
                            cur.adbc_prepare(sql)
                        cur.execute(sql)
                        write(OUT / f"{i}{suffix}.arrow", cur.fetch_arrow_table())
                except adbc_driver_manager.Error as error:
                    (OUT / f"{i}{suffix}.error").write_text(str(error))
    print(f"ran {len(STATEMENTS)} statements as {USER}")


if __name__ == "__main__":
    main()
