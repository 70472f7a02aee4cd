"""Iceberg tables across engines: PyIceberg writes tables into the gateway's embedded
catalog (the same SQLite database and warehouse) and reads the tables the gateway
wrote; `tests/tests/integration/pyiceberg_interop.rs` compares the answers.

    python pyiceberg_interop.py write WAREHOUSE_DIR
        Creates `lake.interop.events` (identity and day partitions; added, renamed and
        dropped columns; a copy-on-write delete), `lake.interop.plain` (unpartitioned,
        a copy-on-write delete), and two merge-on-read tables, `lake.interop.positions`
        (a position delete file) and `lake.interop.merged` (position and equality delete
        files), then prints one JSON object: for each query the rows PyIceberg reads, as
        text the way PostgreSQL prints them. PyIceberg writes deletes copy-on-write only,
        so the delete files and their snapshots are written here with its manifest
        writers; it cannot read equality deletes, so `merged`'s rows are computed.

    python pyiceberg_interop.py read WAREHOUSE_DIR TABLE...
        Prints one JSON object: for each `namespace.table`, its rows as PyIceberg reads
        them, as text, sorted.
"""

import datetime
import decimal
import json
import pathlib
import random
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestWriterV2,
    write_manifest_list,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.snapshots import Operation, Snapshot, Summary
from pyiceberg.table.update import AddSnapshotUpdate, AssertRefSnapshotId, SetSnapshotRefUpdate
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.typedef import Record
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


class DeleteManifestWriter(ManifestWriterV2):
    """A manifest of delete files (PyIceberg's writers write data manifests only)."""

    def content(self):
        return ManifestContent.DELETES

    @property
    def _meta(self):
        return {**super()._meta, "content": "deletes"}


def delete_file(table, name, data, content, equality_ids=None):
    """`data` written as a delete file of `table`, unpartitioned."""
    path = f"{table.location().rstrip('/')}/data/{name}-{uuid.uuid4()}.parquet"
    local = path.removeprefix("file://")
    pq.write_table(data, local)
    return DataFile.from_args(
        content=content,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=data.num_rows,
        file_size_in_bytes=pathlib.Path(local).stat().st_size,
        equality_ids=equality_ids,
        _table_format_version=2,
    )


def commit_deletes(table, files):
    """Commits a snapshot that adds delete `files` to the table's current snapshot."""
    current = table.current_snapshot()
    snapshot_id = random.getrandbits(62)
    sequence = table.metadata.next_sequence_number()
    location = table.location().rstrip("/")
    output = table.io.new_output(f"{location}/metadata/{uuid.uuid4()}-deletes-m0.avro")
    with DeleteManifestWriter(table.spec(), table.schema(), output, snapshot_id, "deflate") as writer:
        for data_file in files:
            writer.add(
                ManifestEntry.from_args(
                    status=ManifestEntryStatus.ADDED,
                    snapshot_id=snapshot_id,
                    sequence_number=None,
                    file_sequence_number=None,
                    data_file=data_file,
                )
            )
    manifests = current.manifests(table.io) + [writer.to_manifest_file()]
    manifest_list = f"{location}/metadata/snap-{snapshot_id}-0-{uuid.uuid4()}.avro"
    with write_manifest_list(
        2, table.io.new_output(manifest_list), snapshot_id, current.snapshot_id, sequence, "deflate"
    ) as list_writer:
        list_writer.add_manifests(manifests)
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=current.snapshot_id,
        sequence_number=sequence,
        timestamp_ms=int(time.time() * 1000),
        manifest_list=manifest_list,
        summary=Summary(Operation.DELETE, **{"added-delete-files": str(len(files))}),
        schema_id=table.schema().schema_id,
    )
    with table.transaction() as transaction:
        transaction._apply(
            (
                AddSnapshotUpdate(snapshot=snapshot),
                SetSnapshotRefUpdate(ref_name="main", type="branch", snapshot_id=snapshot_id),
            ),
            (AssertRefSnapshotId(ref="main", snapshot_id=current.snapshot_id),),
        )


def merge_on_read(lake, name, equality):
    """`interop.NAME`: ids 0..99 in one data file, then a position delete file (ids 3,
    10, 11, 99) and, if `equality`, an equality delete file on `id` (20, 21, 50). Its
    live ids."""
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "label", StringType()),
    )
    table = lake.create_table(f"interop.{name}", schema=schema, properties={"format-version": "2"})
    ids = list(range(100))
    table.append(
        pa.table(
            {"id": pa.array(ids, pa.int64()), "label": pa.array([f"row {i}" for i in ids])},
            schema=table.schema().as_arrow(),
        )
    )
    data_path = table.inspect.files().to_pylist()[0]["file_path"]
    deleted = [3, 10, 11, 99]
    field = lambda name, kind, field_id: pa.field(  # noqa: E731
        name, kind, nullable=False, metadata={b"PARQUET:field_id": str(field_id).encode()}
    )
    positions = pa.table(
        {"file_path": pa.array([data_path] * len(deleted)), "pos": pa.array(deleted, pa.int64())},
        schema=pa.schema([field("file_path", pa.string(), 2147483546), field("pos", pa.int64(), 2147483545)]),
    )
    commit_deletes(table, [delete_file(table, "positions", positions, DataFileContent.POSITION_DELETES)])
    if equality:
        keys = [20, 21, 50]
        equalities = pa.table(
            {"id": pa.array(keys, pa.int64())}, schema=pa.schema([field("id", pa.int64(), 1)])
        )
        commit_deletes(
            table,
            [delete_file(table, "equalities", equalities, DataFileContent.EQUALITY_DELETES, [1])],
        )
        deleted += keys
    return [i for i in ids if i not in deleted]


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

    merge_on_read(lake, "positions", equality=False)
    positions = lake.load_table("interop.positions")
    live = merge_on_read(lake, "merged", equality=True)

    columns = ["id", "kind", "day", "price", "score"]
    answers = {
        "SELECT id, label FROM lake.interop.positions": rows(positions, ["id", "label"]),
        "SELECT id, label FROM lake.interop.positions WHERE id < 20": rows(
            positions, ["id", "label"], LessThan("id", 20)
        ),
        "SELECT count(*) FROM lake.interop.positions": [[str(len(positions.scan().to_arrow()))]],
        "SELECT id, label FROM lake.interop.merged": sorted(
            ([str(i), f"row {i}"] for i in live), key=json.dumps
        ),
        "SELECT count(*) FROM lake.interop.merged WHERE id BETWEEN 15 AND 60": [
            [str(len([i for i in live if 15 <= i <= 60]))]
        ],
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
