//! From model files to [`SemanticModels`]: every name, expression, join and reference
//! checked, each problem reported with its file, line, column and field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use datafusion::sql::sqlparser::ast::Expr;
use serde_saphyr::Location;

use crate::error::{Diagnostic, Diagnostics};
use crate::expr::{column_refs, is_plain_name, parse_expr, qualifiers, qualify};
use crate::files::{At, DimensionType, Granularity, MeasureType, ModelDef, ModelFile};
use crate::model::{Dimension, Edge, Measure, Model, Segment, SemanticModels};

/// Reads and validates every model file of `dir`.
pub fn load_dir(dir: &Path) -> Result<SemanticModels, Diagnostics> {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for path in crate::files::model_paths(dir)? {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push((path, text)),
            Err(e) => problems.push(Diagnostic::file(&path, format!("cannot read: {e}"))),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    load_sources(&sources)
}

/// Validates model files given as `(name, text)`, such as the ones built into the
/// binary.
pub fn load_sources(sources: &[(PathBuf, String)]) -> Result<SemanticModels, Diagnostics> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (path, text) in sources {
        match crate::files::parse_file(path, text) {
            Ok(file) => files.push((path.clone(), file)),
            Err(diagnostic) => problems.push(diagnostic),
        }
    }
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }
    validate(files)
}

/// Validates parsed model files, all of them together (joins cross files).
pub(crate) fn validate(files: Vec<(PathBuf, ModelFile)>) -> Result<SemanticModels, Diagnostics> {
    let mut v = Validator::default();
    let defs: Vec<(PathBuf, ModelDef)> = files
        .into_iter()
        .flat_map(|(path, file)| file.models.into_iter().map(move |m| (path.clone(), m)))
        .collect();
    // Names first: joins and derived measures refer to models by name.
    let mut by_name = BTreeMap::new();
    for (index, (path, def)) in defs.iter().enumerate() {
        let name = &def.name.value;
        if !is_plain_name(name) {
            v.report(path, &def.name.referenced, format!(
                "models[].name: {name:?} must be lower case letters, digits and _, not starting with a digit"
            ));
        } else if by_name.insert(name.clone(), index).is_some() {
            v.report(
                path,
                &def.name.referenced,
                format!("models[].name: model {name:?} is defined twice"),
            );
        }
    }
    let mut models = Vec::new();
    for (path, def) in &defs {
        models.push(v.model(path, def, &by_name));
    }
    let mut edges = Vec::new();
    for (from, (path, def)) in defs.iter().enumerate() {
        for join in &def.joins {
            let Some(&to) = by_name.get(&join.model.value) else {
                v.report(
                    path,
                    &join.model.referenced,
                    format!("joins[].model: no model named {:?}", join.model.value),
                );
                continue;
            };
            let Some(on) = v.expr(path, &join.on, "joins[].on") else {
                continue;
            };
            let named = qualifiers(&on);
            let expected = BTreeSet::from([def.name.value.clone(), join.model.value.clone()]);
            let unqualified = column_refs(&on).iter().any(|parts| parts.len() != 2);
            if unqualified || !named.is_subset(&expected) || named.len() != expected.len() {
                v.report(path, &join.on.referenced, format!(
                    "joins[].on: the condition must name columns of both models as {}.column and {}.column",
                    def.name.value, join.model.value
                ));
                continue;
            }
            if from == to {
                v.report(
                    path,
                    &join.model.referenced,
                    "joins[].model: a model cannot join itself",
                );
                continue;
            }
            if edges.iter().any(|e: &(Edge, PathBuf, Location)| {
                (e.0.from == from && e.0.to == to) || (e.0.from == to && e.0.to == from)
            }) {
                v.report(path, &join.model.referenced, format!(
                    "joins[].model: {} and {} are joined twice; declare a join on one side only (it is walked both ways)",
                    def.name.value, join.model.value
                ));
                continue;
            }
            edges.push((
                Edge {
                    from,
                    to,
                    relationship: join.relationship.value,
                    on,
                    kind: join.kind.as_ref().map(|k| k.value).unwrap_or_default(),
                },
                path.clone(),
                join.model.referenced,
            ));
        }
    }
    // One path between two models: the joins must form a forest.
    let mut parent: Vec<usize> = (0..defs.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (edge, path, at) in &edges {
        let (a, b) = (root(&mut parent, edge.from), root(&mut parent, edge.to));
        if a == b {
            v.report(path, at, format!(
                "joins[].model: joining {} to {} closes a cycle; models must be joined by one path only (model the second path as another model over the same table)",
                defs[edge.from].1.name.value, defs[edge.to].1.name.value
            ));
        } else {
            parent[a] = b;
        }
    }
    let mut models = SemanticModels {
        models,
        by_name,
        edges: edges.into_iter().map(|(e, _, _)| e).collect(),
    };
    v.references(&models, &defs);
    for (model, measure, message) in resolve_derived(&mut models) {
        let (path, def) = &defs[model];
        let at = def
            .measures
            .iter()
            .find(|m| m.name.value == measure)
            .and_then(|m| m.sql.as_ref().map(|s| s.referenced))
            .unwrap_or(def.name.referenced);
        v.report(path, &at, format!("measures[].sql: {message}"));
    }
    if v.problems.is_empty() {
        Ok(models)
    } else {
        Err(Diagnostics(v.problems))
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Diagnostic>,
}

impl Validator {
    fn report(&mut self, path: &Path, at: &Location, message: impl Into<String>) {
        self.problems
            .push(Diagnostic::at(path, at.line(), at.column(), message));
    }

    fn expr(&mut self, path: &Path, sql: &At<String>, field: &str) -> Option<Expr> {
        match parse_expr(&sql.value) {
            Ok(expr) => Some(expr),
            Err(e) => {
                self.report(path, &sql.referenced, format!("{field}: {e}"));
                None
            }
        }
    }

    /// A member name: plain, and not taken in its model.
    fn member_name(
        &mut self,
        path: &Path,
        name: &At<String>,
        field: &str,
        taken: &mut BTreeSet<String>,
    ) -> bool {
        if !is_plain_name(&name.value) {
            self.report(path, &name.referenced, format!(
                "{field}: {:?} must be lower case letters, digits and _, not starting with a digit",
                name.value
            ));
            return false;
        }
        if !taken.insert(name.value.clone()) {
            self.report(
                path,
                &name.referenced,
                format!(
                    "{field}: {:?} is already a member of this model",
                    name.value
                ),
            );
            return false;
        }
        true
    }

    fn model(&mut self, path: &Path, def: &ModelDef, models: &BTreeMap<String, usize>) -> Model {
        let name = def.name.value.clone();
        let table: Vec<String> = def
            .table
            .value
            .split('.')
            .map(|p| p.trim().to_string())
            .collect();
        if table.len() != 3 || table.iter().any(|p| p.is_empty()) {
            self.report(
                path,
                &def.table.referenced,
                format!(
                    "models[].table: {:?} must be catalog.schema.table",
                    def.table.value
                ),
            );
        }
        let mut taken = BTreeSet::new();
        let own = |v: &mut Self, sql: &At<String>, field: &str| -> Option<Expr> {
            let mut expr = v.expr(path, sql, field)?;
            for model in qualifiers(&expr) {
                if !models.contains_key(&model) {
                    v.report(path, &sql.referenced, format!(
                        "{field}: {model:?} is not a model (qualify columns of joined models with the model's name)"
                    ));
                    return None;
                }
            }
            qualify(&mut expr, &name);
            Some(expr)
        };
        let primary_key = def
            .primary_key
            .as_ref()
            .and_then(|key| own(self, key, "primary_key"));
        let mut dimensions = Vec::new();
        for d in &def.dimensions {
            if !self.member_name(path, &d.name, "dimensions[].name", &mut taken) {
                continue;
            }
            let sql = d.sql.clone().unwrap_or_else(|| d.name.clone());
            let Some(expr) = own(self, &sql, "dimensions[].sql") else {
                continue;
            };
            let kind = d
                .kind
                .as_ref()
                .map(|k| k.value)
                .unwrap_or(DimensionType::String);
            let granularities = match (&d.granularities, kind) {
                (None, DimensionType::Time) => Granularity::ALL.to_vec(),
                (Some(list), DimensionType::Time) => {
                    let mut list = list.value.clone();
                    list.sort();
                    list.dedup();
                    list
                }
                (Some(list), _) => {
                    self.report(path, &list.referenced, "dimensions[].granularities: only dimensions of type time have granularities");
                    Vec::new()
                }
                (None, _) => Vec::new(),
            };
            for grain in &granularities {
                let column = format!("{}_{}", d.name.value, grain.name());
                if !taken.insert(column.clone()) {
                    self.report(path, &d.name.referenced, format!(
                        "dimensions[].name: the {} granularity of {:?} is named {column:?}, which is already a member",
                        grain.name(), d.name.value
                    ));
                }
            }
            dimensions.push(Dimension {
                name: d.name.value.clone(),
                expr,
                kind,
                granularities,
                description: d.description.clone(),
            });
        }
        let mut measures = Vec::new();
        for m in &def.measures {
            if !self.member_name(path, &m.name, "measures[].name", &mut taken) {
                continue;
            }
            let kind = m.kind.value;
            let expr = match (&m.sql, kind) {
                (Some(sql), MeasureType::Derived) => self.expr(path, sql, "measures[].sql"),
                (Some(sql), _) => own(self, sql, "measures[].sql"),
                (None, MeasureType::Count) => None,
                (None, _) => {
                    self.report(
                        path,
                        &m.kind.referenced,
                        format!(
                            "measures[].sql: a {} measure needs sql (only count may omit it)",
                            kind.name()
                        ),
                    );
                    continue;
                }
            };
            if kind != MeasureType::Count && expr.is_none() {
                continue;
            }
            let filter = match &m.filter {
                Some(_) if kind == MeasureType::Derived => {
                    self.report(path, &m.name.referenced, "measures[].filter: a derived measure cannot have a filter; filter the measures it uses");
                    None
                }
                Some(sql) => own(self, sql, "measures[].filter"),
                None => None,
            };
            measures.push(Measure {
                name: m.name.value.clone(),
                kind,
                expr,
                filter,
                description: m.description.clone(),
                uses: Vec::new(),
            });
        }
        let mut segments = Vec::new();
        for s in &def.segments {
            if !self.member_name(path, &s.name, "segments[].name", &mut taken) {
                continue;
            }
            if let Some(expr) = own(self, &s.sql, "segments[].sql") {
                segments.push(Segment {
                    name: s.name.value.clone(),
                    expr,
                    description: s.description.clone(),
                });
            }
        }
        Model {
            name,
            description: def.description.clone(),
            table,
            primary_key,
            dimensions,
            measures,
            segments,
        }
    }

    /// Checks what expressions name across models: other models only when joined,
    /// derived measures' measures, and derived measures without cycles.
    fn references(&mut self, models: &SemanticModels, defs: &[(PathBuf, ModelDef)]) {
        for (index, (path, def)) in defs.iter().enumerate() {
            if index >= models.models.len() {
                break;
            }
            let reachable: BTreeSet<usize> = models
                .reachable(index)
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            let model = &models.models[index];
            let check = |v: &mut Self, expr: &Expr, at: &Location, field: &str| {
                for name in qualifiers(expr) {
                    if let Some(other) = models.find(&name)
                        && !reachable.contains(&other)
                    {
                        v.report(
                            path,
                            at,
                            format!("{field}: model {name:?} is not joined to {:?}", model.name),
                        );
                    }
                }
            };
            for d in &model.dimensions {
                let Some(def) = def.dimensions.iter().find(|x| x.name.value == d.name) else {
                    continue;
                };
                let at = def
                    .sql
                    .as_ref()
                    .map_or(def.name.referenced, |s| s.referenced);
                check(self, &d.expr, &at, "dimensions[].sql");
            }
            for s in &model.segments {
                if let Some(def) = def.segments.iter().find(|x| x.name.value == s.name) {
                    check(self, &s.expr, &def.sql.referenced, "segments[].sql");
                }
            }
            for m in &model.measures {
                let Some(def) = def.measures.iter().find(|x| x.name.value == m.name) else {
                    continue;
                };
                let at = def
                    .sql
                    .as_ref()
                    .map_or(def.name.referenced, |s| s.referenced);
                if m.kind != MeasureType::Derived {
                    if let Some(expr) = &m.expr {
                        check(self, expr, &at, "measures[].sql");
                    }
                    if let (Some(filter), Some(sql)) = (&m.filter, &def.filter) {
                        check(self, filter, &sql.referenced, "measures[].filter");
                    }
                }
            }
        }
    }
}

/// Resolves the measures each derived measure names, rejecting unknown ones and cycles:
/// each problem as `(model, measure, message)`.
fn resolve_derived(models: &mut SemanticModels) -> Vec<(usize, String, String)> {
    let mut problems = Vec::new();
    let snapshot = models.clone();
    for (mi, model) in models.models.iter_mut().enumerate() {
        let reachable: BTreeSet<usize> =
            snapshot.reachable(mi).into_iter().map(|(m, _)| m).collect();
        for measure in &mut model.measures {
            if measure.kind != MeasureType::Derived {
                continue;
            }
            let Some(expr) = &measure.expr else { continue };
            let mut uses = Vec::new();
            for parts in column_refs(expr) {
                let (owner, name) = match parts.as_slice() {
                    [name] => (Some(mi), name.clone()),
                    [qualifier, name] => (snapshot.find(qualifier), name.clone()),
                    _ => (None, parts.join(".")),
                };
                let found = owner.filter(|o| reachable.contains(o)).and_then(|o| {
                    snapshot.models[o]
                        .measures
                        .iter()
                        .position(|m| m.name == name)
                        .map(|i| (o, i))
                });
                match found {
                    Some(used) => uses.push(used),
                    None => problems.push((
                        mi,
                        measure.name.clone(),
                        format!(
                            "{} is not a measure of this model or of a joined one",
                            parts.join(".")
                        ),
                    )),
                }
            }
            measure.uses = uses;
        }
    }
    // Cycles among derived measures.
    let snapshot = models.clone();
    for (mi, model) in snapshot.models.iter().enumerate() {
        for (i, _) in model.measures.iter().enumerate() {
            let mut stack = vec![(mi, i)];
            let mut seen = BTreeSet::new();
            while let Some(at) = stack.pop() {
                for used in &snapshot.models[at.0].measures[at.1].uses {
                    if *used == (mi, i) {
                        problems.push((
                            mi,
                            model.measures[i].name.clone(),
                            "derived measures refer to each other in a cycle".to_string(),
                        ));
                        stack.clear();
                        break;
                    }
                    if seen.insert(*used) {
                        stack.push(*used);
                    }
                }
            }
        }
    }
    problems
}
