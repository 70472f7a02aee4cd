//! information_schema as PostgreSQL shapes it, for the views BI tools read: schemata,
//! tables, columns (PostgreSQL type names, precisions, `udt_name`), views, routines and
//! the key and constraint views (empty: the lakehouse declares none).
//!
//! DataFusion's own information_schema stays for `SHOW TABLES` and `SHOW COLUMNS`;
//! statements that name one of these views read ours instead. The statement is
//! rewritten before planning to the hidden pg_catalog table `information_schema.<view>`.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::CatalogProvider;
use datafusion::error::Result;

use super::catalog_functions::format_type;
use super::oids::PG_CATALOG;
use super::pg_type;
use super::rows::{Col, V, table};
use super::tables::{OWNER_NAME, readable_tables};
use super::type_map::{field_type_oid, list_element, oids, type_modifier};

/// The views served here, as hidden pg_catalog tables named `information_schema.<view>`.
pub(super) const VIEWS: &[&str] = &[
    "columns",
    "key_column_usage",
    "referential_constraints",
    "routines",
    "schemata",
    "table_constraints",
    "tables",
    "views",
];

/// The hidden pg_catalog name of a view.
pub(super) fn hidden_name(view: &str) -> String {
    format!("information_schema.{view}")
}

/// The view behind a hidden name.
pub(super) fn view_of(hidden: &str) -> Option<&'static str> {
    let view = hidden.strip_prefix("information_schema.")?;
    VIEWS.iter().find(|v| **v == view).copied()
}

fn columns_of(view: &str) -> &'static [(&'static str, Col)] {
    use Col::*;
    match view {
        "schemata" => &[
            ("catalog_name", Text),
            ("schema_name", Text),
            ("schema_owner", Text),
            ("default_character_set_catalog", Text),
            ("default_character_set_schema", Text),
            ("default_character_set_name", Text),
            ("sql_path", Text),
        ],
        "tables" => &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("self_referencing_column_name", Text),
            ("reference_generation", Text),
            ("user_defined_type_catalog", Text),
            ("user_defined_type_schema", Text),
            ("user_defined_type_name", Text),
            ("is_insertable_into", Text),
            ("is_typed", Text),
            ("commit_action", Text),
        ],
        "columns" => &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", I32),
            ("column_default", Text),
            ("is_nullable", Text),
            ("data_type", Text),
            ("character_maximum_length", I32),
            ("character_octet_length", I32),
            ("numeric_precision", I32),
            ("numeric_precision_radix", I32),
            ("numeric_scale", I32),
            ("datetime_precision", I32),
            ("interval_type", Text),
            ("interval_precision", I32),
            ("character_set_catalog", Text),
            ("character_set_schema", Text),
            ("character_set_name", Text),
            ("collation_catalog", Text),
            ("collation_schema", Text),
            ("collation_name", Text),
            ("domain_catalog", Text),
            ("domain_schema", Text),
            ("domain_name", Text),
            ("udt_catalog", Text),
            ("udt_schema", Text),
            ("udt_name", Text),
            ("scope_catalog", Text),
            ("scope_schema", Text),
            ("scope_name", Text),
            ("maximum_cardinality", I32),
            ("dtd_identifier", Text),
            ("is_self_referencing", Text),
            ("is_identity", Text),
            ("identity_generation", Text),
            ("identity_start", Text),
            ("identity_increment", Text),
            ("identity_maximum", Text),
            ("identity_minimum", Text),
            ("identity_cycle", Text),
            ("is_generated", Text),
            ("generation_expression", Text),
            ("is_updatable", Text),
        ],
        "views" => &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("view_definition", Text),
            ("check_option", Text),
            ("is_updatable", Text),
            ("is_insertable_into", Text),
            ("is_trigger_updatable", Text),
            ("is_trigger_deletable", Text),
            ("is_trigger_insertable_into", Text),
        ],
        "table_constraints" => &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("constraint_type", Text),
            ("is_deferrable", Text),
            ("initially_deferred", Text),
            ("enforced", Text),
            ("nulls_distinct", Text),
        ],
        "key_column_usage" => &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", I32),
            ("position_in_unique_constraint", I32),
        ],
        "referential_constraints" => &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("unique_constraint_catalog", Text),
            ("unique_constraint_schema", Text),
            ("unique_constraint_name", Text),
            ("match_option", Text),
            ("update_rule", Text),
            ("delete_rule", Text),
        ],
        _ => &[
            ("specific_catalog", Text),
            ("specific_schema", Text),
            ("specific_name", Text),
            ("routine_catalog", Text),
            ("routine_schema", Text),
            ("routine_name", Text),
            ("routine_type", Text),
            ("data_type", Text),
            ("type_udt_name", Text),
            ("routine_body", Text),
            ("routine_definition", Text),
            ("external_language", Text),
            ("is_deterministic", Text),
        ],
    }
}

/// Builds one view for `catalog`, as its principal sees it.
pub(super) async fn build(
    view: &str,
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
) -> Result<RecordBatch> {
    let columns = columns_of(view);
    let rows = match view {
        "schemata" => schemata(catalog, provider),
        "tables" => tables(catalog, provider).await?,
        "columns" => column_rows(catalog, provider).await?,
        _ => Vec::new(),
    };
    table(columns, &rows)
}

fn schemata(catalog: &str, provider: &Arc<dyn CatalogProvider>) -> Vec<Vec<V>> {
    let mut names: Vec<String> = provider
        .schema_names()
        .into_iter()
        .filter(|s| s != PG_CATALOG && s != "information_schema")
        .collect();
    names.sort();
    names.push("information_schema".into());
    names.push(PG_CATALOG.into());
    names
        .into_iter()
        .map(|schema| {
            vec![
                catalog.into(),
                schema.into(),
                OWNER_NAME.into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
            ]
        })
        .collect()
}

/// (schema, table, table type, columns) of every readable table.
async fn readable(
    provider: &Arc<dyn CatalogProvider>,
) -> Result<
    Vec<(
        String,
        String,
        &'static str,
        datafusion::arrow::datatypes::SchemaRef,
    )>,
> {
    use datafusion::datasource::TableType;
    Ok(readable_tables(provider)
        .await?
        .into_iter()
        .map(|t| {
            let kind = match t.kind {
                TableType::View => "VIEW",
                TableType::Temporary => "LOCAL TEMPORARY",
                TableType::Base => "BASE TABLE",
            };
            (t.schema, t.name, kind, t.columns)
        })
        .collect())
}

async fn tables(catalog: &str, provider: &Arc<dyn CatalogProvider>) -> Result<Vec<Vec<V>>> {
    Ok(readable(provider)
        .await?
        .into_iter()
        .map(|(schema, name, kind, _)| {
            vec![
                catalog.into(),
                schema.into(),
                name.into(),
                kind.into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                "NO".into(),
                "NO".into(),
                V::Null,
            ]
        })
        .collect())
}

fn int(value: Option<i64>) -> V {
    value
        .and_then(|v| i32::try_from(v).ok())
        .map_or(V::Null, V::I32)
}

async fn column_rows(catalog: &str, provider: &Arc<dyn CatalogProvider>) -> Result<Vec<Vec<V>>> {
    let mut rows = Vec::new();
    for (schema, table_name, _, columns) in readable(provider).await? {
        for (i, field) in columns.fields().iter().enumerate() {
            let oid = field_type_oid(field);
            let typmod = type_modifier(field.data_type());
            let is_array = list_element(field.data_type()).is_some();
            let data_type = if is_array {
                "ARRAY".to_string()
            } else {
                format_type(oid, None)
            };
            let udt_name = pg_type::type_name(oid).unwrap_or_else(|| "text".into());
            let (precision, radix, scale) = numeric_facets(oid, typmod);
            let datetime_precision = match oid {
                oids::DATE => Some(0),
                oids::TIME | oids::TIMESTAMP | oids::TIMESTAMPTZ | oids::INTERVAL => {
                    Some(if typmod >= 0 { i64::from(typmod) } else { 6 })
                }
                _ => None,
            };
            let text = oid == oids::TEXT;
            rows.push(vec![
                catalog.into(),
                schema.as_str().into(),
                table_name.as_str().into(),
                field.name().as_str().into(),
                int(Some(i as i64 + 1)),
                V::Null,
                (if field.is_nullable() { "YES" } else { "NO" }).into(),
                data_type.into(),
                V::Null,
                if text { V::I32(1_073_741_824) } else { V::Null },
                int(precision),
                int(radix),
                int(scale),
                int(datetime_precision),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                catalog.into(),
                PG_CATALOG.into(),
                udt_name.into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                (i + 1).to_string().into(),
                "NO".into(),
                "NO".into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                "NO".into(),
                "NEVER".into(),
                V::Null,
                "NO".into(),
            ]);
        }
    }
    Ok(rows)
}

/// numeric_precision, its radix and numeric_scale, as PostgreSQL reports them.
fn numeric_facets(oid: u32, typmod: i32) -> (Option<i64>, Option<i64>, Option<i64>) {
    match oid {
        oids::INT2 => (Some(16), Some(2), Some(0)),
        oids::INT4 => (Some(32), Some(2), Some(0)),
        oids::INT8 => (Some(64), Some(2), Some(0)),
        oids::FLOAT4 => (Some(24), Some(2), None),
        oids::FLOAT8 => (Some(53), Some(2), None),
        oids::NUMERIC if typmod >= 4 => {
            let m = i64::from(typmod) - 4;
            (Some((m >> 16) & 0xffff), Some(10), Some(m & 0xffff))
        }
        oids::NUMERIC => (None, Some(10), None),
        _ => (None, None, None),
    }
}
