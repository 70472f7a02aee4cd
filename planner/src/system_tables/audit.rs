//! `system.audit.events`: the audit trail's current file as a table.

use std::path::Path;

/// The audit trail as a table (`system.audit.events`): the current file, read with
/// DataFusion's JSON reader, so records are queried like any other data and secured by
/// the same rules.
pub(crate) fn events_table(
    path: &Path,
) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::datasource::file_format::json::JsonFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };

    let list = |name: &str| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            true,
        ),
        Field::new("query_id", DataType::Utf8, true),
        Field::new("session_id", DataType::UInt64, true),
        Field::new("user", DataType::Utf8, true),
        list("roles"),
        Field::new("client", DataType::Utf8, true),
        Field::new("protocol", DataType::Utf8, true),
        Field::new("sql", DataType::Utf8, true),
        Field::new("sql_sha256", DataType::Utf8, true),
        list("tables"),
        list("columns"),
        list("filters"),
        list("masks"),
        Field::new("decision", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("duration_ms", DataType::Float64, true),
    ]));
    // The file exists from start-up on; an absolute path is a valid table URL.
    let absolute = std::path::absolute(path)?;
    let url = ListingTableUrl::parse(absolute.display().to_string())?;
    let options =
        ListingOptions::new(Arc::new(JsonFormat::default())).with_file_extension(".jsonl");
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
