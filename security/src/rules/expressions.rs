//! Turns policy SQL text into expressions over a scan, with user attributes bound as
//! literal values.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;

use super::PolicyError;

const ATTR_PREFIX: &str = "__lakegate_attr_";

/// Parses `text` against `schema`. `${user.NAME}` becomes the value of the user's
/// attribute NAME, bound as a string literal (DataFusion coerces it to the compared
/// type); the value never becomes SQL text.
pub(crate) fn parse(
    parser: &SessionContext,
    text: &str,
    schema: &DFSchema,
    attributes: &BTreeMap<String, String>,
    rule: &str,
) -> Result<Expr> {
    let (rewritten, names) = replace_attributes(text, rule)?;
    let mut fields: Vec<Field> = Vec::new();
    for name in &names {
        if !attributes.contains_key(name) {
            return Err(policy_error(format!(
                "{rule}: the user has no attribute {name:?}, which the policy needs"
            )));
        }
        fields.push(Field::new(
            format!("{ATTR_PREFIX}{name}"),
            DataType::Utf8,
            true,
        ));
    }
    let mut parse_schema = schema.clone();
    if !fields.is_empty() {
        let extra = DFSchema::from_unqualified_fields(fields.into(), Default::default())?;
        parse_schema.merge(&extra);
    }
    let expr = parser
        .parse_sql_expr(&rewritten, &parse_schema)
        .map_err(|e| policy_error(format!("{rule}: cannot parse {text:?}: {e}")))?;
    let bound = expr.transform_up(|e| match &e {
        Expr::Column(column) => match column.name.strip_prefix(ATTR_PREFIX) {
            Some(name) if column.relation.is_none() => {
                let value = attributes.get(name).cloned();
                Ok(Transformed::yes(lit(ScalarValue::Utf8(value))))
            }
            _ => Ok(Transformed::no(e)),
        },
        _ => Ok(Transformed::no(e)),
    })?;
    Ok(bound.data)
}

pub(crate) fn policy_error(message: String) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(PolicyError { message }))
}

/// Replaces `${user.NAME}` with an identifier; returns the names used.
fn replace_attributes(text: &str, rule: &str) -> Result<(String, Vec<String>)> {
    let mut names = Vec::new();
    let out = crate::policy::lookups::substitute_attributes(text, |name| {
        names.push(name.to_string());
        Ok(format!("{ATTR_PREFIX}{name}"))
    })
    .map_err(|e| policy_error(format!("{rule}: {e}")))?;
    Ok((out, names))
}

/// A shared parser context: PostgreSQL-dialect parsing, and the functions a session
/// has (DataFusion's, with the PostgreSQL-compatible ones over their namesakes), so that
/// a filter or mask calls what the same SQL would call in a query, and the
/// distributed workers, which have the same functions, can run it.
pub(crate) fn parser() -> Arc<SessionContext> {
    let ctx = SessionContext::new();
    lakegate_pg_compat::functions::register(&ctx);
    Arc::new(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_become_identifiers_not_text() {
        let (text, names) =
            replace_attributes("n_name = ${user.region} AND x = ${user.team}", "r").expect("ok");
        assert_eq!(
            text,
            "n_name = __lakegate_attr_region AND x = __lakegate_attr_team"
        );
        assert_eq!(names, vec!["region", "team"]);
        assert!(replace_attributes("a = ${env.HOME}", "r").is_err());
        assert!(replace_attributes("a = ${user.x'y}", "r").is_err());
    }

    #[test]
    fn binds_values_as_literals() {
        let ctx = parser();
        let schema = DFSchema::from_unqualified_fields(
            vec![Field::new("n_name", DataType::Utf8, false)].into(),
            Default::default(),
        )
        .expect("schema");
        let attributes = BTreeMap::from([("region".to_string(), "x' OR 1=1 --".to_string())]);
        let expr =
            parse(&ctx, "n_name = ${user.region}", &schema, &attributes, "r").expect("parse");
        // The hostile value is one literal, not SQL.
        assert_eq!(expr.to_string(), "n_name = Utf8(\"x' OR 1=1 --\")");
        let missing = parse(&ctx, "n_name = ${user.team}", &schema, &attributes, "r");
        assert!(missing.is_err());
    }
}
