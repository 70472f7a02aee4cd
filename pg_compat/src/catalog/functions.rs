//! Session functions clients call on connect: `version()`, `current_schema()`,
//! `current_database()` and `pg_table_is_visible()`, each also under its `pg_catalog.`
//! name; the catalog functions are registered with them.

use std::any::Any;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::UInt32Type;
use datafusion::catalog::CatalogProviderList;
use datafusion::common::exec_err;

use super::catalog_functions::{function, function_also_named};
use super::oids::relation_oid;
use super::pg_class::CATALOG_TABLE_OIDS;
use crate::SERVER_VERSION;

/// `pg_table_is_visible(oid)`: whether the relation is in the current schema or in
/// pg_catalog (the schemas an unqualified name searches).
#[derive(Debug)]
struct TableIsVisible {
    catalogs: Arc<dyn CatalogProviderList>,
    aliases: Vec<String>,
    signature: Signature,
}

impl PartialEq for TableIsVisible {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TableIsVisible {}

impl std::hash::Hash for TableIsVisible {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "pg_table_is_visible".hash(state);
    }
}

impl ScalarUDFImpl for TableIsVisible {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "pg_table_is_visible"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let catalog = &args.config_options.catalog;
        let mut visible: HashSet<u32> = CATALOG_TABLE_OIDS.iter().map(|(_, oid)| *oid).collect();
        if let Some(schema) = self
            .catalogs
            .catalog(&catalog.default_catalog)
            .and_then(|c| c.schema(&catalog.default_schema))
        {
            for table in schema.table_names() {
                visible.insert(relation_oid(
                    &catalog.default_catalog,
                    &catalog.default_schema,
                    &table,
                ));
            }
        }
        let [oids] = args.args.as_slice() else {
            return exec_err!("pg_table_is_visible takes one argument");
        };
        let oids = oids.to_array(args.number_rows)?;
        let oids = cast(&oids, &DataType::UInt32)?;
        let result: BooleanArray = oids
            .as_primitive::<UInt32Type>()
            .iter()
            .map(|oid| oid.map(|oid| visible.contains(&oid)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

/// Registers the session functions, replacing DataFusion's own `version()`.
pub fn register_functions(
    ctx: &SessionContext,
    user: &str,
    may_insert: super::catalog_functions::InsertCheck,
) {
    super::catalog_functions::register_catalog_functions(ctx, user, may_insert);
    ctx.register_udf(ScalarUDF::new_from_impl(TableIsVisible {
        catalogs: ctx.state().catalog_list().clone(),
        aliases: vec!["pg_catalog.pg_table_is_visible".to_string()],
        signature: Signature::uniform(
            1,
            vec![DataType::UInt32, DataType::Int64],
            Volatility::Stable,
        ),
    }));
    let nullary = || Signature::nullary(Volatility::Stable);
    let text = |value: String| Ok(ScalarValue::Utf8(Some(value)));
    // Clients parse "PostgreSQL <major>.<minor>" out of version().
    ctx.register_udf(function(
        "version",
        nullary(),
        DataType::Utf8,
        move |_, _| {
            text(format!(
                "PostgreSQL {SERVER_VERSION} (lakegate {}) on {}-{}, compiled by rustc, 64-bit",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                std::env::consts::OS,
            ))
        },
    ));
    ctx.register_udf(function(
        "current_schema",
        nullary(),
        DataType::Utf8,
        move |_, config| text(config.catalog.default_schema.clone()),
    ));
    ctx.register_udf(function_also_named(
        "current_database",
        &["current_catalog"],
        nullary(),
        DataType::Utf8,
        move |_, config| text(config.catalog.default_catalog.clone()),
    ));
}
