//! PostgreSQL syntax that catalog queries of clients use and DataFusion does not plan,
//! rewritten on the parsed statement before planning:
//! - `a OPERATOR(pg_catalog.~) b` becomes `a ~ b` (any built-in operator);
//! - `expr COLLATE pg_catalog.default` drops the collation;
//! - `x <> ALL(array)` becomes `NOT (x = ANY(array))`;
//! - `'{a,"b c",NULL}'::T[]` becomes an array of T;
//! - `x::regclass`, `::regtype`, `::regnamespace`, `::regrole`, `::regproc` become
//!   lookups in pg_catalog: a name literal gives the object's OID, an OID gives its name;
//! - `::oid` becomes a cast to bigint, `::name` a cast to text, and `::pg_catalog.t`
//!   the built-in type `t`; `pg_catalog.f(…)` calls `f`;
//! - `(f(x)).field` becomes `get_field(f(x), 'field')`;
//! - `ARRAY(SELECT …)` becomes an `array_agg` subquery, and a non-aggregated scalar
//!   subquery over pg_catalog is aggregated with `min` (DataFusion plans correlated
//!   scalar subqueries only when they aggregate).

use super::empty_joins::is_aggregate;
use super::information_schema;
use super::oids::PG_CATALOG;
use super::tables::is_catalog_table;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CastKind, DataType, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query,
    Select, SelectItem, SetExpr, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
    visit_expressions_mut, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites the statement in place.
pub fn rewrite_postgres_syntax(statement: &mut DFStatement) {
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    // Array literals are only read as arrays in catalog queries: elsewhere `'{a}'` may
    // well be a string compared with a string.
    let mut catalog_query = false;
    let _ = datafusion::sql::sqlparser::ast::visit_relations(statement.as_ref(), |name| {
        catalog_query |= is_pg_catalog_qualified(name);
        std::ops::ControlFlow::<()>::Continue(())
    });
    // Subqueries that no row reaches are dropped before anything tries to plan them.
    super::empty_joins::blank_unreachable_subqueries(statement.as_mut(), catalog_query);
    let _ = visit_expressions_mut(statement.as_mut(), |expr: &mut Expr| {
        if let Some(replacement) = rewrite(expr, catalog_query) {
            *expr = replacement;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    // `SELECT NULL, NULL`: PostgreSQL allows repeated output names, DataFusion wants
    // them unique. Repeats get internal aliases; the names clients see come from the
    // original statement (output_names.rs).
    let _ = statement.as_mut().visit(&mut UniqueProjections);
    let _ = statement.as_mut().visit(&mut IntegerSeries);
    // `FROM pg_catalog.generate_series(…)`: DataFusion's table functions are unqualified.
    let _ = visit_relations_mut(statement.as_mut(), |name: &mut ObjectName| {
        let function = name.0.len() == 2
            && name.0[1].as_ident().is_some_and(|i| {
                matches!(
                    i.value.to_ascii_lowercase().as_str(),
                    "generate_series" | "unnest" | "range" | "pg_get_keywords"
                )
            });
        if function && is_pg_catalog_qualified(name) {
            name.0.remove(0);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn rewrite(expr: &Expr, catalog_query: bool) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { left, op, right }
            if catalog_query
                && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
                && (array_literal(left).is_some() || array_literal(right).is_some()) =>
        {
            // `polroles = '{0}'`: a PostgreSQL array literal compared with an array.
            let side = |e: &Expr| array_literal(e).unwrap_or_else(|| e.clone());
            Some(Expr::BinaryOp {
                left: Box::new(side(left)),
                op: op.clone(),
                right: Box::new(side(right)),
            })
        }
        Expr::BinaryOp { left, op, right } => {
            let BinaryOperator::PGCustomBinaryOperator(parts) = op else {
                return None;
            };
            let builtin = builtin_operator(parts)?;
            Some(Expr::BinaryOp {
                left: left.clone(),
                op: builtin,
                right: right.clone(),
            })
        }
        Expr::Collate { expr, .. } => Some(expr.as_ref().clone()),
        Expr::Cast {
            expr: inner,
            data_type: data_type @ DataType::Array(_),
            ..
        } if literal(inner).is_some_and(|t| t.trim_start().starts_with('{')) => {
            // `'{a,b}'::text[]`: an array, not a one-element list of the whole string.
            let data_type = match data_type {
                DataType::Array(ArrayElemTypeDef::SquareBracket(element, size)) => {
                    match element.as_ref() {
                        DataType::Custom(name, _) if is_pg_catalog_qualified(name) => {
                            let element =
                                parse_type(&name.0.last()?.as_ident()?.value.to_ascii_lowercase())?;
                            DataType::Array(ArrayElemTypeDef::SquareBracket(
                                Box::new(element),
                                *size,
                            ))
                        }
                        _ => data_type.clone(),
                    }
                }
                _ => data_type.clone(),
            };
            typed_array_literal(literal(inner)?, &data_type)
        }
        Expr::AllOp {
            left,
            compare_op: BinaryOperator::NotEq,
            right,
        } if !matches!(right.as_ref(), Expr::Subquery(_)) => {
            // `x <> ALL(array)` is `NOT (x = ANY(array))`, NULLs included; DataFusion
            // takes ALL only over a subquery.
            Some(Expr::UnaryOp {
                op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                expr: Box::new(Expr::Nested(Box::new(Expr::AnyOp {
                    left: left.clone(),
                    compare_op: BinaryOperator::Eq,
                    right: right.clone(),
                    is_some: false,
                }))),
            })
        }
        Expr::CompoundFieldAccess { root, access_chain }
            if matches!(root.as_ref(), Expr::Function(_) | Expr::Nested(_)) =>
        {
            // `(f(x)).field`: a field of a composite value, as get_field.
            let mut expr = root.as_ref().clone();
            for access in access_chain {
                let AccessExpr::Dot(Expr::Identifier(field)) = access else {
                    return None;
                };
                expr = parse(&format!("get_field({expr}, {})", quote(&field.value)))?;
            }
            Some(expr)
        }
        Expr::Cast {
            expr: inner,
            data_type: DataType::Custom(name, _),
            ..
        } => {
            let type_name = name.0.last()?.as_ident()?.value.to_ascii_lowercase();
            cast_replacement(&type_name, inner).or_else(|| {
                // `::pg_catalog.text` and the like: the built-in type, unqualified.
                let qualified = name.0.len() == 2
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"));
                let data_type = qualified.then(|| parse_type(&type_name)).flatten()?;
                Some(cast_to(inner, data_type))
            })
        }
        Expr::Cast {
            expr: inner,
            data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(element, size)),
            ..
        } => {
            // `::pg_catalog.int2[]`
            let DataType::Custom(name, _) = element.as_ref() else {
                return None;
            };
            if !is_pg_catalog_qualified(name) {
                return None;
            }
            let element = parse_type(&name.0.last()?.as_ident()?.value.to_ascii_lowercase())?;
            Some(cast_to(
                inner,
                DataType::Array(ArrayElemTypeDef::SquareBracket(Box::new(element), *size)),
            ))
        }
        Expr::Function(function)
            if reads_only_pg_catalog_arg(&function.args)
                && function.name.0.len() == 1
                && function.name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("array")) =>
        {
            // `ARRAY(SELECT x …)`: the subquery's values aggregated into one array.
            let FunctionArguments::Subquery(query) = &function.args else {
                return None;
            };
            let mut query = aggregated(query, "array_agg")?;
            let hoisted = split_correlated_conditions(&mut query);
            Some(guarded(Expr::Subquery(Box::new(query)), &hoisted)?)
        }
        Expr::Subquery(query) if reads_only_pg_catalog(query) => {
            // DataFusion plans a correlated scalar subquery only when it is aggregated;
            // over the catalog a lookup finds one row or none, which min() keeps.
            let mut query = aggregated(query, "min")?;
            let hoisted = split_correlated_conditions(&mut query);
            guarded(Expr::Subquery(Box::new(query)), &hoisted)
        }
        Expr::Function(function) if is_pg_catalog_qualified(&function.name) => {
            // `pg_catalog.array_to_string(…)`: DataFusion's functions are unqualified.
            let mut function = function.clone();
            function.name.0.remove(0);
            Some(Expr::Function(function))
        }
        Expr::Cast {
            expr: inner,
            data_type: DataType::Regclass,
            ..
        } => cast_replacement("regclass", inner),
        _ => None,
    }
}

fn reads_only_pg_catalog_arg(args: &FunctionArguments) -> bool {
    matches!(args, FunctionArguments::Subquery(query) if reads_only_pg_catalog(query))
}

/// The single-column SELECT of a subquery, if it is one.
fn single_select(query: &Query) -> Option<&Select> {
    match query.body.as_ref() {
        SetExpr::Select(select) if select.projection.len() == 1 && query.with.is_none() => {
            Some(select)
        }
        _ => None,
    }
}

/// Whether a subquery is a single-column SELECT over pg_catalog tables only.
fn reads_only_pg_catalog(query: &Query) -> bool {
    let Some(select) = single_select(query) else {
        return false;
    };
    !select.from.is_empty()
        && select.from.iter().all(|from| {
            std::iter::once(&from.relation)
                .chain(from.joins.iter().map(|j| &j.relation))
                .all(|relation| match relation {
                    TableFactor::Table { name, .. } => is_pg_catalog_qualified(name),
                    _ => false,
                })
        })
}

/// The subquery with its single column wrapped in `aggregate(…)`, unless that column
/// already aggregates or the query groups.
fn aggregated(query: &Query, aggregate: &str) -> Option<Query> {
    let select = single_select(query)?;
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let (expr, alias) = match &select.projection[0] {
        SelectItem::UnnamedExpr(expr) => (expr, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
        _ => return None,
    };
    if grouped || is_aggregate(expr) {
        return None;
    }
    let wrapped = parse(&format!("{aggregate}({expr})"))?;
    let mut query = query.clone();
    // Row order inside an aggregated lookup does not matter here.
    query.order_by = None;
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection[0] = match alias {
            Some(alias) => SelectItem::ExprWithAlias {
                expr: wrapped,
                alias,
            },
            None => SelectItem::UnnamedExpr(wrapped),
        };
    }
    Some(query)
}

/// `generate_series(1, array_upper(a, 1))`: DataFusion's series takes bigint bounds,
/// PostgreSQL's any integer; with an integer literal among the bounds, the others are
/// cast to bigint (pgjdbc's TypeInfoCache walks `current_schemas(false)` so).
struct IntegerSeries;

impl VisitorMut for IntegerSeries {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        table_factor: &mut TableFactor,
    ) -> std::ops::ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = table_factor
        else {
            return std::ops::ControlFlow::Continue(());
        };
        let series = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"));
        let expr_of = |arg: &FunctionArg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        };
        let integer_literal = |e: &Expr| matches!(e, Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) if n.parse::<i64>().is_ok());
        if !series
            || !args
                .args
                .iter()
                .filter_map(expr_of)
                .any(|e| integer_literal(&e))
        {
            return std::ops::ControlFlow::Continue(());
        }
        for arg in &mut args.args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg
                && !integer_literal(e)
            {
                *e = cast_to(e, DataType::BigInt(None));
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Gives repeated unnamed projection items of every SELECT an alias of their own.
struct UniqueProjections;

impl VisitorMut for UniqueProjections {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        unique_names(query.body.as_mut());
        std::ops::ControlFlow::Continue(())
    }
}

fn unique_names(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            // Keyed by PostgreSQL's name: expressions PostgreSQL names alike (`x::int`
            // and `x::text` are both `x`) are the ones DataFusion names alike too.
            let mut seen = std::collections::HashSet::new();
            for (i, item) in select.projection.iter_mut().enumerate() {
                let SelectItem::UnnamedExpr(expr) = item else {
                    continue;
                };
                let name = crate::output_names::column_name(expr);
                // DataFusion names a cast by what it casts (`x::text` is `t.x`), which
                // then collides with the column itself (an ORDER BY x adds it): a cast
                // takes PostgreSQL's name for it as an alias.
                if let (Expr::Cast { .. }, Some(name)) = (&*expr, &name)
                    && name != "?column?"
                    && !seen.contains(name)
                {
                    seen.insert(name.clone());
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::with_quote('"', name.clone()),
                    };
                    continue;
                }
                if !seen.insert(name.unwrap_or_else(|| expr.to_string())) {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::new(format!("__lakegate_column_{}", i + 1)),
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            unique_names(left);
            unique_names(right);
        }
        _ => {}
    }
}

/// `subquery`, evaluated only where the outer-row conditions hold (NULL elsewhere).
fn guarded(subquery: Expr, conditions: &[Expr]) -> Option<Expr> {
    if conditions.is_empty() {
        return Some(subquery);
    }
    let condition = conditions
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    parse(&format!("CASE WHEN {condition} THEN {subquery} END"))
}

/// Splits a catalog lookup's WHERE for DataFusion's decorrelation: conditions on the
/// outer row alone are returned (the caller tests them outside the subquery); the
/// others stay. Lookups over catalogs that are empty here never get this far
/// (empty_joins.rs settles them first).
fn split_correlated_conditions(query: &mut Query) -> Vec<Expr> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Vec::new();
    };
    let inner: Vec<String> = select
        .from
        .iter()
        .flat_map(|from| {
            std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        })
        .filter_map(|relation| match relation {
            TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(alias) => alias.name.value.to_ascii_lowercase(),
                None => name.0.last()?.as_ident()?.value.to_ascii_lowercase(),
            }),
            _ => None,
        })
        .collect();
    let Some(selection) = select.selection.take() else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut hoisted = Vec::new();
    for condition in conjuncts(selection) {
        let (mut uses_inner, mut uses_outer) = (false, false);
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(&condition, |e: &Expr| {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let qualifier = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if inner.contains(&qualifier) {
                        uses_inner = true;
                    } else {
                        uses_outer = true;
                    }
                }
                Expr::Identifier(_) => uses_inner = true,
                _ => {}
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if uses_outer && !uses_inner {
            hoisted.push(condition);
        } else {
            kept.push(condition);
        }
    }
    select.selection = kept.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    hoisted
}

/// The AND-ed conditions of an expression.
fn conjuncts(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut out = conjuncts(*left);
            out.extend(conjuncts(*right));
            out
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner)
        }
        other => vec![other],
    }
}

fn is_pg_catalog_qualified(name: &datafusion::sql::sqlparser::ast::ObjectName) -> bool {
    name.0.len() == 2
        && name.0[0]
            .as_ident()
            .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
}

fn parse_type(name: &str) -> Option<DataType> {
    let data_type = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(name)
        .ok()?
        .parse_data_type()
        .ok()?;
    (!matches!(data_type, DataType::Custom(..))).then_some(data_type)
}

/// The operator `OPERATOR(pg_catalog.op)` names, if it is a built-in one.
fn builtin_operator(parts: &[String]) -> Option<BinaryOperator> {
    let (op, schema) = parts.split_last()?;
    if schema.iter().any(|s| !s.eq_ignore_ascii_case("pg_catalog")) {
        return None;
    }
    Some(match op.as_str() {
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        "*" => BinaryOperator::Multiply,
        "/" => BinaryOperator::Divide,
        _ => return None,
    })
}

/// `'{1,2}'` as `make_array(1, 2)` (numbers, else strings), if `expr` is such a literal.
fn array_literal(expr: &Expr) -> Option<Expr> {
    let elements: Vec<String> = array_elements(literal(expr)?)?
        .into_iter()
        .map(|e| match e {
            None => "NULL".to_string(),
            Some(e) => match e.parse::<i64>() {
                Ok(n) => n.to_string(),
                Err(_) => quote(&e),
            },
        })
        .collect();
    parse(&format!("make_array({})", elements.join(", ")))
}

/// `'{a,"b c",NULL}'::T[]`: the elements as strings, cast to the array type.
fn typed_array_literal(text: &str, data_type: &DataType) -> Option<Expr> {
    let elements: Vec<String> = array_elements(text)?
        .into_iter()
        .map(|e| e.map_or_else(|| "NULL".to_string(), |e| quote(&e)))
        .collect();
    parse(&format!(
        "CAST(make_array({}) AS {data_type})",
        elements.join(", ")
    ))
}

/// The elements of a one-dimensional PostgreSQL array literal (`{a,"b,c",NULL}`):
/// double quotes protect commas and braces, a backslash escapes the next character,
/// and an unquoted NULL is NULL. None if the text is not such a literal.
fn array_elements(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut elements = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut element = String::new();
        let mut quoted = false;
        if chars.next_if_eq(&'"').is_some() {
            quoted = true;
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => element.push(chars.next()?),
                    c => element.push(c),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                match c {
                    '{' | '}' | '"' => return None,
                    '\\' => element.push(chars.next()?),
                    c => element.push(c),
                }
            }
            element.truncate(element.trim_end().len());
            if element.is_empty() {
                return None;
            }
        }
        elements.push((quoted || !element.eq_ignore_ascii_case("null")).then_some(element));
        match chars.next() {
            None => return Some(elements),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// The string of a literal, if `expr` is one.
fn literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s),
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

/// A name in a reg* literal: `"Quoted"` keeps its case, others fold to lower case; a
/// qualified name keeps its last part.
fn object_name(text: &str) -> String {
    let last = text.rsplit('.').next().unwrap_or(text).trim();
    match last.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => last.to_ascii_lowercase(),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn parse(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

fn cast_to(inner: &Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(inner.clone()),
        data_type,
        array: false,
        format: None,
    }
}

/// What `inner::type_name` becomes, for the types DataFusion does not know.
fn cast_replacement(type_name_: &str, inner: &Expr) -> Option<Expr> {
    let lookup = |table: &str, name_column: &str, name: &str| {
        parse(&format!(
            "(SELECT min(oid) FROM pg_catalog.{table} WHERE {name_column} = {})",
            quote(name)
        ))
    };
    // An OID's name comes from a function, not a subquery: the OID expression may be
    // an unqualified `oid` that a subquery over the catalog would capture.
    let reverse = |function: &str| parse(&format!("pg_catalog.{function}({inner})"));
    match type_name_ {
        "oid" => Some(cast_to(inner, DataType::BigInt(None))),
        "name" => Some(cast_to(inner, DataType::Text)),
        "regproc" | "regprocedure" => match literal(inner) {
            Some(text) => lookup("pg_proc", "proname", &object_name(text)),
            None => Some(inner.clone()),
        },
        "regclass" => match literal(inner) {
            Some(text) => lookup("pg_class", "relname", &object_name(text)),
            None => reverse("regclassout"),
        },
        "regtype" => match literal(inner) {
            Some(text) => lookup(
                "pg_type",
                "typname",
                &super::pg_type::typname_of(&object_name(text)),
            ),
            None => parse(&format!("pg_catalog.format_type({inner}, NULL)")),
        },
        "regnamespace" => match literal(inner) {
            Some(text) => lookup("pg_namespace", "nspname", &object_name(text)),
            None => reverse("regnamespaceout"),
        },
        "regrole" => match literal(inner) {
            Some(text) => parse(&format!(
                "(SELECT min(oid) FROM pg_catalog.pg_roles WHERE rolname = {})",
                quote(&object_name(text))
            )),
            None => parse(&format!("pg_catalog.pg_get_userbyid({inner})")),
        },
        _ => None,
    }
}

/// Qualifies unqualified references to pg_catalog tables (`FROM pg_type`) as
/// `pg_catalog.pg_type`, unless the current schema has a table of that name.
pub fn qualify_catalog_tables(
    statement: &mut DFStatement,
    current_schema_has: impl Fn(&str) -> bool,
) {
    let DFStatement::Statement(statement) = statement else {
        return;
    };
    let _ = visit_relations_mut(statement.as_mut(), |name: &mut ObjectName| {
        // `[catalog.]information_schema.columns` and the other views served the
        // PostgreSQL way read the hidden pg_catalog table of that name.
        let parts = name.0.len();
        if parts >= 2 {
            let schema = name.0[parts - 2]
                .as_ident()
                .map(|i| i.value.to_ascii_lowercase());
            let view = name.0[parts - 1]
                .as_ident()
                .map(|i| i.value.to_ascii_lowercase());
            if let (Some(schema), Some(view)) = (schema, view)
                && schema == "information_schema"
                && information_schema::VIEWS.contains(&view.as_str())
            {
                name.0[parts - 2] = ObjectNamePart::Identifier(Ident::new(PG_CATALOG));
                name.0[parts - 1] = ObjectNamePart::Identifier(Ident::with_quote(
                    '"',
                    information_schema::hidden_name(&view),
                ));
            }
        }
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
            let table = if ident.quote_style.is_some() {
                ident.value.clone()
            } else {
                ident.value.to_ascii_lowercase()
            };
            if is_catalog_table(&table) && !current_schema_has(&table) {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new(PG_CATALOG)));
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::{array_elements, rewrite_postgres_syntax};

    fn rewritten(sql: &str) -> String {
        let mut statements = crate::test_sql::split(sql).expect("parse");
        rewrite_postgres_syntax(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn array_literals_only_in_catalog_queries() {
        let sql = rewritten("SELECT 1 FROM lake.tpch.nation WHERE n_name = '{x}'");
        assert!(sql.contains("n_name = '{x}'"), "{sql}");
        let sql = rewritten("SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polroles = '{0}'");
        assert!(sql.contains("p.polroles = make_array(0)"), "{sql}");
        let sql = rewritten("SELECT NULL, NULL");
        assert!(sql.contains("NULL AS __lakegate_column_2"), "{sql}");
    }

    #[test]
    fn typed_array_literals_and_all() {
        assert_eq!(
            array_elements(r#"{a, "b,c" ,NULL,"NULL",d\}e}"#),
            Some(vec![
                Some("a".into()),
                Some("b,c".into()),
                None,
                Some("NULL".into()),
                Some("d}e".into())
            ])
        );
        assert_eq!(array_elements("{}"), Some(vec![]));
        assert_eq!(array_elements("{a,,b}"), None);
        assert_eq!(array_elements("{\"a}"), None);
        assert_eq!(array_elements("not an array"), None);
        let sql = rewritten("SELECT 1 WHERE 'x' <> ALL ('{a,\"b c\"}'::text[])");
        assert!(
            sql.contains("NOT ('x' = ANY(CAST(make_array('a', 'b c') AS TEXT[])))"),
            "{sql}"
        );
        let sql = rewritten("SELECT '{1,2}'::pg_catalog.int2[]");
        assert!(
            sql.contains("CAST(make_array('1', '2') AS INT2[])"),
            "{sql}"
        );
    }

    #[test]
    fn operators_collations_and_reg_casts() {
        let sql = rewritten(
            "SELECT c.oid::pg_catalog.regclass FROM pg_catalog.pg_class c \
             WHERE c.relname OPERATOR(pg_catalog.~) '^(orders)$' COLLATE pg_catalog.default \
             AND c.oid = 'lake.tpch.orders'::regclass AND t.oid = 'integer'::regtype",
        );
        assert!(sql.contains("c.relname ~ '^(orders)$'"), "{sql}");
        assert!(!sql.contains("COLLATE"), "{sql}");
        assert!(
            sql.contains("SELECT pg_catalog.regclassout(c.oid) FROM"),
            "{sql}"
        );
        assert!(sql.contains("WHERE relname = 'orders'"), "{sql}");
        assert!(sql.contains("WHERE typname = 'int4'"), "{sql}");
    }

    #[test]
    fn unqualified_catalog_tables_move_to_pg_catalog() {
        let mut statements = crate::test_sql::split(
            "SELECT t.oid FROM pg_type t JOIN pg_namespace ns ON t.typnamespace = ns.oid \
             JOIN orders o ON true",
        )
        .expect("parse");
        super::qualify_catalog_tables(&mut statements[0], |_| false);
        let sql = statements[0].to_string();
        assert!(sql.contains("FROM pg_catalog.pg_type t"), "{sql}");
        assert!(sql.contains("JOIN pg_catalog.pg_namespace ns"), "{sql}");
        assert!(sql.contains("JOIN orders o"), "{sql}");
    }
}
