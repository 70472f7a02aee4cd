//! The functions clients call in their catalog queries: owner and encoding names,
//! format_type, visibility and privilege checks answered from the session's
//! principal-filtered catalogs, and the description/definition functions, which are
//! NULL here because the lakehouse keeps no comments, defaults, constraints or indexes.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::catalog::CatalogProviderList;
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::oids::relation_oid;
use super::tables::{OWNER_NAME, role_oid};
use super::type_map::oids;

/// What a function computes from one row of arguments.
type RowFn = dyn Fn(&[ScalarValue], &ConfigOptions) -> Result<ScalarValue> + Send + Sync;

/// A catalog function evaluated row by row (catalog queries are small).
struct CatalogFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    returns: DataType,
    body: Box<RowFn>,
}

impl std::fmt::Debug for CatalogFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CatalogFunction {}

impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<_>>()?;
        let mut values = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let row_args: Vec<ScalarValue> = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<Result<_>>()?;
            values.push((self.body)(&row_args, &args.config_options)?);
        }
        let array = if values.is_empty() {
            datafusion::arrow::array::new_empty_array(&self.returns)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// A catalog function under its name and `pg_catalog.<name>`.
pub(super) fn function(
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: impl Fn(&[ScalarValue], &ConfigOptions) -> Result<ScalarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    function_also_named(name, &[], signature, returns, body)
}

/// A catalog function under its name, `pg_catalog.<name>` and `extra` names.
pub(super) fn function_also_named(
    name: &'static str,
    extra: &[&str],
    signature: Signature,
    returns: DataType,
    body: impl Fn(&[ScalarValue], &ConfigOptions) -> Result<ScalarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    let mut aliases = vec![format!("pg_catalog.{name}")];
    aliases.extend(extra.iter().map(|a| a.to_string()));
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        aliases,
        signature,
        returns,
        body: Box::new(body),
    })
}

fn exec_err_null_key() -> Result<ScalarValue> {
    datafusion::common::exec_err!("null value not allowed for object key")
}

fn exec_err_odd() -> Result<ScalarValue> {
    datafusion::common::exec_err!("argument list must have even number of elements")
}

/// An integer argument, whatever its width.
fn int_arg(args: &[ScalarValue], i: usize) -> Option<i64> {
    match args.get(i)? {
        ScalarValue::Int8(v) => v.map(i64::from),
        ScalarValue::Int16(v) => v.map(i64::from),
        ScalarValue::Int32(v) => v.map(i64::from),
        ScalarValue::Int64(v) => *v,
        ScalarValue::UInt8(v) => v.map(i64::from),
        ScalarValue::UInt16(v) => v.map(i64::from),
        ScalarValue::UInt32(v) => v.map(i64::from),
        ScalarValue::UInt64(v) => v.and_then(|v| i64::try_from(v).ok()),
        other => other.to_string().parse().ok(),
    }
}

/// A text argument.
fn text_arg(args: &[ScalarValue], i: usize) -> Option<String> {
    match args.get(i)? {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => v.clone(),
        v if v.is_null() => None,
        v => Some(v.to_string()),
    }
}

fn text(value: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(value)
}

/// `format_type(oid, typmod)`: the SQL name of a type, with its modifier.
/// The argument list and result type of the pg_proc function whose OID is the first
/// argument, written as format_type writes types.
fn function_signature(args: &[ScalarValue]) -> Option<(String, String)> {
    static SIGNATURES: std::sync::OnceLock<HashMap<u32, (u32, u32)>> = std::sync::OnceLock::new();
    let oid = u32::try_from(int_arg(args, 0)?).ok()?;
    let (argument, returns) = SIGNATURES
        .get_or_init(|| {
            super::pg_type::io_functions()
                .into_iter()
                .map(|f| (super::oids::regproc_oid(&f.name), (f.argument, f.returns)))
                .collect()
        })
        .get(&oid)?;
    Some((format_type(*argument, None), format_type(*returns, None)))
}

pub fn format_type(oid: u32, typmod: Option<i64>) -> String {
    let typmod = typmod.filter(|m| *m >= 0);
    match oid {
        oids::BOOL => "boolean".to_string(),
        oids::BYTEA => "bytea".into(),
        oids::INT8 => "bigint".into(),
        oids::INT2 => "smallint".into(),
        oids::INT4 => "integer".into(),
        oids::TEXT => "text".into(),
        oids::OID => "oid".into(),
        oids::REGPROC => "regproc".into(),
        oids::JSON => "json".into(),
        oids::FLOAT4 => "real".into(),
        oids::FLOAT8 => "double precision".into(),
        oids::DATE => "date".into(),
        // A typmod below 4 (-1) carries no precision or length, as in PostgreSQL.
        oids::NUMERIC => match typmod.filter(|m| *m >= 4) {
            Some(m) => {
                let m = m - 4;
                format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
            }
            None => "numeric".into(),
        },
        oids::TIME | oids::TIMESTAMP | oids::TIMESTAMPTZ => {
            let (stem, zone) = match oid {
                oids::TIME => ("time", "without time zone"),
                oids::TIMESTAMP => ("timestamp", "without time zone"),
                _ => ("timestamp", "with time zone"),
            };
            match typmod {
                Some(p) => format!("{stem}({p}) {zone}"),
                None => format!("{stem} {zone}"),
            }
        }
        oids::INTERVAL => "interval".into(),
        19 => "name".into(),
        18 => "\"char\"".into(),
        1043 | 1042 => {
            let stem = if oid == 1043 {
                "character varying"
            } else {
                "character"
            };
            match typmod.filter(|m| *m >= 4) {
                Some(m) => format!("{stem}({})", m - 4),
                None => stem.into(),
            }
        }
        2275 => "cstring".into(),
        2281 => "internal".into(),
        other => match super::pg_type::element_of(other) {
            Some(element) => format!("{}[]", format_type(element, typmod)),
            None => "???".into(),
        },
    }
}

/// Registers the catalog functions for a session of `user`.
pub fn register_catalog_functions(ctx: &SessionContext, user: &str, may_insert: InsertCheck) {
    use DataType::*;
    let any = |n: usize| Signature::any(n, Volatility::Stable);
    let variadic = Signature::variadic_any(Volatility::Stable);
    let user = user.to_string();
    ctx.register_udtf("pg_get_keywords", Arc::new(super::keywords::Keywords));
    let owner = user.clone();
    ctx.register_udf(function("pg_get_userbyid", any(1), Utf8, move |args, _| {
        Ok(text(int_arg(args, 0).map(|oid| {
            let oid = u32::try_from(oid).unwrap_or(0);
            if oid == role_oid(OWNER_NAME) {
                OWNER_NAME.to_string()
            } else if oid == role_oid(&owner) {
                owner.clone()
            } else {
                format!("unknown (OID={oid})")
            }
        })))
    }));
    ctx.register_udf(function("pg_encoding_to_char", any(1), Utf8, |args, _| {
        Ok(text(int_arg(args, 0).map(|e| {
            match e {
                0 => "SQL_ASCII",
                6 => "UTF8",
                _ => "",
            }
            .to_string()
        })))
    }));
    ctx.register_udf(function("format_type", any(2), Utf8, |args, _| {
        Ok(text(int_arg(args, 0).map(|oid| {
            format_type(u32::try_from(oid).unwrap_or(0), int_arg(args, 1))
        })))
    }));
    ctx.register_udf(function("to_regtype", any(1), UInt32, |args, _| {
        Ok(ScalarValue::UInt32(text_arg(args, 0).and_then(|name| {
            super::pg_type::type_oid(&super::pg_type::typname_of(&name))
        })))
    }));
    for name in [
        "pg_get_serial_sequence",
        "pg_get_expr",
        "obj_description",
        "col_description",
        "shobj_description",
        "pg_get_constraintdef",
        "pg_get_indexdef",
        "pg_get_viewdef",
        "pg_get_triggerdef",
        "pg_get_statisticsobjdef_columns",
    ] {
        ctx.register_udf(function(name, variadic.clone(), Utf8, |_, _| {
            Ok(text(None))
        }));
    }
    // psql's `\df`: the signature of a pg_proc function, by OID.
    ctx.register_udf(function(
        "pg_get_function_result",
        any(1),
        Utf8,
        |args, _| Ok(text(function_signature(args).map(|(_, returns)| returns))),
    ));
    ctx.register_udf(function_also_named(
        "pg_get_function_arguments",
        &["pg_get_function_identity_arguments"],
        any(1),
        Utf8,
        |args, _| {
            Ok(text(
                function_signature(args).map(|(arguments, _)| arguments),
            ))
        },
    ));
    ctx.register_udf(function(
        "pg_relation_is_publishable",
        any(1),
        Boolean,
        |_, _| Ok(ScalarValue::Boolean(Some(false))),
    ));
    // Types and functions all live in pg_catalog, which every search path includes.
    ctx.register_udf(function(
        "json_build_object",
        variadic.clone(),
        Utf8,
        |args, _| {
            let mut object = serde_json::Map::new();
            for pair in args.chunks(2) {
                let key = match &pair[0] {
                    v if v.is_null() => return exec_err_null_key(),
                    v => text_arg(std::slice::from_ref(v), 0).unwrap_or_default(),
                };
                let value = match pair.get(1) {
                    None => return exec_err_odd(),
                    Some(v) if v.is_null() => serde_json::Value::Null,
                    Some(ScalarValue::Boolean(Some(b))) => serde_json::Value::Bool(*b),
                    Some(v) => match int_arg(std::slice::from_ref(v), 0) {
                        Some(n) if !matches!(v, ScalarValue::Utf8(_)) => serde_json::Value::from(n),
                        _ => serde_json::Value::String(
                            text_arg(std::slice::from_ref(v), 0).unwrap_or_default(),
                        ),
                    },
                };
                object.insert(key, value);
            }
            Ok(text(Some(serde_json::Value::Object(object).to_string())))
        },
    ));
    for name in [
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
    ] {
        ctx.register_udf(function(name, any(1), Boolean, |args, _| {
            Ok(ScalarValue::Boolean(int_arg(args, 0).map(|_| true)))
        }));
    }
    ctx.register_udf(function(
        "current_schemas",
        any(1),
        List(Arc::new(Field::new_list_field(Utf8, true))),
        |args, config| {
            let implicit = matches!(args.first(), Some(ScalarValue::Boolean(Some(true))));
            let mut builder = StringBuilder::new();
            if implicit {
                builder.append_value("pg_catalog");
            }
            builder.append_value(&config.catalog.default_schema);
            let values: ArrayRef = Arc::new(builder.finish());
            let list = ListArray::new(
                Arc::new(Field::new_list_field(Utf8, true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            );
            Ok(ScalarValue::List(Arc::new(list)))
        },
    ));
    // information_schema._pg_expandarray(array) is set-returning in PostgreSQL (one
    // (x, n) row per element). pgjdbc's getPrimaryKeys calls it on pg_index.indkey;
    // pg_index has no rows here, so it only ever sees NULL. As a scalar stand-in it
    // gives the first element and its position, and NULL for NULL or empty input.
    let expanded = Struct(vec![Field::new("x", Int32, true), Field::new("n", Int32, true)].into());
    let expanded_type = expanded.clone();
    ctx.register_udf(ScalarUDF::new_from_impl(CatalogFunction {
        name: "_pg_expandarray",
        aliases: vec!["information_schema._pg_expandarray".to_string()],
        signature: any(1),
        returns: expanded,
        body: Box::new(move |args, _| {
            let first = match args.first() {
                Some(ScalarValue::List(list)) if !list.is_null(0) && !list.value(0).is_empty() => {
                    ScalarValue::try_from_array(&list.value(0), 0)?
                        .cast_to(&Int32)
                        .ok()
                }
                _ => None,
            };
            match first {
                Some(x) => {
                    let DataType::Struct(fields) = &expanded_type else {
                        unreachable!("declared as a struct above")
                    };
                    let array = datafusion::arrow::array::StructArray::try_new(
                        fields.clone(),
                        vec![x.to_array()?, ScalarValue::Int32(Some(1)).to_array()?],
                        None,
                    )?;
                    Ok(ScalarValue::Struct(Arc::new(array)))
                }
                None => ScalarValue::try_from(&expanded_type),
            }
        }),
    }));
    ctx.register_udf(function("array_upper", any(2), Int32, |args, _| {
        let length = match args.first() {
            Some(ScalarValue::List(list)) if !list.is_null(0) => Some(list.value(0).len()),
            _ => None,
        };
        let dimension = int_arg(args, 1);
        Ok(ScalarValue::Int32(match (length, dimension) {
            (Some(n), Some(1)) if n > 0 => i32::try_from(n).ok(),
            _ => None,
        }))
    }));
    let catalogs = ctx.state().catalog_list().clone();
    let names = catalogs.clone();
    ctx.register_udf(function(
        "regclassout",
        any(1),
        Utf8,
        move |args, config| {
            Ok(text(int_arg(args, 0).map(|oid| {
                let oid = u32::try_from(oid).unwrap_or(0);
                relation_name(&names, config, oid).unwrap_or_else(|| oid.to_string())
            })))
        },
    ));
    let namespaces = catalogs.clone();
    ctx.register_udf(function(
        "regnamespaceout",
        any(1),
        Utf8,
        move |args, config| {
            Ok(text(int_arg(args, 0).map(|oid| {
                let oid = u32::try_from(oid).unwrap_or(0);
                namespace_name(&namespaces, config, oid).unwrap_or_else(|| oid.to_string())
            })))
        },
    ));
    let lookup = catalogs.clone();
    ctx.register_udf(function(
        "to_regclass",
        any(1),
        UInt32,
        move |args, config| {
            Ok(ScalarValue::UInt32(
                text_arg(args, 0).and_then(|name| relation_by_name(&lookup, config, &name)),
            ))
        },
    ));
    register_privileges(ctx, catalogs, user, may_insert);
}

/// The name of the relation with this OID in the session's catalog (pg_catalog's
/// tables included), as `regclass` prints it.
fn relation_name(
    catalogs: &Arc<dyn CatalogProviderList>,
    config: &ConfigOptions,
    oid: u32,
) -> Option<String> {
    if let Some((name, _)) = super::pg_class::CATALOG_TABLE_OIDS
        .iter()
        .find(|(_, o)| *o == oid)
    {
        return Some((*name).to_string());
    }
    let catalog_name = &config.catalog.default_catalog;
    let catalog = catalogs.catalog(catalog_name)?;
    for schema in catalog.schema_names() {
        let Some(provider) = catalog.schema(&schema) else {
            continue;
        };
        for table in provider.table_names() {
            if relation_oid(catalog_name, &schema, &table) == oid {
                return Some(if schema == config.catalog.default_schema {
                    table
                } else {
                    format!("{schema}.{table}")
                });
            }
        }
    }
    None
}

/// The name of the schema with this OID, as `regnamespace` prints it.
fn namespace_name(
    catalogs: &Arc<dyn CatalogProviderList>,
    config: &ConfigOptions,
    oid: u32,
) -> Option<String> {
    match oid {
        super::oids::PG_CATALOG_OID => return Some("pg_catalog".into()),
        super::oids::INFORMATION_SCHEMA_OID => return Some("information_schema".into()),
        _ => {}
    }
    let catalog_name = &config.catalog.default_catalog;
    catalogs
        .catalog(catalog_name)?
        .schema_names()
        .into_iter()
        .find(|schema| super::oids::stable_oid(&format!("{catalog_name}.{schema}")) == oid)
}

/// The OID of a readable table named `t`, `s.t` or `c.s.t`.
fn relation_by_name(
    catalogs: &Arc<dyn CatalogProviderList>,
    config: &ConfigOptions,
    name: &str,
) -> Option<u32> {
    let (catalog, schema, table) = split_name(config, name)?;
    let readable = catalogs
        .catalog(&catalog)
        .and_then(|c| c.schema(&schema))
        .is_some_and(|s| s.table_names().contains(&table));
    readable.then(|| relation_oid(&catalog, &schema, &table))
}

/// `t`, `s.t` or `c.s.t`, resolved against the session's defaults; quoted parts keep
/// their case.
pub fn split_name(config: &ConfigOptions, name: &str) -> Option<(String, String, String)> {
    let parts: Vec<String> = name
        .split('.')
        .map(
            |p| match p.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => p.to_ascii_lowercase(),
            },
        )
        .collect();
    let default_catalog = &config.catalog.default_catalog;
    let default_schema = &config.catalog.default_schema;
    Some(match parts.as_slice() {
        [t] => (default_catalog.clone(), default_schema.clone(), t.clone()),
        [s, t] => (default_catalog.clone(), s.clone(), t.clone()),
        [c, s, t] => (c.clone(), s.clone(), t.clone()),
        _ => return None,
    })
}

/// Whether the principal may INSERT into `catalog.schema.table`: the policy's `insert`
/// grant, on a table the gateway writes (Iceberg and Delta).
pub type InsertCheck = Arc<dyn Fn(&str, &str, &str) -> bool + Send + Sync>;

/// `has_*_privilege`: answered from the principal-filtered catalogs, which list only
/// what the policy lets the principal read, and for INSERT from the policy's `insert`
/// grants on tables the gateway writes; the user argument, when given, must be the
/// principal.
fn register_privileges(
    ctx: &SessionContext,
    catalogs: Arc<dyn CatalogProviderList>,
    user: String,
    may_insert: InsertCheck,
) {
    let table_catalogs = catalogs.clone();
    let table_user = user.clone();
    ctx.register_udf(function(
        "has_table_privilege",
        Signature::variadic_any(Volatility::Stable),
        DataType::Boolean,
        move |args, config| {
            let (object, privilege) = privilege_args(args, &table_user);
            let (Some(object), Some(privilege)) = (object, privilege) else {
                return Ok(ScalarValue::Boolean(None));
            };
            let Some((catalog, schema, table)) = visible_table(&table_catalogs, config, &object)
            else {
                return Ok(ScalarValue::Boolean(Some(false)));
            };
            // PostgreSQL answers a list of privileges with whether any is held.
            let held = privilege
                .split(',')
                .any(|p| match p.trim().to_ascii_uppercase().as_str() {
                    "SELECT" | "REFERENCES" => true,
                    "INSERT" => may_insert(&catalog, &schema, &table),
                    _ => false,
                });
            Ok(ScalarValue::Boolean(Some(held)))
        },
    ));
    let schema_catalogs = catalogs.clone();
    let schema_user = user.clone();
    ctx.register_udf(function(
        "has_schema_privilege",
        Signature::variadic_any(Volatility::Stable),
        DataType::Boolean,
        move |args, config| {
            let (object, privilege) = privilege_args(args, &schema_user);
            let (Some(schema), Some(privilege)) = (object, privilege) else {
                return Ok(ScalarValue::Boolean(None));
            };
            let usage = privilege.trim().eq_ignore_ascii_case("USAGE");
            let visible = schema == "pg_catalog"
                || schema == "information_schema"
                || schema_catalogs
                    .catalog(&config.catalog.default_catalog)
                    .is_some_and(|c| c.schema_names().contains(&schema));
            Ok(ScalarValue::Boolean(Some(usage && visible)))
        },
    ));
    ctx.register_udf(function(
        "has_database_privilege",
        Signature::variadic_any(Volatility::Stable),
        DataType::Boolean,
        move |args, _| {
            let (object, privilege) = privilege_args(args, &user);
            let (Some(database), Some(privilege)) = (object, privilege) else {
                return Ok(ScalarValue::Boolean(None));
            };
            // Sessions may connect to every catalog they see; nothing else is granted.
            let connect = privilege.trim().eq_ignore_ascii_case("CONNECT");
            Ok(ScalarValue::Boolean(Some(
                connect && catalogs.catalog(&database).is_some(),
            )))
        },
    ));
}

/// (object, privilege) of a `has_*_privilege` call with or without its user argument;
/// a call about another user answers for nobody (NULL object).
fn privilege_args(args: &[ScalarValue], user: &str) -> (Option<String>, Option<String>) {
    match args.len() {
        2 => (object_arg(args, 0), text_arg(args, 1)),
        3 => {
            let about = text_arg(args, 0);
            let same = about.as_deref().is_none_or(|u| u == user)
                || int_arg(args, 0).is_some_and(|oid| oid == i64::from(role_oid(user)));
            (
                if same { object_arg(args, 1) } else { None },
                text_arg(args, 2),
            )
        }
        _ => (None, None),
    }
}

/// An object argument: a name, or an OID written as `#oid`.
fn object_arg(args: &[ScalarValue], i: usize) -> Option<String> {
    match args.get(i)? {
        ScalarValue::Utf8(_) | ScalarValue::LargeUtf8(_) | ScalarValue::Utf8View(_) => {
            text_arg(args, i)
        }
        _ => int_arg(args, i).map(|oid| format!("#{oid}")),
    }
}

/// The table a `has_table_privilege` object names (`#oid` or a name), if the principal
/// can see it.
fn visible_table(
    catalogs: &Arc<dyn CatalogProviderList>,
    config: &ConfigOptions,
    object: &str,
) -> Option<(String, String, String)> {
    let default_catalog = &config.catalog.default_catalog;
    if let Some(oid) = object.strip_prefix('#') {
        let oid = oid.parse::<u32>().ok()?;
        let catalog = catalogs.catalog(default_catalog)?;
        return catalog.schema_names().into_iter().find_map(|schema| {
            let tables = catalog.schema(&schema)?.table_names();
            tables
                .into_iter()
                .find(|t| relation_oid(default_catalog, &schema, t) == oid)
                .map(|t| (default_catalog.clone(), schema.clone(), t))
        });
    }
    let (catalog, schema, table) = split_name(config, object)?;
    catalogs
        .catalog(&catalog)
        .and_then(|c| c.schema(&schema))
        .is_some_and(|s| s.table_names().contains(&table))
        .then_some((catalog, schema, table))
}
/// The name of a type by OID, as `regtype` prints it (`integer`, `numeric`).
pub fn regtype_name(oid: u32) -> String {
    format_type(oid, None)
}
