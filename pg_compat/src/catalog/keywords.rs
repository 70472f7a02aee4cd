//! `pg_get_keywords()`: the SQL keywords this server's parser knows, with PostgreSQL's
//! columns (pgjdbc's `DatabaseMetaData.getSQLKeywords` reads it).

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

/// The words PostgreSQL reserves (catcode `R`); every other keyword is unreserved here.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "system_user",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// The table function behind `pg_get_keywords()`.
#[derive(Debug)]
pub(super) struct Keywords;

impl TableFunctionImpl for Keywords {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        if !args.is_empty() {
            return Err(DataFusionError::Plan(
                "pg_get_keywords() takes no arguments".into(),
            ));
        }
        let words: Vec<String> = ALL_KEYWORDS
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let reserved = |w: &String| RESERVED.contains(&w.as_str());
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("catcode", DataType::Utf8, false),
            Field::new("barelabel", DataType::Boolean, false),
            Field::new("catdesc", DataType::Utf8, false),
            Field::new("baredesc", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(&words)),
                Arc::new(StringArray::from_iter_values(
                    words.iter().map(|w| if reserved(w) { "R" } else { "U" }),
                )),
                Arc::new(BooleanArray::from(vec![true; words.len()])),
                Arc::new(StringArray::from_iter_values(words.iter().map(|w| {
                    if reserved(w) {
                        "reserved"
                    } else {
                        "unreserved"
                    }
                }))),
                Arc::new(StringArray::from(vec!["can be bare label"; words.len()])),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
