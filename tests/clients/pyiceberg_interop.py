"""Iceberg tables across engines: PyIceberg writes tables into the gateway's embedded
catalog (the same SQLite database and warehouse) and reads the tables the gateway
wrote; `tests/tests/integration/pyiceberg_interop.rs` compares the answers.

    python pyiceberg_interop.py write WAREHOUSE_DIR
        Creates `lake.interop.events` (identity and day partitions; added, renamed and
        dropped columns; a copy-on-write delete) and `lake.interop.plain` (unpartitioned,
        a copy-on-write delete), then prints one JSON object: for each query the rows
        PyIceberg reads, as text the way PostgreSQL prints them.

    python pyiceberg_interop.py read WAREHOUSE_DIR TABLE...
        Prints one JSON object: for each `namespace.table`, its rows as PyIceberg reads
        them, as text, sorted.
"""

import datetime
import decimal
import json
import pathlib
import sys

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import DateType, DecimalType, LongType, NestedField, StringType


def catalog(warehouse):
    warehouse = pathlib.Path(warehouse).resolve()
    return SqlCatalog(
        "lake",
        uri=f"sqlite:///{warehouse / 'catalog.db'}",
        warehouse=f"file://{warehouse}",
    )


def text(value):
    """A value as PostgreSQL's text format prints it (None is NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime.date, decimal.Decimal, int)):
        return str(value)
    return str(value)


def rows(table, columns, row_filter=None):
    """The rows of a PyIceberg scan, as sorted lists of text."""
    scan = table.scan(row_filter=row_filter) if row_filter is not None else table.scan()
    data = scan.to_arrow().select(columns).to_pylist()
    return sorted(([text(row[c]) for c in columns] for row in data), key=json.dumps)


def events_batch(schema, ids, kinds, extra=None):
    day0 = datetime.date(2024, 1, 1)
    columns = {
        "id": pa.array(ids, pa.int64()),
        "kind": pa.array([kinds[i % len(kinds)] for i in range(len(ids))], pa.string()),
        "day": pa.array([day0 + datetime.timedelta(days=i % 10) for i in ids], pa.date32()),
        "amount": pa.array(
            [decimal.Decimal(i) / 4 for i in ids], pa.decimal128(10, 2)
        ),
    }
    if extra:
        columns.update(extra)
    return pa.table({f.name: columns[f.name] for f in schema.as_arrow()}, schema=schema.as_arrow())


def write(warehouse):
    lake = catalog(warehouse)
    lake.create_namespace_if_not_exists("interop")
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "kind", StringType()),
        NestedField(3, "day", DateType()),
        NestedField(4, "amount", DecimalType(10, 2)),
        NestedField(5, "note", StringType()),
    )
    spec = PartitionSpec(
        PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="kind"),
        PartitionField(source_id=3, field_id=1001, transform=DayTransform(), name="day_day"),
    )
    events = lake.create_table("interop.events", schema=schema, partition_spec=spec)
    first = list(range(0, 40))
    events.append(
        events_batch(
            events.schema(),
            first,
            ["a", "b", "c"],
            {"note": pa.array([f"n{i}" for i in first], pa.string())},
        )
    )
    # Schema evolution: a column added, one renamed, one dropped.
    with events.update_schema() as update:
        update.add_column("score", LongType())
    with events.update_schema() as update:
        update.rename_column("amount", "price")
    with events.update_schema() as update:
        update.delete_column("note")
    second = list(range(40, 60))
    events.append(
        pa.table(
            {
                "id": pa.array(second, pa.int64()),
                "kind": pa.array(["b" if i % 2 else "d" for i in second], pa.string()),
                "day": pa.array(
                    [datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 10) for i in second],
                    pa.date32(),
                ),
                "price": pa.array([decimal.Decimal(i) / 4 for i in second], pa.decimal128(10, 2)),
                "score": pa.array([i * 10 for i in second], pa.int64()),
            },
            schema=events.schema().as_arrow(),
        )
    )
    # A copy-on-write delete across partitions.
    events.delete(And(GreaterThanOrEqual("id", 10), LessThan("id", 15)))
    events = lake.load_table("interop.events")

    plain_schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "label", StringType()),
    )
    plain = lake.create_table("interop.plain", schema=plain_schema)
    ids = list(range(100))
    plain.append(
        pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "label": pa.array([f"label {i}" for i in ids], pa.string()),
            },
            schema=plain.schema().as_arrow(),
        )
    )
    plain.delete(LessThan("id", 50))
    plain = lake.load_table("interop.plain")

    columns = ["id", "kind", "day", "price", "score"]
    answers = {
        "SELECT id, kind, day, price, score FROM lake.interop.events": rows(events, columns),
        "SELECT id, kind, day, price, score FROM lake.interop.events WHERE kind = 'b'": rows(
            events, columns, EqualTo("kind", "b")
        ),
        "SELECT id, kind, day, price, score FROM lake.interop.events "
        "WHERE day >= DATE '2024-01-06'": rows(
            events, columns, GreaterThanOrEqual("day", "2024-01-06")
        ),
        "SELECT id, label FROM lake.interop.plain": rows(plain, ["id", "label"]),
    }
    print(json.dumps(answers))


def read(warehouse, names):
    lake = catalog(warehouse)
    answers = {}
    for name in names:
        table = lake.load_table(name)
        columns = [f.name for f in table.schema().fields]
        answers[name] = rows(table, columns)
    print(json.dumps(answers))


def main():
    command, warehouse = sys.argv[1], sys.argv[2]
    if command == "write":
        write(warehouse)
    elif command == "read":
        read(warehouse, sys.argv[3:])
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
