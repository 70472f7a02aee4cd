//! `pg_catalog.pg_type`: a row for every type the gateway sends, with PostgreSQL 16's
//! OIDs, lengths, categories and I/O function names, and the array type of each.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::Result;

use super::oids::{BOOTSTRAP_SUPERUSER, PG_CATALOG_OID, oid_field, regproc_field, regproc_oid};

/// One base type: OID, name, typlen, typbyval, typcategory, typispreferred, typalign,
/// typstorage, array OID, and the stem of its I/O functions.
struct BaseType {
    oid: u32,
    name: &'static str,
    len: i16,
    by_value: bool,
    category: &'static str,
    preferred: bool,
    align: &'static str,
    storage: &'static str,
    array: u32,
    /// `int4` → int4in/int4out/int4recv/int4send; `date_` → date_in/…
    io: &'static str,
    collation: u32,
}

#[allow(clippy::too_many_arguments)] // one row of a table, in its column order
const fn base(
    oid: u32,
    name: &'static str,
    len: i16,
    by_value: bool,
    category: &'static str,
    preferred: bool,
    align: &'static str,
    storage: &'static str,
    array: u32,
    io: &'static str,
    collation: u32,
) -> BaseType {
    BaseType {
        oid,
        name,
        len,
        by_value,
        category,
        preferred,
        align,
        storage,
        array,
        io,
        collation,
    }
}

/// PostgreSQL's default collation and its "C" collation.
const DEFAULT_COLLATION: u32 = 100;
const C_COLLATION: u32 = 950;

const BASE_TYPES: &[BaseType] = &[
    base(16, "bool", 1, true, "B", true, "c", "p", 1000, "bool", 0),
    base(
        17, "bytea", -1, false, "U", false, "i", "x", 1001, "bytea", 0,
    ),
    base(18, "char", 1, true, "Z", false, "c", "p", 1002, "char", 0),
    base(
        19,
        "name",
        64,
        false,
        "S",
        false,
        "c",
        "p",
        1003,
        "name",
        C_COLLATION,
    ),
    base(20, "int8", 8, true, "N", false, "d", "p", 1016, "int8", 0),
    base(21, "int2", 2, true, "N", false, "s", "p", 1005, "int2", 0),
    base(23, "int4", 4, true, "N", false, "i", "p", 1007, "int4", 0),
    base(
        24, "regproc", 4, true, "N", false, "i", "p", 1008, "regproc", 0,
    ),
    base(
        25,
        "text",
        -1,
        false,
        "S",
        true,
        "i",
        "x",
        1009,
        "text",
        DEFAULT_COLLATION,
    ),
    base(
        24, "regproc", 4, true, "N", false, "i", "p", 1008, "regproc", 0,
    ),
    base(26, "oid", 4, true, "N", true, "i", "p", 1028, "oid", 0),
    base(
        114, "json", -1, false, "U", false, "i", "x", 199, "json_", 0,
    ),
    base(
        700, "float4", 4, true, "N", false, "i", "p", 1021, "float4", 0,
    ),
    base(
        701, "float8", 8, true, "N", true, "d", "p", 1022, "float8", 0,
    ),
    base(
        705, "unknown", -2, false, "X", false, "c", "p", 0, "unknown", 0,
    ),
    base(
        1042,
        "bpchar",
        -1,
        false,
        "S",
        false,
        "i",
        "x",
        1014,
        "bpchar",
        DEFAULT_COLLATION,
    ),
    base(
        1043,
        "varchar",
        -1,
        false,
        "S",
        false,
        "i",
        "x",
        1015,
        "varchar",
        DEFAULT_COLLATION,
    ),
    base(
        1082, "date", 4, true, "D", false, "i", "p", 1182, "date_", 0,
    ),
    base(
        1083, "time", 8, true, "D", false, "d", "p", 1183, "time_", 0,
    ),
    base(
        1114,
        "timestamp",
        8,
        true,
        "D",
        false,
        "d",
        "p",
        1115,
        "timestamp_",
        0,
    ),
    base(
        1184,
        "timestamptz",
        8,
        true,
        "D",
        true,
        "d",
        "p",
        1185,
        "timestamptz_",
        0,
    ),
    base(
        1186,
        "interval",
        16,
        false,
        "T",
        true,
        "d",
        "p",
        1187,
        "interval_",
        0,
    ),
    base(
        1700, "numeric", -1, false, "N", false, "i", "m", 1231, "numeric_", 0,
    ),
    base(
        2205, "regclass", 4, true, "N", false, "i", "p", 2210, "regclass", 0,
    ),
    base(
        2206, "regtype", 4, true, "N", false, "i", "p", 2211, "regtype", 0,
    ),
];

pub(super) fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        oid_field("oid"),
        text("typname"),
        oid_field("typnamespace"),
        oid_field("typowner"),
        Field::new("typlen", DataType::Int16, false),
        Field::new("typbyval", DataType::Boolean, false),
        text("typtype"),
        text("typcategory"),
        Field::new("typispreferred", DataType::Boolean, false),
        Field::new("typisdefined", DataType::Boolean, false),
        text("typdelim"),
        oid_field("typrelid"),
        text("typsubscript"),
        oid_field("typelem"),
        oid_field("typarray"),
        regproc_field("typinput"),
        regproc_field("typoutput"),
        regproc_field("typreceive"),
        regproc_field("typsend"),
        regproc_field("typmodin"),
        regproc_field("typmodout"),
        regproc_field("typanalyze"),
        text("typalign"),
        text("typstorage"),
        Field::new("typnotnull", DataType::Boolean, false),
        oid_field("typbasetype"),
        Field::new("typtypmod", DataType::Int32, false),
        Field::new("typndims", DataType::Int32, false),
        oid_field("typcollation"),
        text("typdefaultbin"),
        text("typdefault"),
        text("typacl"),
    ]))
}

/// One row of pg_type.
struct Row {
    oid: u32,
    name: String,
    len: i16,
    by_value: bool,
    category: &'static str,
    preferred: bool,
    subscript: &'static str,
    element: u32,
    array: u32,
    io: [String; 4],
    analyze: &'static str,
    align: &'static str,
    storage: &'static str,
    collation: u32,
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for t in BASE_TYPES {
        rows.push(Row {
            oid: t.oid,
            name: t.name.to_string(),
            len: t.len,
            by_value: t.by_value,
            category: t.category,
            preferred: t.preferred,
            subscript: "-",
            element: 0,
            array: t.array,
            io: [
                format!("{}in", t.io),
                format!("{}out", t.io),
                format!("{}recv", t.io),
                format!("{}send", t.io),
            ],
            analyze: "-",
            align: t.align,
            storage: t.storage,
            collation: t.collation,
        });
    }
    for t in BASE_TYPES.iter().filter(|t| t.array != 0) {
        rows.push(Row {
            oid: t.array,
            name: format!("_{}", t.name),
            len: -1,
            by_value: false,
            category: "A",
            preferred: false,
            subscript: "array_subscript_handler",
            element: t.oid,
            array: 0,
            io: [
                "array_in".into(),
                "array_out".into(),
                "array_recv".into(),
                "array_send".into(),
            ],
            analyze: "array_typanalyze",
            align: if t.align == "d" { "d" } else { "i" },
            storage: "x",
            collation: t.collation,
        });
    }
    rows
}

/// Every type as a batch in pg_type's shape.
pub(super) fn batch() -> Result<RecordBatch> {
    let rows = rows();
    let oids = |f: &dyn Fn(&Row) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(f)))
    };
    let texts = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(rows.iter().map(f)))
    };
    let bools = |f: &dyn Fn(&Row) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(f(r)))))
    };
    let columns: Vec<ArrayRef> = vec![
        oids(&|r| r.oid),
        texts(&|r| Some(r.name.clone())),
        oids(&|_| PG_CATALOG_OID),
        oids(&|_| BOOTSTRAP_SUPERUSER),
        Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.len))),
        bools(&|r| r.by_value),
        texts(&|_| Some("b".into())),
        texts(&|r| Some(r.category.into())),
        bools(&|r| r.preferred),
        bools(&|_| true),
        texts(&|_| Some(",".into())),
        oids(&|_| 0),
        texts(&|r| Some(r.subscript.into())),
        oids(&|r| r.element),
        oids(&|r| r.array),
        oids(&|r| regproc_oid(&r.io[0])),
        oids(&|r| regproc_oid(&r.io[1])),
        oids(&|r| regproc_oid(&r.io[2])),
        oids(&|r| regproc_oid(&r.io[3])),
        oids(&|_| 0),
        oids(&|_| 0),
        oids(&|r| regproc_oid(r.analyze)),
        texts(&|r| Some(r.align.into())),
        texts(&|r| Some(r.storage.into())),
        bools(&|_| false),
        oids(&|_| 0),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| -1))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 0))),
        oids(&|r| r.collation),
        texts(&|_| None),
        texts(&|_| None),
        texts(&|_| None),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// One type I/O function of pg_proc.
pub(super) struct IoFunction {
    pub name: String,
    /// The type of its (first) argument.
    pub argument: u32,
    pub returns: u32,
}

/// The I/O functions of every type: input takes cstring and returns the type, output
/// takes the type and returns cstring, receive takes internal and returns the type,
/// send takes the type and returns bytea.
pub(super) fn io_functions() -> Vec<IoFunction> {
    const CSTRING: u32 = 2275;
    const BYTEA: u32 = 17;
    const INTERNAL: u32 = 2281;
    let mut out = Vec::new();
    for row in rows() {
        let [input, output, receive, send] = row.io;
        for (name, argument, returns) in [
            (input, CSTRING, row.oid),
            (output, row.oid, CSTRING),
            (receive, INTERNAL, row.oid),
            (send, row.oid, BYTEA),
        ] {
            out.push(IoFunction {
                name,
                argument,
                returns,
            });
        }
    }
    out
}

/// The pg_type name of a type written in SQL (`integer` → `int4`, `pg_catalog.text` →
/// `text`); names pg_type already uses come back lower-cased.
pub(super) fn typname_of(sql_name: &str) -> String {
    let name = sql_name.trim().to_ascii_lowercase();
    let name = name.rsplit('.').next().unwrap_or(&name).trim();
    match name {
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "character" => "bpchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "decimal" => "numeric",
        other => other,
    }
    .to_string()
}

/// The name of a type, by OID.
pub(super) fn type_name(oid: u32) -> Option<String> {
    rows().into_iter().find(|r| r.oid == oid).map(|r| r.name)
}

/// The element type of an array type.
pub(super) fn element_of(array: u32) -> Option<u32> {
    BASE_TYPES
        .iter()
        .find(|t| t.array == array && t.array != 0)
        .map(|t| t.oid)
}

/// The OID of a type name (`int4`, `_text`…), for the gateway's own checks.
pub fn type_oid(name: &str) -> Option<u32> {
    rows().into_iter().find(|r| r.name == name).map(|r| r.oid)
}

/// The name of a function of pg_proc by OID, as `regproc` prints it (`-` for 0).
pub fn regproc_name(oid: u32) -> Option<String> {
    static NAMES: std::sync::OnceLock<std::collections::HashMap<u32, String>> =
        std::sync::OnceLock::new();
    if oid == 0 {
        return Some("-".into());
    }
    NAMES
        .get_or_init(|| {
            let mut names: std::collections::HashMap<u32, String> = io_functions()
                .into_iter()
                .map(|f| (regproc_oid(&f.name), f.name))
                .collect();
            names.insert(regproc_oid("array_typanalyze"), "array_typanalyze".into());
            names
        })
        .get(&oid)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_type_has_its_array() {
        let batch = batch().expect("batch");
        assert_eq!(batch.num_rows(), BASE_TYPES.len() * 2 - 1);
        assert_eq!(type_oid("_int4"), Some(1007));
        assert_eq!(type_oid("numeric"), Some(1700));
    }
}
