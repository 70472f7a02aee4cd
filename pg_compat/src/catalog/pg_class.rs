//! `pg_catalog.pg_class`: the relations of one catalog the principal can read, with
//! stable OIDs, and pg_catalog's own tables.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, RecordBatch, StringArray,
    UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::CatalogProvider;
use datafusion::error::Result;

use super::oids::{PG_CATALOG_OID, oid_field, relation_oid, stable_oid};
use super::{pg_type, rows, tables};

/// pg_catalog's tables with PostgreSQL's own OIDs.
pub(super) const CATALOG_TABLE_OIDS: &[(&str, u32)] = &[
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_auth_members", 1261),
    ("pg_attribute", 1249),
    ("pg_class", 1259),
    ("pg_collation", 3456),
    ("pg_constraint", 2606),
    ("pg_database", 1262),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_enum", 3501),
    ("pg_foreign_table", 3118),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_matviews", 12_024),
    ("pg_namespace", 2615),
    ("pg_policy", 3256),
    ("pg_proc", 1255),
    ("pg_publication", 6104),
    ("pg_publication_namespace", 6237),
    ("pg_publication_rel", 6106),
    ("pg_range", 3541),
    ("pg_rewrite", 2618),
    ("pg_roles", 12_001),
    ("pg_sequence", 2224),
    ("pg_settings", 12_050),
    ("pg_stat_user_tables", 12_060),
    ("pg_statistic_ext", 3381),
    ("pg_tables", 12_020),
    ("pg_trigger", 2620),
    ("pg_type", 1247),
    ("pg_user", 12_005),
    ("pg_views", 12_016),
];

/// One relation.
struct Relation {
    oid: u32,
    name: String,
    namespace: u32,
    columns: i16,
}

fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let boolean = |name: &str| Field::new(name, DataType::Boolean, false);
    Arc::new(Schema::new(vec![
        oid_field("oid"),
        text("relname"),
        oid_field("relnamespace"),
        oid_field("reltype"),
        oid_field("reloftype"),
        oid_field("relowner"),
        oid_field("relam"),
        oid_field("relfilenode"),
        oid_field("reltablespace"),
        Field::new("relpages", DataType::Int32, false),
        Field::new("reltuples", DataType::Float32, false),
        Field::new("relallvisible", DataType::Int32, false),
        oid_field("reltoastrelid"),
        boolean("relhasindex"),
        boolean("relisshared"),
        text("relpersistence"),
        text("relkind"),
        Field::new("relnatts", DataType::Int16, false),
        Field::new("relchecks", DataType::Int16, false),
        boolean("relhasrules"),
        boolean("relhastriggers"),
        boolean("relhassubclass"),
        boolean("relrowsecurity"),
        boolean("relforcerowsecurity"),
        boolean("relispopulated"),
        text("relreplident"),
        boolean("relispartition"),
        oid_field("relrewrite"),
        text("relacl"),
        text("reloptions"),
        text("relpartbound"),
    ]))
}

/// Relations of `catalog` (already filtered for the principal) and of pg_catalog.
pub(super) async fn batch(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
) -> Result<RecordBatch> {
    let mut relations = Vec::new();
    for (name, oid) in CATALOG_TABLE_OIDS {
        let columns = catalog_table_schema(name)
            .map(|s| s.fields().len() as i16)
            .unwrap_or(0);
        relations.push(Relation {
            oid: *oid,
            name: name.to_string(),
            namespace: PG_CATALOG_OID,
            columns,
        });
    }
    for table in tables::readable_tables(provider).await? {
        relations.push(Relation {
            oid: relation_oid(catalog, &table.schema, &table.name),
            columns: table.columns.fields().len() as i16,
            namespace: stable_oid(&format!("{catalog}.{}", table.schema)),
            name: table.name,
        });
    }
    let n = relations.len();
    let oids = |f: &dyn Fn(&Relation) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(relations.iter().map(f)))
    };
    let zeros = || -> ArrayRef { Arc::new(UInt32Array::from(vec![0; n])) };
    let flags = |value: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![value; n])) };
    let letters = |value: &str| -> ArrayRef { Arc::new(StringArray::from(vec![value; n])) };
    let columns: Vec<ArrayRef> = vec![
        oids(&|r| r.oid),
        Arc::new(StringArray::from_iter_values(
            relations.iter().map(|r| &r.name),
        )),
        oids(&|r| r.namespace),
        zeros(),
        zeros(),
        Arc::new(UInt32Array::from(vec![10; n])),
        // Access method 2 is PostgreSQL's heap.
        Arc::new(UInt32Array::from(vec![2; n])),
        zeros(),
        zeros(),
        Arc::new(Int32Array::from(vec![0; n])),
        Arc::new(Float32Array::from(vec![-1.0; n])),
        Arc::new(Int32Array::from(vec![0; n])),
        zeros(),
        flags(false),
        flags(false),
        letters("p"),
        letters("r"),
        Arc::new(Int16Array::from_iter_values(
            relations.iter().map(|r| r.columns),
        )),
        Arc::new(Int16Array::from(vec![0; n])),
        flags(false),
        flags(false),
        flags(false),
        flags(false),
        flags(false),
        flags(true),
        letters("d"),
        flags(false),
        zeros(),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

pub(super) fn table_schema() -> SchemaRef {
    schema()
}

/// The schema of a pg_catalog table.
pub(super) fn catalog_table_schema(name: &str) -> Option<SchemaRef> {
    match name {
        "pg_type" => Some(pg_type::schema()),
        "pg_namespace" => Some(tables::namespace_schema()),
        "pg_class" => Some(table_schema()),
        other => tables::columns(other).map(rows::schema),
    }
}
