//! Time travel in Trino's syntax: `FROM t FOR VERSION AS OF <snapshot id>` and
//! `FROM t FOR TIMESTAMP AS OF <timestamp>`.
//!
//! sqlparser's PostgreSQL grammar has no table versions, so [`extract`] takes the clauses
//! out of the token stream before parsing, remembering the table-name token each one
//! follows; [`attach`] puts each on its table in the parsed statement (matched by
//! source position, never by text). At planning, [`resolve`] turns every versioned table
//! into the name of one pinned snapshot (`orders$snapshot=…`), so each reference in a
//! statement reads its own snapshot and policies apply to the base table.

use std::ops::ControlFlow;

use datafusion::arrow::array::{Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectNamePart, TableFactor, TableVersion, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};
use lakegate_catalog::delta::timestamp_name;
use lakegate_catalog::iceberg::names::snapshot_name;
use lakegate_catalog::{CatalogRegistry, CatalogType};

use crate::{ErrorKind, QueryError, Result};

/// One `FOR VERSION|TIMESTAMP AS OF expr` taken out of the token stream.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    /// Where the table name it follows ends.
    after: Location,
    version: TableVersion,
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Indices of the next `n` tokens that are not whitespace, from `start`.
fn next_significant(tokens: &[TokenWithSpan], start: usize, n: usize) -> Vec<usize> {
    tokens
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .take(n)
        .map(|(i, _)| i)
        .collect()
}

/// Takes every time-travel clause out of `tokens`.
pub(crate) fn extract(mut tokens: Vec<TokenWithSpan>) -> Result<(Vec<TokenWithSpan>, Vec<Clause>)> {
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let head = next_significant(&tokens, i, 4);
        let [for_, kind, as_, of] = head[..] else {
            break;
        };
        let is_clause = is_word(&tokens[for_].token, "for")
            && (is_word(&tokens[kind].token, "version")
                || is_word(&tokens[kind].token, "timestamp"))
            && is_word(&tokens[as_].token, "as")
            && is_word(&tokens[of].token, "of");
        if !is_clause {
            i = for_ + 1;
            continue;
        }
        let syntax = |message: String| QueryError::new(ErrorKind::Syntax, message);
        let keyword = if is_word(&tokens[kind].token, "version") {
            "VERSION"
        } else {
            "TIMESTAMP"
        };
        // The clause follows a table name: its last part ends where the clause starts.
        let before = tokens[..for_]
            .iter()
            .rposition(|t| !matches!(t.token, Token::Whitespace(_)))
            .filter(|&p| matches!(tokens[p].token, Token::Word(_)))
            .ok_or_else(|| syntax(format!("FOR {keyword} AS OF must follow a table name")))?;
        let after = tokens[before].span.end;
        // The expression ends where a parser of it stops.
        let dialect = PostgreSqlDialect {};
        let mut parser =
            Parser::new(&dialect).with_tokens_with_locations(tokens[of + 1..].to_vec());
        let expr = parser
            .parse_expr()
            .map_err(|e| syntax(format!("FOR {keyword} AS OF: {e}")))?;
        let end = of + 1 + parser.index();
        let version = match keyword {
            "VERSION" => TableVersion::VersionAsOf(expr),
            _ => TableVersion::TimestampAsOf(expr),
        };
        clauses.push(Clause { after, version });
        tokens.drain(for_..end.min(tokens.len()));
        i = for_;
    }
    Ok((tokens, clauses))
}

/// Puts each clause on the table whose name ends where the clause began.
pub(crate) fn attach(statement: &mut DFStatement, clauses: &mut Vec<Clause>) {
    if clauses.is_empty() {
        return;
    }
    struct Attach<'a>(&'a mut Vec<Clause>);
    impl VisitorMut for Attach<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, version, .. } = factor
                && let Some(ObjectNamePart::Identifier(last)) = name.0.last()
                && let Some(at) = self.0.iter().position(|c| c.after == last.span.end)
            {
                *version = Some(self.0.remove(at).version);
            }
            ControlFlow::Continue(())
        }
    }
    for_each_statement(statement, &mut |s| {
        let _ = s.visit(&mut Attach(clauses));
    });
}

fn for_each_statement(
    statement: &mut DFStatement,
    f: &mut dyn FnMut(&mut datafusion::sql::sqlparser::ast::Statement),
) {
    match statement {
        DFStatement::Statement(s) => f(s),
        DFStatement::Explain(explain) => for_each_statement(&mut explain.statement, f),
        _ => {}
    }
}

/// A versioned table reference, as written.
struct Versioned {
    parts: Vec<String>,
    version: TableVersion,
}

/// Replaces every versioned table with the name of the snapshot it reads.
pub(crate) async fn resolve(
    statement: &mut DFStatement,
    ctx: &SessionContext,
    registry: &CatalogRegistry,
) -> Result<()> {
    // Collect first: resolving is async, visiting is not.
    let mut found = Vec::new();
    for_each_statement(statement, &mut |s| {
        let _ = s.visit(&mut Collect(&mut found));
    });
    if found.is_empty() {
        return Ok(());
    }
    let options = ctx.state().config_options().clone();
    let mut names = Vec::with_capacity(found.len());
    for versioned in &found {
        let (catalog, schema, table) = match versioned.parts.as_slice() {
            [t] => (
                options.catalog.default_catalog.clone(),
                options.catalog.default_schema.clone(),
                t.clone(),
            ),
            [s, t] => (
                options.catalog.default_catalog.clone(),
                s.clone(),
                t.clone(),
            ),
            [c, s, t] => (c.clone(), s.clone(), t.clone()),
            _ => {
                return Err(QueryError::new(
                    ErrorKind::Syntax,
                    format!("improper table name {}", versioned.parts.join(".")),
                ));
            }
        };
        let unsupported = |other: &TableVersion| {
            QueryError::new(
                ErrorKind::FeatureNotSupported,
                format!("{other} is not supported; use FOR VERSION AS OF or FOR TIMESTAMP AS OF"),
            )
        };
        // Delta tables: a version number, or a time their log resolves when the table
        // is loaded.
        if registry.kind(&catalog) == Some(CatalogType::Delta) {
            names.push(match &versioned.version {
                TableVersion::VersionAsOf(expr) => {
                    let version = snapshot_id(expr)?;
                    if version < 0 {
                        return Err(QueryError::new(
                            ErrorKind::InvalidParameterValue,
                            format!("Delta table versions are not negative; got {version}"),
                        ));
                    }
                    snapshot_name(&table, version)
                }
                TableVersion::TimestampAsOf(expr) => {
                    timestamp_name(&table, evaluate_timestamp(ctx, expr).await?)
                }
                other => return Err(unsupported(other)),
            });
            continue;
        }
        let lake = registry.get(&catalog).ok_or_else(|| {
            QueryError::new(
                ErrorKind::FeatureNotSupported,
                format!(
                    "time travel needs an Iceberg or Delta table; {catalog}.{schema}.{table} \
                     is neither"
                ),
            )
        })?;
        let id = match &versioned.version {
            TableVersion::VersionAsOf(expr) => snapshot_id(expr)?,
            TableVersion::TimestampAsOf(expr) => {
                let millis = evaluate_timestamp(ctx, expr).await?;
                lake.lake
                    .snapshot_as_of(&schema, &table, millis)
                    .await
                    .map_err(|e| QueryError::new(ErrorKind::InvalidParameterValue, e.to_string()))?
            }
            other => return Err(unsupported(other)),
        };
        names.push(snapshot_name(&table, id));
    }
    let mut names = names.into_iter();
    for_each_statement(statement, &mut |s| {
        let _ = s.visit(&mut Rename(&mut names));
    });
    Ok(())
}

/// Table names are folded as DataFusion folds them: unquoted parts to lower case.
fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

struct Collect<'a>(&'a mut Vec<Versioned>);

impl VisitorMut for Collect<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            version: Some(version),
            ..
        } = factor
        {
            let parts = name
                .0
                .iter()
                .map(|p| match p {
                    ObjectNamePart::Identifier(i) => normalized(i),
                    other => other.to_string(),
                })
                .collect();
            self.0.push(Versioned {
                parts,
                version: version.clone(),
            });
        }
        ControlFlow::Continue(())
    }
}

struct Rename<'a>(&'a mut std::vec::IntoIter<String>);

impl VisitorMut for Rename<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, version, .. } = factor
            && version.is_some()
            && let Some(resolved) = self.0.next()
        {
            *version = None;
            if let Some(ObjectNamePart::Identifier(last)) = name.0.last_mut() {
                *last = Ident::with_quote('"', resolved);
            }
        }
        ControlFlow::Continue(())
    }
}

fn snapshot_id(expr: &Expr) -> Result<i64> {
    let number = match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<i64>().ok(),
            _ => None,
        },
        _ => None,
    };
    number.ok_or_else(|| {
        QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("FOR VERSION AS OF takes a snapshot id (an integer), not {expr}"),
        )
    })
}

/// Whether `plan`, or any subquery in it, scans a table.
fn reads_a_table(plan: &LogicalPlan) -> bool {
    let mut reads = false;
    let _ = plan.apply_with_subqueries(|node| {
        reads |= matches!(node, LogicalPlan::TableScan(_));
        Ok(match reads {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    });
    reads
}

/// Evaluates a constant timestamp expression (`TIMESTAMP '…'`, `now() - INTERVAL '1'
/// HOUR`, a string) to Unix epoch milliseconds; zoneless values are UTC.
async fn evaluate_timestamp(ctx: &SessionContext, expr: &Expr) -> Result<i64> {
    let bad = |detail: String| {
        QueryError::new(
            ErrorKind::InvalidParameterValue,
            format!("FOR TIMESTAMP AS OF {expr}: {detail}"),
        )
    };
    let plan = ctx
        .state()
        .create_logical_plan(&format!("SELECT CAST(({expr}) AS TIMESTAMP)"))
        .await
        .map_err(|e| bad(QueryError::from(e).message))?;
    // Evaluated here, during planning, outside admission, limits, budgets and the
    // audit record's table list: only a constant may be, never a read of a table.
    if reads_a_table(&plan) {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            format!(
                "FOR TIMESTAMP AS OF {expr}: the point in time must be a constant expression \
                 (a literal, now(), interval arithmetic); a subquery is not allowed"
            ),
        ));
    }
    let frame = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| bad(QueryError::from(e).message))?;
    let batches = frame
        .collect()
        .await
        .map_err(|e| bad(QueryError::from(e).message))?;
    let column = batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .map(|b| b.column(0).clone())
        .ok_or_else(|| bad("not a single value".into()))?;
    let millis = datafusion::arrow::compute::cast(
        &column,
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )
    .map_err(|e| bad(e.to_string()))?;
    let millis = millis
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .filter(|a| !a.is_null(0))
        .map(|a| a.value(0))
        .ok_or_else(|| bad("the timestamp is NULL".into()))?;
    Ok(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    fn parse(sql: &str) -> (DFStatement, Vec<Clause>) {
        let dialect = PostgreSqlDialect {};
        let tokens = Tokenizer::new(&dialect, sql)
            .tokenize_with_location()
            .expect("tokens");
        let (tokens, mut clauses) = extract(tokens).expect("extract");
        let mut parser = datafusion::sql::parser::DFParserBuilder::new(tokens)
            .with_dialect(&dialect)
            .build()
            .expect("parser");
        let mut statement = parser.parse_statement().expect("statement");
        attach(&mut statement, &mut clauses);
        (statement, clauses)
    }

    #[test]
    fn clauses_land_on_their_tables() {
        let (statement, left) = parse(
            "SELECT * FROM lake.tpch.orders FOR VERSION AS OF 42 o \
             JOIN nation FOR TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00' AS n ON true \
             WHERE o.o_orderkey = 1",
        );
        assert!(left.is_empty());
        let text = statement.to_string();
        // sqlparser displays the alias before the version.
        assert!(
            text.contains("lake.tpch.orders o VERSION AS OF 42"),
            "{text}"
        );
        assert!(
            text.contains("nation AS n TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00'"),
            "{text}"
        );
        assert!(text.contains("WHERE o.o_orderkey = 1"), "{text}");
    }

    #[test]
    fn a_clause_without_a_table_is_a_syntax_error() {
        let dialect = PostgreSqlDialect {};
        let tokens = Tokenizer::new(&dialect, "SELECT 1, FOR VERSION AS OF 3")
            .tokenize_with_location()
            .expect("tokens");
        let error = extract(tokens).expect_err("no table");
        assert_eq!(error.kind, ErrorKind::Syntax);
    }

    #[test]
    fn versions_are_integers() {
        let (statement, _) = parse("SELECT 1 FROM t FOR VERSION AS OF 7");
        let mut found = Vec::new();
        let mut statement = statement;
        for_each_statement(&mut statement, &mut |s| {
            let _ = s.visit(&mut Collect(&mut found));
        });
        assert_eq!(found.len(), 1);
        assert!(matches!(
            snapshot_id(match &found[0].version {
                TableVersion::VersionAsOf(e) => e,
                _ => panic!("version"),
            }),
            Ok(7)
        ));
    }
}
