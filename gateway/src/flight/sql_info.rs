//! What the gateway tells Flight SQL clients about itself: `CommandGetSqlInfo` (server
//! name, version, SQL capabilities) and `CommandGetXdbcTypeInfo` (the SQL types it
//! returns, with their Arrow and ODBC/JDBC equivalents).

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransaction, SqlSupportsConvert, XdbcDataType, XdbcDatetimeSubcode,
};

/// The server's SqlInfo table.
pub(crate) fn sql_info() -> anyhow::Result<SqlInfoData> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "lakegate");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, arrow_version());
    // INSERT and CREATE TABLE [AS] write into Iceberg tables.
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    // Listings only show tables the principal may read.
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, KEYWORDS);
    b.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    b.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    b.append(SqlInfo::SqlSystemFunctions, SYSTEM_FUNCTIONS);
    b.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(
        SqlInfo::SqlSupportsConvert,
        std::collections::BTreeMap::from([(
            SqlSupportsConvert::SqlConvertBigint as i32,
            vec![
                SqlSupportsConvert::SqlConvertInteger as i32,
                SqlSupportsConvert::SqlConvertVarchar as i32,
                SqlSupportsConvert::SqlConvertDecimal as i32,
                SqlSupportsConvert::SqlConvertFloat as i32,
            ],
        )]),
    );
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlMaxColumnNameLength, 63i64);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    Ok(b.build()?)
}

/// The arrow version this build encodes with.
fn arrow_version() -> &'static str {
    "58"
}

const KEYWORDS: &[&str] = &[
    "ANALYZE", "ASOF", "CATALOG", "DESCRIBE", "EXPLAIN", "ILIKE", "LIMIT", "OFFSET", "QUALIFY",
    "SHOW", "UNNEST",
];
const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "degrees", "exp", "floor", "ln", "log",
    "log10", "log2", "mod", "pi", "power", "radians", "random", "round", "sign", "sin", "sqrt",
    "tan", "trunc",
];
const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "btrim",
    "char_length",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "md5",
    "octet_length",
    "position",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "to_hex",
    "translate",
    "trim",
    "upper",
];
const SYSTEM_FUNCTIONS: &[&str] = &[
    "current_catalog",
    "current_database",
    "current_schema",
    "current_user",
    "version",
];
const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "date_bin",
    "date_part",
    "date_trunc",
    "extract",
    "from_unixtime",
    "now",
    "to_char",
    "to_date",
    "to_timestamp",
];

/// One type row.
fn type_row(
    name: &str,
    data_type: XdbcDataType,
    column_size: Option<i32>,
    quoted: bool,
    scale: Option<(i32, i32)>,
    subcode: Option<XdbcDatetimeSubcode>,
) -> XdbcTypeInfo {
    let numeric = matches!(
        data_type,
        XdbcDataType::XdbcTinyint
            | XdbcDataType::XdbcSmallint
            | XdbcDataType::XdbcInteger
            | XdbcDataType::XdbcBigint
            | XdbcDataType::XdbcReal
            | XdbcDataType::XdbcFloat
            | XdbcDataType::XdbcDouble
            | XdbcDataType::XdbcDecimal
    );
    let (sql_data_type, datetime_subcode) = match subcode {
        Some(code) => (XdbcDataType::XdbcDatetime, Some(code)),
        None => (data_type, None),
    };
    XdbcTypeInfo {
        type_name: name.into(),
        data_type,
        column_size,
        literal_prefix: quoted.then(|| "'".into()),
        literal_suffix: quoted.then(|| "'".into()),
        create_params: scale.map(|_| vec!["precision".into(), "scale".into()]),
        nullable: Nullable::NullabilityNullable,
        case_sensitive: quoted && subcode.is_none(),
        searchable: if quoted {
            Searchable::Full
        } else {
            Searchable::Basic
        },
        unsigned_attribute: numeric.then_some(false),
        fixed_prec_scale: scale.is_some(),
        auto_increment: numeric.then_some(false),
        local_type_name: Some(name.into()),
        minimum_scale: scale.map(|(min, _)| min),
        maximum_scale: scale.map(|(_, max)| max),
        sql_data_type,
        datetime_subcode,
        num_prec_radix: numeric.then_some(10),
        interval_precision: None,
    }
}

/// The SQL types query results use, with their PostgreSQL names.
pub(crate) fn xdbc_type_info() -> anyhow::Result<XdbcTypeInfoData> {
    use XdbcDataType as T;
    use XdbcDatetimeSubcode as S;
    let mut b = XdbcTypeInfoDataBuilder::new();
    for row in [
        type_row("boolean", T::XdbcBit, Some(1), false, None, None),
        type_row("smallint", T::XdbcSmallint, Some(5), false, None, None),
        type_row("integer", T::XdbcInteger, Some(10), false, None, None),
        type_row("bigint", T::XdbcBigint, Some(19), false, None, None),
        type_row("real", T::XdbcReal, Some(7), false, None, None),
        type_row(
            "double precision",
            T::XdbcDouble,
            Some(15),
            false,
            None,
            None,
        ),
        type_row(
            "numeric",
            T::XdbcDecimal,
            Some(76),
            false,
            Some((0, 76)),
            None,
        ),
        type_row("text", T::XdbcVarchar, None, true, None, None),
        type_row("bytea", T::XdbcVarbinary, None, true, None, None),
        // ODBC SQL_CODE_DATE is 1, which the proto aliases as XDBC_SUBCODE_YEAR.
        type_row(
            "date",
            T::XdbcDate,
            Some(10),
            true,
            None,
            Some(S::XdbcSubcodeYear),
        ),
        type_row(
            "time",
            T::XdbcTime,
            Some(15),
            true,
            None,
            Some(S::XdbcSubcodeTime),
        ),
        type_row(
            "timestamp",
            T::XdbcTimestamp,
            Some(26),
            true,
            None,
            Some(S::XdbcSubcodeTimestamp),
        ),
        type_row(
            "timestamp with time zone",
            T::XdbcTimestamp,
            Some(32),
            true,
            None,
            Some(S::XdbcSubcodeTimestampWithTimezone),
        ),
        type_row("interval", T::XdbcInterval, None, true, None, None),
    ] {
        b.append(row);
    }
    Ok(b.build()?)
}
