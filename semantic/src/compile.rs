//! Expands queries over semantic tables into SQL over their base tables.
//!
//! A SELECT whose FROM is one semantic table is rewritten: its grain is the GROUP BY (or,
//! without one, the selected dimensions); each model whose measures it uses is
//! aggregated at that grain in a subquery of its own, over its base table and the joins
//! its dimensions and filters need (rows fanned out by a one-to-many join are first
//! reduced to one per primary key and grain); the subqueries are joined on the grain,
//! and the user's SELECT, HAVING and ORDER BY read the result. The expansion is SQL,
//! so it is planned like any query and the base tables' row filters and masks apply.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, ObjectName, OrderByKind, Query, SelectItem, SetExpr,
    Statement, TableFactor, Value, VisitMut, VisitorMut, visit_expressions_mut, visit_relations,
};

use crate::error::{QueryError, QueryErrorKind};
use crate::expr::{normalize, qualifiers};
use crate::model::{Granularity, MeasureType, Member, Relationship, SemanticModels};
use crate::scope::Scope;
use crate::sql_text::{agg_sql, quote, table_sql};

/// Resolves a table name in a query to a model, when it names a semantic table.
pub type Resolve<'r> = dyn Fn(&ObjectName) -> Option<usize> + 'r;

/// Expands every SELECT over a semantic table in `statement`. Returns the models
/// expanded (none when the statement reads no semantic table).
pub fn expand_statement(
    statement: &mut Statement,
    models: &SemanticModels,
    resolve: &Resolve<'_>,
) -> Result<Vec<usize>, QueryError> {
    let mut expander = Expander {
        models,
        resolve,
        expanded: Vec::new(),
    };
    if let ControlFlow::Break(e) = statement.visit(&mut expander) {
        return Err(e);
    }
    // A semantic table anywhere else (joined, in DML) was not expanded.
    let leftover = visit_relations(statement, |name| match resolve(name) {
        Some(model) => ControlFlow::Break(model),
        None => ControlFlow::Continue(()),
    });
    if let ControlFlow::Break(model) = leftover {
        return Err(QueryError::new(
            QueryErrorKind::Unsupported,
            format!(
                "semantic.{} must be the only table in the FROM of its SELECT; \
                 join its result in an outer query instead",
                models.model(model).name
            ),
        ));
    }
    Ok(expander.expanded)
}

struct Expander<'a, 'r> {
    models: &'a SemanticModels,
    resolve: &'a Resolve<'r>,
    expanded: Vec<usize>,
}

impl VisitorMut for Expander<'_, '_> {
    type Break = QueryError;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<QueryError> {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return ControlFlow::Continue(());
        };
        let [from] = select.from.as_slice() else {
            return ControlFlow::Continue(());
        };
        if !from.joins.is_empty() {
            return ControlFlow::Continue(());
        }
        let TableFactor::Table {
            name,
            alias,
            args,
            version,
            ..
        } = &from.relation
        else {
            return ControlFlow::Continue(());
        };
        let Some(model) = (self.resolve)(name) else {
            return ControlFlow::Continue(());
        };
        if args.is_some() || version.is_some() {
            return ControlFlow::Break(QueryError::new(
                QueryErrorKind::Unsupported,
                format!(
                    "semantic.{} takes no arguments or time travel",
                    self.models.model(model).name
                ),
            ));
        }
        let table: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(normalize))
            .collect();
        let alias = alias.as_ref().map(|a| a.name.clone());
        match expand_query(self.models, model, &table, alias.as_ref(), query) {
            Ok(()) => {
                self.expanded.push(model);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// A measure the expansion computes: a column of the semantic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct MeasureRef {
    model: usize,
    index: usize,
}

/// Rewrites one query whose body is `SELECT … FROM <semantic table>`.
fn expand_query(
    models: &SemanticModels,
    root: usize,
    table: &[String],
    alias: Option<&Ident>,
    query: &mut Query,
) -> Result<(), QueryError> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Ok(());
    };
    let scope = Scope::new(models, root, table, alias);
    let unsupported = |what: &str| {
        Err(QueryError::new(
            QueryErrorKind::Unsupported,
            format!(
                "{what} is not supported over semantic table {}",
                scope.label
            ),
        ))
    };
    if select.top.is_some() || select.into.is_some() {
        return unsupported("TOP or INTO");
    }
    if !select.lateral_views.is_empty() || !select.named_window.is_empty() {
        return unsupported("a window or lateral view");
    }
    if select.qualify.is_some() || select.prewhere.is_some() || !select.connect_by.is_empty() {
        return unsupported("QUALIFY, PREWHERE or CONNECT BY");
    }
    if !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
    {
        return unsupported("CLUSTER, DISTRIBUTE or SORT BY");
    }
    // The select list, `*` expanded to every dimension and measure.
    let mut items: Vec<(Expr, Option<Ident>)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) => items.push((expr.clone(), None)),
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), Some(alias.clone())))
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for column in &scope.columns {
                    if !matches!(column.member, Member::Segment { .. }) {
                        items.push((Expr::Identifier(Ident::new(&column.name)), None));
                    }
                }
            }
        }
    }
    for (expr, _) in &items {
        reject_subqueries(expr, &scope)?;
    }
    let uses_measure = |expr: &Expr| -> Result<bool, QueryError> {
        let mut found = Ok(false);
        visit_all(expr, &mut |e| match scope.measure(e) {
            Ok(Some(_)) => {
                found = Ok(true);
                ControlFlow::Break(())
            }
            Ok(None) if Scope::is_other_aggregate(e) => {
                found = Ok(true);
                ControlFlow::Break(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(err) => {
                found = Err(err);
                ControlFlow::Break(())
            }
        });
        found
    };
    // The grain: GROUP BY's expressions, or the selected expressions without measures.
    let mut grain: Vec<Expr> = Vec::new();
    match &select.group_by {
        GroupByExpr::Expressions(list, modifiers) if !list.is_empty() => {
            if !modifiers.is_empty() {
                return unsupported("GROUP BY with ROLLUP, CUBE or TOTALS");
            }
            for expr in list {
                let resolved = match expr {
                    Expr::Value(v) => match &v.value {
                        Value::Number(n, _) => {
                            let k: usize = n.parse().unwrap_or(0);
                            match items.get(k.wrapping_sub(1)) {
                                Some((e, _)) => e.clone(),
                                None => {
                                    return Err(QueryError::new(
                                        QueryErrorKind::Grouping,
                                        format!("GROUP BY position {n} is not in select list"),
                                    ));
                                }
                            }
                        }
                        _ => expr.clone(),
                    },
                    Expr::Identifier(ident) if scope.column(expr).is_none() => items
                        .iter()
                        .find(|(_, a)| a.as_ref().is_some_and(|a| normalize(a) == normalize(ident)))
                        .map(|(e, _)| e.clone())
                        .unwrap_or_else(|| expr.clone()),
                    _ => expr.clone(),
                };
                if matches!(
                    resolved,
                    Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_)
                ) {
                    return unsupported("GROUP BY ROLLUP, CUBE or GROUPING SETS");
                }
                if uses_measure(&resolved)? {
                    return Err(QueryError::new(
                        QueryErrorKind::Grouping,
                        format!(
                            "cannot group {} by a measure or an aggregate: {resolved}",
                            scope.label
                        ),
                    ));
                }
                if !grain.contains(&resolved) {
                    grain.push(resolved);
                }
            }
        }
        GroupByExpr::Expressions(_, modifiers) if !modifiers.is_empty() => {
            return unsupported("GROUP BY modifiers");
        }
        _ => {
            for (expr, _) in &items {
                if !uses_measure(expr)? && !grain.contains(expr) {
                    grain.push(expr.clone());
                }
            }
        }
    }
    // Grain columns of the expansion: a plain column keeps its name.
    let grain_names: Vec<String> = grain
        .iter()
        .enumerate()
        .map(|(i, e)| match scope.column(e) {
            Some(c) => scope.columns[c].name.clone(),
            None => format!("__g{}", i + 1),
        })
        .collect();
    // The user's SELECT, HAVING and ORDER BY over the expansion's columns.
    let mut measures: BTreeSet<MeasureRef> = BTreeSet::new();
    let mut outer_items = Vec::new();
    for (expr, alias) in &items {
        let rewritten = outer_expr(&scope, expr, &grain, &grain_names, &mut measures, &items)?;
        outer_items.push(match alias {
            Some(alias) => format!("{rewritten} AS {alias}"),
            None => match scope.column(expr) {
                Some(c) => format!("{rewritten} AS {}", quote(&scope.columns[c].name)),
                None => rewritten.to_string(),
            },
        });
    }
    let having = match &select.having {
        Some(having) => {
            reject_subqueries(having, &scope)?;
            Some(outer_expr(
                &scope,
                having,
                &grain,
                &grain_names,
                &mut measures,
                &items,
            )?)
        }
        None => None,
    };
    if let Some(order_by) = &mut query.order_by
        && let OrderByKind::Expressions(list) = &mut order_by.kind
    {
        for item in list.iter_mut() {
            item.expr = outer_expr(
                &scope,
                &item.expr,
                &grain,
                &grain_names,
                &mut measures,
                &items,
            )?;
        }
    }
    // Row filters and grouping over the base tables.
    let filter = match &select.selection {
        Some(selection) => {
            reject_subqueries(selection, &scope)?;
            Some(inner_expr(&scope, selection, "WHERE")?)
        }
        None => None,
    };
    let inner_grain: Vec<Expr> = grain
        .iter()
        .map(|g| inner_expr(&scope, g, "GROUP BY"))
        .collect::<Result<_, _>>()?;
    let combined = aggregate_sql(
        &scope,
        &measures,
        &inner_grain,
        &grain_names,
        filter.as_ref(),
    )?;
    let distinct = if select.distinct.is_some() {
        "DISTINCT "
    } else {
        ""
    };
    let label = alias
        .map(normalize)
        .unwrap_or_else(|| models.model(root).name.clone());
    let mut outer = format!(
        "SELECT {distinct}{} FROM ({combined}) AS {}",
        outer_items.join(", "),
        quote(&label)
    );
    if let Some(having) = having {
        outer.push_str(&format!(" WHERE {having}"));
    }
    let parsed = crate::sql_text::parse_query(&outer)?;
    query.body = parsed.body;
    Ok(())
}

/// Refuses subqueries inside a semantic SELECT's expressions.
fn reject_subqueries(expr: &Expr, scope: &Scope<'_>) -> Result<(), QueryError> {
    let mut found = false;
    visit_all(expr, &mut |e| {
        if matches!(
            e,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if found {
        return Err(QueryError::new(
            QueryErrorKind::Unsupported,
            format!(
                "subqueries are not supported in a SELECT over semantic table {}; \
                 filter on its dimensions, or use it as a subquery of an outer query",
                scope.label
            ),
        ));
    }
    Ok(())
}

/// Visits an expression and its sub-expressions, outermost first.
fn visit_all(expr: &Expr, f: &mut dyn FnMut(&Expr) -> ControlFlow<()>) {
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| f(e));
}

/// Rewrites an expression of the SELECT list, HAVING or ORDER BY to read the
/// expansion: grain expressions become grain columns, measure references measure
/// columns (derived measures their expression over those).
fn outer_expr(
    scope: &Scope<'_>,
    expr: &Expr,
    grain: &[Expr],
    grain_names: &[String],
    measures: &mut BTreeSet<MeasureRef>,
    items: &[(Expr, Option<Ident>)],
) -> Result<Expr, QueryError> {
    rewrite(expr, |e: &Expr| -> Result<Option<Expr>, QueryError> {
        if let Some(i) = grain.iter().position(|g| g == e) {
            return Ok(Some(Expr::Identifier(quoted(&grain_names[i]))));
        }
        if let Some(column) = scope.measure(e)? {
            let Member::Measure { model, index } = scope.columns[column].member else {
                unreachable!("measure() returns measure columns only");
            };
            return Ok(Some(measure_value(scope, model, index, measures)?));
        }
        if let Some(column) = scope.column(e) {
            let name = &scope.columns[column].name;
            return Err(match scope.columns[column].member {
                Member::Segment { .. } => QueryError::new(
                    QueryErrorKind::Grouping,
                    format!(
                        "segment {name} of {} can only filter rows, in WHERE",
                        scope.label
                    ),
                ),
                _ => QueryError::new(
                    QueryErrorKind::Grouping,
                    format!(
                        "column {name} of {} must appear in the GROUP BY clause or be used in a measure",
                        scope.label
                    ),
                ),
            });
        }
        if Scope::is_other_aggregate(e) {
            return Err(QueryError::new(
                QueryErrorKind::Unsupported,
                format!(
                    "{e} is not a measure of {}: aggregate its measures with MEASURE(), \
                         or their own aggregate",
                    scope.label
                ),
            ));
        }
        if let Expr::Identifier(ident) = e
            && items
                .iter()
                .any(|(_, a)| a.as_ref().is_some_and(|a| normalize(a) == normalize(ident)))
        {
            // An output column's alias (ORDER BY total).
            return Ok(None);
        }
        undefined_column(scope, e)
    })
}

/// An error for a name that is no column of the table; `Ok(None)` for anything else.
fn undefined_column(scope: &Scope<'_>, e: &Expr) -> Result<Option<Expr>, QueryError> {
    let name = match e {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>()
            .join("."),
        _ => return Ok(None),
    };
    Err(QueryError::new(
        QueryErrorKind::UndefinedColumn,
        format!("column {name} does not exist in {}", scope.label),
    ))
}

/// The value of a measure in the expansion: its column, or for a derived measure its
/// expression over the columns of the measures it uses.
fn measure_value(
    scope: &Scope<'_>,
    model: usize,
    index: usize,
    measures: &mut BTreeSet<MeasureRef>,
) -> Result<Expr, QueryError> {
    let measure = &scope.models.model(model).measures[index];
    if measure.kind != MeasureType::Derived {
        measures.insert(MeasureRef { model, index });
        return Ok(Expr::Identifier(quoted(&measure_column(
            scope, model, index,
        ))));
    }
    let mut expr = measure.expr.clone().ok_or_else(|| {
        QueryError::new(QueryErrorKind::Unsupported, "a derived measure without sql")
    })?;
    let mut values = Vec::new();
    for (used_model, used_index) in &measure.uses {
        values.push(measure_value(scope, *used_model, *used_index, measures)?);
    }
    // Names in the derived expression are measures: bare ones of its own model.
    let mut failed = None;
    let _ = visit_expressions_mut(&mut expr, |e| {
        let target = match e {
            Expr::Identifier(ident) => Some((model, normalize(ident))),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => scope
                .models
                .find(&normalize(&parts[0]))
                .map(|m| (m, normalize(&parts[1]))),
            _ => None,
        };
        if let Some((m, name)) = target {
            let position = measure
                .uses
                .iter()
                .position(|(um, ui)| *um == m && scope.models.model(m).measures[*ui].name == name);
            match position {
                Some(p) => *e = Expr::Nested(Box::new(values[p].clone())),
                None => failed = Some(name),
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(name) = failed {
        return Err(QueryError::new(
            QueryErrorKind::Unsupported,
            format!(
                "derived measure {} names {name}, which is not a measure",
                measure.name
            ),
        ));
    }
    Ok(Expr::Nested(Box::new(expr)))
}

/// The expansion's column name of a measure: its column in the semantic table.
fn measure_column(scope: &Scope<'_>, model: usize, index: usize) -> String {
    scope
        .columns
        .iter()
        .find(|c| c.member == Member::Measure { model, index })
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("__m{model}_{index}"))
}

/// Rewrites an expression of WHERE or GROUP BY into base-table SQL.
fn inner_expr(scope: &Scope<'_>, expr: &Expr, clause: &str) -> Result<Expr, QueryError> {
    rewrite(expr, |e: &Expr| -> Result<Option<Expr>, QueryError> {
        if let Some(column) = scope.measure(e)? {
            return Err(QueryError::new(
                QueryErrorKind::Grouping,
                format!(
                    "measure {} of {} cannot be used in {clause}; filter on measures in HAVING",
                    scope.columns[column].name, scope.label
                ),
            ));
        }
        if Scope::is_other_aggregate(e) {
            return Err(QueryError::new(
                QueryErrorKind::Grouping,
                format!("aggregate functions are not allowed in {clause}"),
            ));
        }
        if let Some(range) = period_range(scope, e)? {
            return Ok(Some(range));
        }
        if let Some(column) = scope.column(e) {
            return Ok(Some(Expr::Nested(Box::new(scope.base_expr(column)?))));
        }
        undefined_column(scope, e)
    })
}

/// The (year, month, day) of a `DATE '…'` literal.
fn period_start(value: &Expr) -> Option<(i64, u32, u32)> {
    let Expr::TypedString(typed) = value else {
        return None;
    };
    if !matches!(
        typed.data_type,
        datafusion::sql::sqlparser::ast::DataType::Date
    ) {
        return None;
    }
    let text = typed.value.clone().into_string()?;
    let mut parts = text.trim().splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

/// Whether a date is the first day of a period of `grain` (weeks start on Monday).
fn starts_period((year, month, day): (i64, u32, u32), grain: Granularity) -> bool {
    match grain {
        Granularity::Day => true,
        Granularity::Week => weekday(year, month, day) == 0,
        Granularity::Month => day == 1,
        Granularity::Quarter => day == 1 && month % 3 == 1,
        Granularity::Year => day == 1 && month == 1,
    }
}

/// Day of the week, Monday = 0 (from the days since 1970-01-01, a Thursday).
fn weekday(year: i64, month: u32, day: u32) -> i64 {
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days + 3).rem_euclid(7)
}

/// `order_date_year = DATE '1995-01-01'` also as the range of `order_date` it covers,
/// so that the scan can prune files and row groups by the column's bounds (a truncated
/// value hides them). The equality itself stays unless the value is a date literal
/// that starts a period, where the range alone means the same.
fn period_range(scope: &Scope<'_>, e: &Expr) -> Result<Option<Expr>, QueryError> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = e
    else {
        return Ok(None);
    };
    let grain_of = |side: &Expr| match scope.column(side).map(|c| scope.columns[c].member) {
        Some(Member::Dimension {
            model,
            index,
            grain: Some(grain),
        }) => scope.column(side).map(|c| (c, model, index, grain)),
        _ => None,
    };
    let (grained, value) = match (grain_of(left), grain_of(right)) {
        (Some(g), None) => (g, right.as_ref()),
        (None, Some(g)) => (g, left.as_ref()),
        _ => return Ok(None),
    };
    // Only a constant: a value that names no column.
    let mut names_column = false;
    visit_all(value, &mut |v| {
        if matches!(v, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            names_column = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if names_column {
        return Ok(None);
    }
    let (column, model, index, grain) = grained;
    let raw = &scope.models.model(model).dimensions[index].expr;
    let truncated = scope.base_expr(column)?;
    let length = match grain {
        Granularity::Day => "1 day",
        Granularity::Week => "7 days",
        Granularity::Month => "1 month",
        Granularity::Quarter => "3 months",
        Granularity::Year => "1 year",
    };
    let range = format!(
        "{raw} >= CAST({value} AS DATE) AND {raw} < CAST({value} AS DATE) + INTERVAL '{length}'"
    );
    // A date literal that starts a period: the range alone is the equality.
    let sql = match period_start(value) {
        Some(date) if starts_period(date, grain) => format!("({range})"),
        _ => format!("({truncated} = {value} AND {range})"),
    };
    crate::expr::parse_expr(&sql)
        .map(Some)
        .map_err(|e| QueryError::new(QueryErrorKind::Unsupported, e))
}

/// Rewrites `expr` with `f`, which replaces an expression (outermost first) or says
/// to look inside it.
fn rewrite(
    expr: &Expr,
    f: impl FnMut(&Expr) -> Result<Option<Expr>, QueryError>,
) -> Result<Expr, QueryError> {
    let mut replacements: Vec<Expr> = Vec::new();
    let mut error = None;
    let mut rewritten = expr.clone();
    let mut visitor = Replace {
        f,
        placeholders: &mut replacements,
        error: &mut error,
    };
    let _ = rewritten.visit(&mut visitor);
    if let Some(error) = error {
        return Err(error);
    }
    fill_placeholders(&mut rewritten, &replacements);
    Ok(rewritten)
}

/// Replaces expressions outermost first: a replaced expression's parts are not visited
/// again (they are placeholders until [`fill_placeholders`]).
struct Replace<'p, F> {
    f: F,
    placeholders: &'p mut Vec<Expr>,
    error: &'p mut Option<QueryError>,
}

const PLACEHOLDER: &str = "\u{1}semantic";

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

impl<F> VisitorMut for Replace<'_, F>
where
    F: FnMut(&Expr) -> Result<Option<Expr>, QueryError>,
{
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match (self.f)(expr) {
            Ok(Some(replacement)) => {
                let n = self.placeholders.len();
                self.placeholders.push(replacement);
                *expr = Expr::Identifier(Ident::with_quote('"', format!("{PLACEHOLDER}{n}")));
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => {
                *self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

fn fill_placeholders(expr: &mut Expr, replacements: &[Expr]) {
    let _ = visit_expressions_mut(expr, |e| {
        if let Expr::Identifier(ident) = e
            && let Some(n) = ident.value.strip_prefix(PLACEHOLDER)
            && let Ok(n) = n.parse::<usize>()
        {
            *e = replacements[n].clone();
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The SQL computing every measure used at the grain, joined on the grain.
fn aggregate_sql(
    scope: &Scope<'_>,
    measures: &BTreeSet<MeasureRef>,
    grain: &[Expr],
    grain_names: &[String],
    filter: Option<&Expr>,
) -> Result<String, QueryError> {
    // Measures by the model they aggregate; with none, the grain's distinct values
    // from the queried model.
    let mut groups: BTreeMap<usize, Vec<MeasureRef>> = BTreeMap::new();
    for m in measures {
        groups.entry(m.model).or_default().push(*m);
    }
    if groups.is_empty() {
        groups.insert(scope.root, Vec::new());
    }
    let mut parts = Vec::new();
    for (model, group) in &groups {
        parts.push(group_sql(scope, *model, group, grain, grain_names, filter)?);
    }
    if parts.len() == 1 {
        return Ok(parts.remove(0));
    }
    // Each model's measures joined on the grain (NULL grain values match each other).
    let aliases: Vec<String> = (0..parts.len()).map(|i| format!("__q{i}")).collect();
    let mut select = Vec::new();
    for name in grain_names {
        let each: Vec<String> = aliases
            .iter()
            .map(|a| format!("{}.{}", quote(a), quote(name)))
            .collect();
        select.push(format!("COALESCE({}) AS {}", each.join(", "), quote(name)));
    }
    for ((_, group), alias) in groups.iter().zip(&aliases) {
        for m in group {
            let column = measure_column(scope, m.model, m.index);
            let value = format!("{}.{}", quote(alias), quote(&column));
            // A grain value one model lacks: its counts are zero, not unknown.
            let kind = scope.models.model(m.model).measures[m.index].kind;
            select.push(match kind {
                MeasureType::Count | MeasureType::CountDistinct => {
                    format!("COALESCE({value}, 0) AS {}", quote(&column))
                }
                _ => format!("{value} AS {}", quote(&column)),
            });
        }
    }
    let mut from = format!("({}) AS {}", parts[0], quote(&aliases[0]));
    for (i, part) in parts.iter().enumerate().skip(1) {
        if grain_names.is_empty() {
            from.push_str(&format!(" CROSS JOIN ({part}) AS {}", quote(&aliases[i])));
            continue;
        }
        let on: Vec<String> = grain_names
            .iter()
            .map(|name| {
                let left: Vec<String> = aliases[..i]
                    .iter()
                    .map(|a| format!("{}.{}", quote(a), quote(name)))
                    .collect();
                let left = if left.len() == 1 {
                    left[0].clone()
                } else {
                    format!("COALESCE({})", left.join(", "))
                };
                format!(
                    "({left} IS NOT DISTINCT FROM {}.{})",
                    quote(&aliases[i]),
                    quote(name)
                )
            })
            .collect();
        from.push_str(&format!(
            " FULL JOIN ({part}) AS {} ON {}",
            quote(&aliases[i]),
            on.join(" AND ")
        ));
    }
    Ok(format!("SELECT {} FROM {from}", select.join(", ")))
}

/// One model's measures at the grain, over its base table and the joins needed.
fn group_sql(
    scope: &Scope<'_>,
    root: usize,
    measures: &[MeasureRef],
    grain: &[Expr],
    grain_names: &[String],
    filter: Option<&Expr>,
) -> Result<String, QueryError> {
    let models = scope.models;
    let base = models.model(root);
    // The models the grain, the filter and the measures name.
    let mut needed: BTreeSet<String> = BTreeSet::new();
    for e in grain.iter().chain(filter) {
        needed.extend(qualifiers(e));
    }
    for m in measures {
        let measure = &models.model(m.model).measures[m.index];
        for e in measure.expr.iter().chain(measure.filter.iter()) {
            needed.extend(qualifiers(e));
        }
    }
    let paths: BTreeMap<usize, Vec<crate::model::Step>> =
        models.reachable(root).into_iter().collect();
    let mut steps: Vec<crate::model::Step> = Vec::new();
    for name in &needed {
        let Some(model) = models.find(name) else {
            continue;
        };
        let Some(path) = paths.get(&model) else {
            return Err(QueryError::new(
                QueryErrorKind::FanOut,
                format!(
                    "the measures of model {} cannot be grouped or filtered by model {name}: the two are not joined",
                    base.name
                ),
            ));
        };
        for step in path {
            if !steps.iter().any(|s| s.edge == step.edge) {
                steps.push(*step);
            }
        }
    }
    // Parents before children: order by depth.
    steps.sort_by_key(|s| paths.get(&s.to).map_or(0, |p| p.len()));
    let fans_out = steps
        .iter()
        .any(|s| s.relationship == Relationship::OneToMany);
    let mut from = format!("{} AS {}", table_sql(&base.table), base.name);
    for step in &steps {
        let edge = &models.edges()[step.edge];
        let joined = models.model(step.to);
        let kind = match edge.kind {
            crate::model::JoinKind::Inner => "INNER JOIN",
            crate::model::JoinKind::Left => "LEFT JOIN",
        };
        from.push_str(&format!(
            " {kind} {} AS {} ON {}",
            table_sql(&joined.table),
            joined.name,
            edge.on
        ));
    }
    let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
    let group_by = if grain.is_empty() {
        String::new()
    } else {
        let positions: Vec<String> = (1..=grain.len()).map(|i| i.to_string()).collect();
        format!(" GROUP BY {}", positions.join(", "))
    };
    // Repeated rows change no distinct count, minimum or maximum, and a count of rows
    // is a distinct count of keys: such measures aggregate the joined rows directly.
    let repeat_safe = |m: &MeasureRef| {
        let measure = &models.model(m.model).measures[m.index];
        match measure.kind {
            MeasureType::CountDistinct | MeasureType::Min | MeasureType::Max => true,
            MeasureType::Count => measure.expr.is_none() && base.primary_key.is_some(),
            _ => false,
        }
    };
    if !fans_out || measures.iter().all(repeat_safe) {
        let mut select: Vec<String> = grain
            .iter()
            .zip(grain_names)
            .map(|(g, name)| format!("{g} AS {}", quote(name)))
            .collect();
        for m in measures {
            let measure = &models.model(m.model).measures[m.index];
            let aggregate = match (&base.primary_key, measure.kind) {
                (Some(key), MeasureType::Count) if fans_out => format!(
                    "count(DISTINCT {})",
                    crate::sql_text::input_sql(measure, key)
                ),
                _ => agg_sql(measure, None),
            };
            select.push(format!(
                "{aggregate} AS {}",
                quote(&measure_column(scope, m.model, m.index))
            ));
        }
        return Ok(format!(
            "SELECT {} FROM {from}{filter}{group_by}",
            select.join(", ")
        ));
    }
    // A one-to-many join repeats the model's rows: one row per key and grain first.
    let Some(key) = &base.primary_key else {
        let joined: Vec<&str> = steps
            .iter()
            .filter(|s| s.relationship == Relationship::OneToMany)
            .map(|s| models.model(s.to).name.as_str())
            .collect();
        return Err(QueryError::new(
            QueryErrorKind::FanOut,
            format!(
                "the measures of model {} would be repeated by its one-to-many join to {}; \
                 declare primary_key on {} so that each row is counted once",
                base.name,
                joined.join(", "),
                base.name
            ),
        ));
    };
    let mut rows: Vec<String> = vec![format!("{key} AS \"__key\"")];
    rows.extend(
        grain
            .iter()
            .zip(grain_names)
            .map(|(g, name)| format!("{g} AS {}", quote(name))),
    );
    let mut select: Vec<String> = grain_names.iter().map(|n| quote(n)).collect();
    for (i, m) in measures.iter().enumerate() {
        let measure = &models.model(m.model).measures[m.index];
        let value = format!("\"__v{i}\"");
        rows.push(format!(
            "{} AS {value}",
            crate::sql_text::input_sql(measure, key)
        ));
        select.push(format!(
            "{} AS {}",
            agg_sql(measure, Some(&value)),
            quote(&measure_column(scope, m.model, m.index))
        ));
    }
    Ok(format!(
        "SELECT {} FROM (SELECT DISTINCT {} FROM {from}{filter}) AS \"__rows\"{group_by}",
        select.join(", "),
        rows.join(", ")
    ))
}
