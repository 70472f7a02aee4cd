//! The pg_catalog tables beyond pg_type, pg_namespace and pg_class: columns of every
//! readable table (pg_attribute), databases (the catalogs the principal reads), roles,
//! access methods, I/O functions, pg_tables, and the catalogs that are empty here
//! (constraints, indexes, defaults, descriptions…) with PostgreSQL's columns, so that
//! clients joining them get no rows rather than an error.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::CatalogProvider;
use datafusion::error::Result;

use super::oids::relation_oid;
use super::oids::{BOOTSTRAP_SUPERUSER, stable_oid};
use super::rows::{Col, V, table};
use super::type_map::{field_type_oid, type_modifier};

/// The name of the role that owns every object.
pub const OWNER_NAME: &str = "lakegate";

/// Catalog tables that exist with their columns but hold no rows here.
pub(super) const EMPTY_TABLES: &[&str] = &[
    "pg_attrdef",
    "pg_auth_members",
    "pg_collation",
    "pg_constraint",
    "pg_depend",
    "pg_description",
    "pg_enum",
    "pg_foreign_table",
    "pg_index",
    "pg_inherits",
    "pg_matviews",
    "pg_opclass",
    "pg_policy",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_range",
    "pg_rewrite",
    "pg_sequence",
    "pg_statistic_ext",
    "pg_trigger",
    "pg_views",
];

/// Columns of a catalog table, or `None` for names this module does not build.
pub(super) fn columns(name: &str) -> Option<&'static [(&'static str, Col)]> {
    use Col::*;
    Some(match name {
        "pg_attribute" => &[
            ("attrelid", Oid),
            ("attname", Text),
            ("atttypid", Oid),
            ("attstattarget", I32),
            ("attlen", I16),
            ("attnum", I16),
            ("attndims", I32),
            ("attcacheoff", I32),
            ("atttypmod", I32),
            ("attbyval", Bool),
            ("attalign", Text),
            ("attstorage", Text),
            ("attcompression", Text),
            ("attnotnull", Bool),
            ("atthasdef", Bool),
            ("atthasmissing", Bool),
            ("attidentity", Text),
            ("attgenerated", Text),
            ("attisdropped", Bool),
            ("attislocal", Bool),
            ("attinhcount", I32),
            ("attcollation", Oid),
            ("attacl", TextArray),
            ("attoptions", TextArray),
            ("attfdwoptions", Text),
            ("attmissingval", Text),
        ],
        "pg_am" => &[
            ("oid", Oid),
            ("amname", Text),
            ("amhandler", Text),
            ("amtype", Text),
        ],
        "pg_database" => &[
            ("oid", Oid),
            ("datname", Text),
            ("datdba", Oid),
            ("encoding", I32),
            ("datlocprovider", Text),
            ("datistemplate", Bool),
            ("datallowconn", Bool),
            ("datconnlimit", I32),
            ("datfrozenxid", I64),
            ("datminmxid", I64),
            ("dattablespace", Oid),
            ("datcollate", Text),
            ("datctype", Text),
            ("daticulocale", Text),
            ("datcollversion", Text),
            ("datacl", TextArray),
        ],
        "pg_roles" => &[
            ("rolname", Text),
            ("rolsuper", Bool),
            ("rolinherit", Bool),
            ("rolcreaterole", Bool),
            ("rolcreatedb", Bool),
            ("rolcanlogin", Bool),
            ("rolreplication", Bool),
            ("rolconnlimit", I32),
            ("rolpassword", Text),
            ("rolvaliduntil", Text),
            ("rolbypassrls", Bool),
            ("rolconfig", TextArray),
            ("oid", Oid),
        ],
        "pg_user" => &[
            ("usename", Text),
            ("usesysid", Oid),
            ("usecreatedb", Bool),
            ("usesuper", Bool),
            ("userepl", Bool),
            ("usebypassrls", Bool),
            ("passwd", Text),
            ("valuntil", Text),
            ("useconfig", TextArray),
        ],
        "pg_settings" => &[
            ("name", Text),
            ("setting", Text),
            ("unit", Text),
            ("category", Text),
            ("short_desc", Text),
            ("extra_desc", Text),
            ("context", Text),
            ("vartype", Text),
            ("source", Text),
            ("min_val", Text),
            ("max_val", Text),
            ("enumvals", TextArray),
            ("boot_val", Text),
            ("reset_val", Text),
            ("sourcefile", Text),
            ("sourceline", I32),
            ("pending_restart", Bool),
        ],
        "pg_stat_user_tables" => &[
            ("relid", Oid),
            ("schemaname", Text),
            ("relname", Text),
            ("seq_scan", I64),
            ("seq_tup_read", I64),
            ("idx_scan", I64),
            ("idx_tup_fetch", I64),
            ("n_tup_ins", I64),
            ("n_tup_upd", I64),
            ("n_tup_del", I64),
            ("n_live_tup", I64),
            ("n_dead_tup", I64),
        ],
        "pg_tables" => &[
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
        "pg_proc" => &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("procost", F32),
            ("prorows", F32),
            ("provariadic", Oid),
            ("prosupport", Text),
            ("prokind", Text),
            ("prosecdef", Bool),
            ("proleakproof", Bool),
            ("proisstrict", Bool),
            ("proretset", Bool),
            ("provolatile", Text),
            ("proparallel", Text),
            ("pronargs", I16),
            ("pronargdefaults", I16),
            ("prorettype", Oid),
            ("proargtypes", Text),
            ("proallargtypes", Text),
            ("proargmodes", Text),
            ("proargnames", Text),
            ("proargdefaults", Text),
            ("protrftypes", Text),
            ("prosrc", Text),
            ("probin", Text),
            ("prosqlbody", Text),
            ("proconfig", TextArray),
            ("proacl", TextArray),
        ],
        "pg_attrdef" => &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", I16),
            ("adbin", Text),
        ],
        "pg_auth_members" => &[
            ("oid", Oid),
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ],
        "pg_collation" => &[
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Text),
            ("collisdeterministic", Bool),
            ("collencoding", I32),
            ("collcollate", Text),
            ("collctype", Text),
        ],
        "pg_constraint" => &[
            ("oid", Oid),
            ("conname", Text),
            ("connamespace", Oid),
            ("contype", Text),
            ("condeferrable", Bool),
            ("condeferred", Bool),
            ("convalidated", Bool),
            ("conrelid", Oid),
            ("contypid", Oid),
            ("conindid", Oid),
            ("conparentid", Oid),
            ("confrelid", Oid),
            ("confupdtype", Text),
            ("confdeltype", Text),
            ("confmatchtype", Text),
            ("conislocal", Bool),
            ("coninhcount", I32),
            ("connoinherit", Bool),
            ("conkey", I16Array),
            ("confkey", I16Array),
            ("conbin", Text),
        ],
        "pg_depend" => &[
            ("classid", Oid),
            ("objid", Oid),
            ("objsubid", I32),
            ("refclassid", Oid),
            ("refobjid", Oid),
            ("refobjsubid", I32),
            ("deptype", Text),
        ],
        "pg_description" => &[
            ("objoid", Oid),
            ("classoid", Oid),
            ("objsubid", I32),
            ("description", Text),
        ],
        "pg_enum" => &[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", F32),
            ("enumlabel", Text),
        ],
        "pg_foreign_table" => &[("ftrelid", Oid), ("ftserver", Oid), ("ftoptions", Text)],
        "pg_index" => &[
            ("indexrelid", Oid),
            ("indrelid", Oid),
            ("indnatts", I16),
            ("indnkeyatts", I16),
            ("indisunique", Bool),
            ("indisprimary", Bool),
            ("indisexclusion", Bool),
            ("indimmediate", Bool),
            ("indisclustered", Bool),
            ("indisvalid", Bool),
            ("indcheckxmin", Bool),
            ("indisready", Bool),
            ("indislive", Bool),
            ("indisreplident", Bool),
            ("indnullsnotdistinct", Bool),
            ("indkey", I16Array),
            ("indcollation", OidArray),
            ("indclass", OidArray),
            ("indoption", I16Array),
            ("indexprs", Text),
            ("indpred", Text),
        ],
        "pg_opclass" => &[
            ("oid", Oid),
            ("opcmethod", Oid),
            ("opcname", Text),
            ("opcnamespace", Oid),
            ("opcowner", Oid),
            ("opcfamily", Oid),
            ("opcintype", Oid),
            ("opcdefault", Bool),
            ("opckeytype", Oid),
        ],
        "pg_inherits" => &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", I32),
            ("inhdetachpending", Bool),
        ],
        "pg_matviews" => &[
            ("schemaname", Text),
            ("matviewname", Text),
            ("matviewowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("ispopulated", Bool),
            ("definition", Text),
        ],
        "pg_policy" => &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
        "pg_publication" => &[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
        "pg_publication_namespace" => &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
        "pg_publication_rel" => &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", I16Array),
        ],
        "pg_range" => &[
            ("rngtypid", Oid),
            ("rngsubtype", Oid),
            ("rngmultitypid", Oid),
            ("rngcollation", Oid),
            ("rngsubopc", Oid),
            ("rngcanonical", Text),
            ("rngsubdiff", Text),
        ],
        "pg_rewrite" => &[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
            ("ev_enabled", Text),
            ("is_instead", Bool),
            ("ev_qual", Text),
            ("ev_action", Text),
        ],
        "pg_sequence" => &[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", I64),
            ("seqincrement", I64),
            ("seqmax", I64),
            ("seqmin", I64),
            ("seqcache", I64),
            ("seqcycle", Bool),
        ],
        "pg_statistic_ext" => &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", I32),
            ("stxkeys", I16Array),
            ("stxkind", TextArray),
            ("stxexprs", Text),
        ],
        "pg_trigger" => &[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Text),
            ("tgfoid", Oid),
            ("tgtype", I16),
            ("tgenabled", Text),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", I16),
            ("tgattr", Text),
            ("tgargs", Text),
            ("tgqual", Text),
            ("tgoldtable", Text),
            ("tgnewtable", Text),
        ],
        "pg_views" => &[
            ("schemaname", Text),
            ("viewname", Text),
            ("viewowner", Text),
            ("definition", Text),
        ],
        _ => return None,
    })
}

/// A table the principal may read.
pub(super) struct ReadableTable {
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) kind: datafusion::datasource::TableType,
    /// Its readable columns (denied ones are already gone).
    pub(super) columns: datafusion::arrow::datatypes::SchemaRef,
}

/// The readable tables of one catalog's own schemas, sorted by schema and name, from
/// the one listing Flight SQL's metadata commands use too (crate::listing): behind
/// pg_class, pg_attribute, pg_tables and information_schema.
pub(super) async fn readable_tables(
    provider: &Arc<dyn CatalogProvider>,
) -> Result<Vec<ReadableTable>> {
    let listed = crate::listing::catalog_tables("", provider).await?;
    Ok(listed
        .into_iter()
        .filter_map(|table| {
            let kind = match table.table_type {
                "VIEW" => datafusion::datasource::TableType::View,
                "LOCAL TEMPORARY" => datafusion::datasource::TableType::Temporary,
                _ => datafusion::datasource::TableType::Base,
            };
            Some(ReadableTable {
                schema: table.schema,
                name: table.table,
                kind,
                columns: table.columns?,
            })
        })
        .collect())
}

/// `pg_description`: each readable column with classification tags is described by
/// them (`tags: PII, FINANCIAL`), as column comments are, so BI tools show them.
pub(super) async fn descriptions(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
    tags: Option<&super::column_tags::ColumnTags>,
) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    if let Some(tags) = tags {
        for table in readable_tables(provider).await? {
            let relation = relation_oid(catalog, &table.schema, &table.name);
            let full = format!("{catalog}.{}.{}", table.schema, table.name);
            for (i, field) in table.columns.fields().iter().enumerate() {
                let column_tags = (tags.0)(&full, field.name());
                if column_tags.is_empty() {
                    continue;
                }
                rows.push(vec![
                    V::Oid(relation),
                    V::Oid(super::oids::PG_CLASS_OID),
                    V::I32(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                    format!("tags: {}", column_tags.join(", ")).into(),
                ]);
            }
        }
    }
    table(columns("pg_description").unwrap_or(&[]), &rows)
}

/// `pg_attribute`: one row per readable column (denied columns are already gone).
pub(super) async fn attributes(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for table in readable_tables(provider).await? {
        let relation = relation_oid(catalog, &table.schema, &table.name);
        for (i, field) in table.columns.fields().iter().enumerate() {
            let type_oid = field_type_oid(field);
            let (len, by_value, align) = storage(type_oid);
            let text_like = type_oid == super::type_map::oids::TEXT;
            rows.push(vec![
                V::Oid(relation),
                field.name().as_str().into(),
                V::Oid(type_oid),
                V::I32(-1),
                V::I16(len),
                V::I16(i16::try_from(i + 1).unwrap_or(i16::MAX)),
                V::I32(i32::from(
                    super::type_map::list_element(field.data_type()).is_some(),
                )),
                V::I32(-1),
                V::I32(type_modifier(field.data_type())),
                by_value.into(),
                align.into(),
                (if len == -1 { "x" } else { "p" }).into(),
                "".into(),
                (!field.is_nullable()).into(),
                false.into(),
                false.into(),
                "".into(),
                "".into(),
                false.into(),
                true.into(),
                V::I32(0),
                V::Oid(if text_like { 100 } else { 0 }),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
            ]);
        }
    }
    table(columns("pg_attribute").unwrap_or(&[]), &rows)
}

/// typlen, typbyval and typalign of the types columns are sent as.
fn storage(type_oid: u32) -> (i16, bool, &'static str) {
    use super::type_map::oids::*;
    match type_oid {
        BOOL => (1, true, "c"),
        INT2 => (2, true, "s"),
        INT4 | DATE | FLOAT4 | OID => (4, true, "i"),
        INT8 | FLOAT8 | TIME | TIMESTAMP | TIMESTAMPTZ => (8, true, "d"),
        INTERVAL => (16, false, "d"),
        _ => (-1, false, "i"),
    }
}

/// `pg_tables`: the readable tables of this catalog.
pub(super) async fn pg_tables(provider: &Arc<dyn CatalogProvider>) -> Result<RecordBatch> {
    let rows: Vec<Vec<V>> = readable_tables(provider)
        .await?
        .into_iter()
        .map(|table| {
            vec![
                table.schema.into(),
                table.name.into(),
                OWNER_NAME.into(),
                V::Null,
                false.into(),
                false.into(),
                false.into(),
                false.into(),
            ]
        })
        .collect();
    table(columns("pg_tables").unwrap_or(&[]), &rows)
}

/// PostgreSQL's preset options (read-only, fixed when the server was built) that
/// clients read from pg_settings: pgjdbc sizes key lookups by max_index_keys.
const PRESET_OPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "block_size",
        "8192",
        "integer",
        "Shows the size of a disk block.",
    ),
    (
        "integer_datetimes",
        "on",
        "bool",
        "Shows whether datetimes are integer based.",
    ),
    (
        "max_function_args",
        "100",
        "integer",
        "Shows the maximum number of function arguments.",
    ),
    (
        "max_identifier_length",
        "63",
        "integer",
        "Shows the maximum identifier length.",
    ),
    (
        "max_index_keys",
        "32",
        "integer",
        "Shows the maximum number of index keys.",
    ),
    (
        "server_encoding",
        "UTF8",
        "string",
        "Shows the server (database) character set encoding.",
    ),
];

/// `pg_settings`: the session's parameters, as SHOW ALL lists them, then the preset
/// options the session does not already name.
pub(super) fn settings(parameters: &[(String, String, String)]) -> Result<RecordBatch> {
    let session = parameters.iter().map(|(name, value, description)| {
        (
            name.as_str(),
            value.as_str(),
            "string",
            description.as_str(),
            false,
        )
    });
    let presets = PRESET_OPTIONS
        .iter()
        .filter(|(name, ..)| !parameters.iter().any(|(n, ..)| n == name))
        .map(|(name, value, vartype, description)| (*name, *value, *vartype, *description, true));
    let rows: Vec<Vec<V>> = session
        .chain(presets)
        .map(|(name, value, vartype, description, preset)| {
            let (category, context) = if preset {
                ("Preset Options", "internal")
            } else {
                ("Client Connection Defaults", "user")
            };
            vec![
                name.into(),
                value.into(),
                V::Null,
                category.into(),
                description.into(),
                V::Null,
                context.into(),
                vartype.into(),
                (if preset { "default" } else { "session" }).into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                false.into(),
            ]
        })
        .collect();
    table(columns("pg_settings").unwrap_or(&[]), &rows)
}

/// `pg_stat_user_tables`: one row per readable table. The gateway keeps no access
/// statistics, so the counters are NULL (unknown) rather than invented zeros.
pub(super) async fn table_statistics(
    catalog: &str,
    provider: &Arc<dyn CatalogProvider>,
) -> Result<RecordBatch> {
    let rows: Vec<Vec<V>> = readable_tables(provider)
        .await?
        .into_iter()
        .map(|t| {
            let mut row = vec![
                V::Oid(relation_oid(catalog, &t.schema, &t.name)),
                t.schema.into(),
                t.name.into(),
            ];
            row.resize(12, V::Null);
            row
        })
        .collect();
    table(columns("pg_stat_user_tables").unwrap_or(&[]), &rows)
}

/// `pg_am`: the heap and btree access methods clients join with.
pub(super) fn access_methods() -> Result<RecordBatch> {
    let rows = vec![
        vec![
            V::Oid(2),
            "heap".into(),
            "heap_tableam_handler".into(),
            "t".into(),
        ],
        vec![V::Oid(403), "btree".into(), "bthandler".into(), "i".into()],
    ];
    table(columns("pg_am").unwrap_or(&[]), &rows)
}

/// `pg_database`: the catalogs the principal reads, as databases.
pub(super) fn databases(catalogs: &[String]) -> Result<RecordBatch> {
    let rows: Vec<Vec<V>> = catalogs
        .iter()
        .map(|name| {
            vec![
                V::Oid(database_oid(name)),
                name.as_str().into(),
                V::Oid(BOOTSTRAP_SUPERUSER),
                V::I32(6),
                "c".into(),
                false.into(),
                true.into(),
                V::I32(-1),
                V::I64(0),
                V::I64(1),
                V::Oid(1663),
                "C.UTF-8".into(),
                "C.UTF-8".into(),
                V::Null,
                V::Null,
                V::Null,
            ]
        })
        .collect();
    table(columns("pg_database").unwrap_or(&[]), &rows)
}

/// The OID of a catalog seen as a database.
pub fn database_oid(catalog: &str) -> u32 {
    stable_oid(&format!("database:{catalog}"))
}

/// The OID of a role (a user of the gateway).
pub fn role_oid(name: &str) -> u32 {
    if name == OWNER_NAME {
        BOOTSTRAP_SUPERUSER
    } else {
        stable_oid(&format!("role:{name}"))
    }
}

/// `pg_roles`: the owner of every object, and the connected user.
pub(super) fn roles(user: &str) -> Result<RecordBatch> {
    let rows: Vec<Vec<V>> = role_names(user)
        .into_iter()
        .map(|(name, superuser)| {
            vec![
                name.as_str().into(),
                superuser.into(),
                true.into(),
                false.into(),
                false.into(),
                (!superuser).into(),
                false.into(),
                V::I32(-1),
                "********".into(),
                V::Null,
                false.into(),
                V::Null,
                V::Oid(role_oid(&name)),
            ]
        })
        .collect();
    table(columns("pg_roles").unwrap_or(&[]), &rows)
}

/// `pg_user`: the same roles, as users.
pub(super) fn users(user: &str) -> Result<RecordBatch> {
    let rows: Vec<Vec<V>> = role_names(user)
        .into_iter()
        .map(|(name, superuser)| {
            vec![
                name.as_str().into(),
                V::Oid(role_oid(&name)),
                false.into(),
                superuser.into(),
                false.into(),
                false.into(),
                "********".into(),
                V::Null,
                V::Null,
            ]
        })
        .collect();
    table(columns("pg_user").unwrap_or(&[]), &rows)
}

fn role_names(user: &str) -> Vec<(String, bool)> {
    let mut names = vec![(OWNER_NAME.to_string(), true)];
    if user != OWNER_NAME {
        names.push((user.to_string(), false));
    }
    names
}

/// `pg_proc`: the I/O functions of every type in pg_type (so that a join on
/// `typreceive` finds its function), with stable OIDs.
pub(super) fn procedures(type_io: &[super::pg_type::IoFunction]) -> Result<RecordBatch> {
    let mut seen = std::collections::BTreeMap::new();
    for function in type_io {
        seen.entry(function.name.clone())
            .or_insert((function.argument, function.returns));
    }
    let rows: Vec<Vec<V>> = seen
        .into_iter()
        .map(|(name, (argument, returns))| {
            vec![
                V::Oid(super::oids::regproc_oid(&name)),
                name.into(),
                V::Oid(super::oids::PG_CATALOG_OID),
                V::Oid(BOOTSTRAP_SUPERUSER),
                V::Oid(12),
                V::F32(1.0),
                V::F32(0.0),
                V::Oid(0),
                "-".into(),
                "f".into(),
                false.into(),
                false.into(),
                true.into(),
                false.into(),
                "i".into(),
                "s".into(),
                V::I16(1),
                V::I16(0),
                V::Oid(returns),
                // oidvector, as PostgreSQL prints it.
                argument.to_string().into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                V::Null,
                "internal".into(),
                V::Null,
                V::Null,
                V::Null,
                V::Null,
            ]
        })
        .collect();
    table(columns("pg_proc").unwrap_or(&[]), &rows)
}

/// An empty catalog table with its columns.
pub(super) fn empty(name: &str) -> Option<Result<RecordBatch>> {
    columns(name).map(|cols| table(cols, &[]))
}

/// The tables of pg_catalog built from the live catalog or from constants; the empty
/// ones are in [`EMPTY_TABLES`].
const BUILT_TABLES: &[&str] = &[
    "pg_am",
    "pg_settings",
    "pg_stat_user_tables",
    "pg_attribute",
    "pg_class",
    "pg_database",
    "pg_namespace",
    "pg_proc",
    "pg_roles",
    "pg_tables",
    "pg_type",
    "pg_user",
];

/// Whether `name` is a table of pg_catalog.
pub(super) fn is_catalog_table(name: &str) -> bool {
    BUILT_TABLES.contains(&name) || EMPTY_TABLES.contains(&name)
}

/// All tables of pg_catalog.
pub(super) fn catalog_table_names() -> impl Iterator<Item = &'static str> {
    BUILT_TABLES.iter().chain(EMPTY_TABLES.iter()).copied()
}

/// The columns of pg_namespace.
pub(super) fn namespace_schema() -> datafusion::arrow::datatypes::SchemaRef {
    Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        super::oids::oid_field("oid"),
        datafusion::arrow::datatypes::Field::new(
            "nspname",
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        ),
        super::oids::oid_field("nspowner"),
        datafusion::arrow::datatypes::Field::new(
            "nspacl",
            datafusion::arrow::datatypes::DataType::Utf8,
            true,
        ),
    ]))
}
