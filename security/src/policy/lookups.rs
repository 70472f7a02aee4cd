//! Row filters that look things up: the tables a filter's subqueries read (an
//! entitlements table, the customer an order follows), named in full, and the refusal
//! at load of filters that look each other up in a circle.

use datafusion::sql::sqlparser::ast::{Expr, visit_expressions, visit_relations};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{RowFilterRule, pattern};

/// The tables `expression`'s subqueries read, `catalog.schema.table` (lowercased), or
/// why they cannot be told: a lookup must name its table in full, since the filter
/// applies in every session whatever its search path.
pub fn lookup_tables(expression: &str) -> Result<Vec<String>, String> {
    let text = substitute_attributes(expression, |_| Ok("NULL".into()))?;
    let parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| format!("cannot parse {expression:?}: {e}"))?;
    let mut has_subquery = false;
    let _ = visit_expressions(&parsed, |e| {
        has_subquery |= matches!(
            e,
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
        );
        std::ops::ControlFlow::<()>::Continue(())
    });
    if !has_subquery {
        return Ok(Vec::new());
    }
    let mut tables = Vec::new();
    let mut problem = None;
    let _ = visit_relations(&parsed, |name| {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|part| match part.as_ident() {
                Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
                Some(ident) => ident.value.to_lowercase(),
                None => part.to_string(),
            })
            .collect();
        if parts.len() == 3 {
            tables.push(parts.join("."));
        } else if problem.is_none() {
            problem = Some(format!(
                "the lookup reads {name}: name it in full (catalog.schema.table)"
            ));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    match problem {
        Some(problem) => Err(problem),
        None => Ok(tables),
    }
}

/// The query that plans row filter `expression` over `table` (`catalog.schema.table`):
/// `SELECT * FROM "c"."s"."t" WHERE (expression)`, each `${user.ATTR}` replaced by
/// what `bind` gives for `ATTR` (a parameter, or a value to type-check with).
pub fn lookup_sql(
    table: &str,
    expression: &str,
    mut bind: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let text = substitute_attributes(expression, &mut bind)?;
    let quoted: Vec<String> = table
        .splitn(3, '.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect();
    Ok(format!("SELECT * FROM {} WHERE ({text})", quoted.join(".")))
}

/// `text` with each `${user.ATTR}` replaced by what `bind` gives for `ATTR`: the one
/// reader of attribute references, for lookups and for filters over a table's own
/// columns. A reference that is unterminated, not `user.`, or not a plain name is
/// refused, naming it.
pub fn substitute_attributes(
    text: &str,
    mut bind: impl FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in {text:?}"))?;
        let reference = &after[..end];
        let name = reference.strip_prefix("user.").ok_or_else(|| {
            format!("only ${{user.ATTRIBUTE}} references are allowed, found ${{{reference}}}")
        })?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid attribute name {name:?}"));
        }
        out.push_str(&bind(name)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Refuses filters whose lookups lead back to themselves (`orders` looks up
/// `customer`, whose filter looks up `orders`): such a filter could never be planned.
/// The error names the first rule of the circle by `file:line` and the way round.
pub(crate) fn check_no_cycles(filters: &[RowFilterRule]) -> Result<(), String> {
    let lookups: Vec<Vec<String>> = filters.iter().map(|f| f.looks_up.clone()).collect();
    // Depth-first from every rule over "rule R looks up a table that rule S filters".
    fn visit(
        at: usize,
        filters: &[RowFilterRule],
        lookups: &[Vec<String>],
        path: &mut Vec<usize>,
    ) -> Result<(), String> {
        if let Some(start) = path.iter().position(|&p| p == at) {
            let mut way: Vec<String> = path[start..]
                .iter()
                .map(|&i| format!("{} ({})", filters[i].table, filters[i].id))
                .collect();
            way.push(filters[at].table.clone());
            return Err(format!(
                "{}: row filters look each other up in a circle: {}",
                filters[at].id,
                way.join(" → ")
            ));
        }
        path.push(at);
        for table in &lookups[at] {
            for (next, filter) in filters.iter().enumerate() {
                if pattern::matches(table, &filter.table) {
                    visit(next, filters, lookups, path)?;
                }
            }
        }
        path.pop();
        Ok(())
    }
    for start in 0..filters.len() {
        visit(start, filters, &lookups, &mut Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, table: &str, expression: &str) -> RowFilterRule {
        RowFilterRule {
            id: id.into(),
            subject: "role:a".into(),
            table: table.into(),
            expression: expression.into(),
            looks_up: lookup_tables(expression).expect("lookups"),
        }
    }

    #[test]
    fn attribute_references_are_read_one_way_for_lookups() {
        let bound = lookup_sql(
            "lake.s.t",
            "a IN (SELECT b FROM lake.s.u WHERE c = ${user.team})",
            |n| Ok(format!("<{n}>")),
        );
        assert_eq!(
            bound.as_deref(),
            Ok(
                "SELECT * FROM \"lake\".\"s\".\"t\" WHERE (a IN (SELECT b FROM lake.s.u WHERE c = <team>))"
            )
        );
        for bad in ["${env.HOME}", "${user.}", "${user.a-b}", "${user.team"] {
            let text = format!("a IN (SELECT b FROM lake.s.u WHERE c = {bad})");
            assert!(lookup_tables(&text).is_err(), "{bad}");
            assert!(
                lookup_sql("lake.s.t", &text, |_| Ok("x".into())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn lookups_name_their_tables_in_full() {
        assert_eq!(lookup_tables("c_nationkey IN (6, 7)"), Ok(vec![]));
        assert_eq!(
            lookup_tables(
                "c_nationkey IN (SELECT nationkey FROM lake.security.entitlements \
                 WHERE user_name = ${user.name})"
            ),
            Ok(vec!["lake.security.entitlements".to_string()])
        );
        assert_eq!(
            lookup_tables(
                "EXISTS (SELECT 1 FROM Lake.TPCH.Customer c WHERE c.c_custkey = o_custkey)"
            ),
            Ok(vec!["lake.tpch.customer".to_string()])
        );
        let Err(e) = lookup_tables("o_custkey IN (SELECT c_custkey FROM customer)") else {
            panic!("a short name accepted")
        };
        assert!(e.contains("catalog.schema.table"), "{e}");
    }

    #[test]
    fn circles_are_refused_naming_a_line() {
        let chain = [
            rule(
                "p.csv:1",
                "lake.tpch.orders",
                "o_custkey IN (SELECT c_custkey FROM lake.tpch.customer)",
            ),
            rule(
                "p.csv:2",
                "lake.tpch.lineitem",
                "l_orderkey IN (SELECT o_orderkey FROM lake.tpch.orders)",
            ),
            rule("p.csv:3", "lake.tpch.customer", "c_nationkey IN (6, 7)"),
        ];
        assert_eq!(check_no_cycles(&chain), Ok(()));
        let circle = [
            rule(
                "p.csv:1",
                "lake.tpch.orders",
                "o_custkey IN (SELECT c_custkey FROM lake.tpch.customer)",
            ),
            rule(
                "p.csv:2",
                "lake.tpch.customer",
                "c_custkey IN (SELECT o_custkey FROM lake.tpch.orders)",
            ),
        ];
        let Err(e) = check_no_cycles(&circle) else {
            panic!("a circle accepted")
        };
        assert!(
            e.starts_with("p.csv:1: row filters look each other up in a circle"),
            "{e}"
        );
        assert!(e.contains("lake.tpch.customer (p.csv:2)"), "{e}");
        let selfish = [rule(
            "p.csv:4",
            "lake.tpch.*",
            "x IN (SELECT y FROM lake.tpch.nation)",
        )];
        assert!(check_no_cycles(&selfish).is_err());
    }
}
