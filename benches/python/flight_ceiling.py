"""The ceiling of the Flight SQL benchmark: a plain pyarrow.flight server that streams,
from memory, the very batches the gateway returned for the benchmark query.

    python flight_ceiling.py HOST PORT USER PASSWORD SQL

Loads the result over Flight SQL (ADBC), then serves it on a free port to any DoGet and
prints "PORT ROWS" on one line. Runs until stdin closes.
"""

import sys
import threading

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow.flight as flight

HOST, PORT, USER, PASSWORD, SQL = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]


class InMemory(flight.FlightServerBase):
    def __init__(self, table):
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def do_get(self, context, ticket):
        return flight.RecordBatchStream(self.table)


def main():
    with flight_sql.connect(
        f"grpc://{HOST}:{PORT}",
        autocommit=True,
        db_kwargs={
            adbc_driver_manager.DatabaseOptions.USERNAME.value: USER,
            adbc_driver_manager.DatabaseOptions.PASSWORD.value: PASSWORD,
        },
    ) as conn, conn.cursor() as cur:
        cur.execute(SQL)
        table = cur.fetch_arrow_table()
    server = InMemory(table)
    print(server.port, table.num_rows, flush=True)
    threading.Thread(target=server.serve, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
