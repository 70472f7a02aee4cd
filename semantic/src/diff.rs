//! What changed between two sets of semantic models, as BI users meet it: models,
//! dimensions, measures, segments and joins added, removed or changed (each named
//! `model.member`), so a change can be reviewed before it is deployed.

use std::collections::BTreeMap;

use crate::model::{Model, SemanticModels};

/// `+ name: what`, `- name: what` and `~ name: new (was old)` lines, model by model
/// in name order; empty when the models mean the same.
pub fn diff(old: &SemanticModels, new: &SemanticModels) -> Vec<String> {
    let before = described(old);
    let after = described(new);
    let mut lines = Vec::new();
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        match (before.get(name), after.get(name)) {
            (None, Some(members)) => {
                lines.push(format!("+ {name}: new model over {}", members["table"]));
            }
            (Some(members), None) => {
                lines.push(format!(
                    "- {name}: model removed (was over {})",
                    members["table"]
                ));
            }
            (Some(a), Some(b)) => {
                let members: std::collections::BTreeSet<&String> =
                    a.keys().chain(b.keys()).collect();
                for member in members {
                    let label = match member.as_str() {
                        "table" => name.clone(),
                        _ => format!("{name}.{member}"),
                    };
                    match (a.get(member), b.get(member)) {
                        (None, Some(what)) => lines.push(format!("+ {label}: {what}")),
                        (Some(what), None) => lines.push(format!("- {label}: {what}")),
                        (Some(x), Some(y)) if x != y => {
                            lines.push(format!("~ {label}: {y} (was {x})"))
                        }
                        _ => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
    lines
}

/// Each model's members as text: `table`, `DIMENSION`, `MEASURE`, `segment NAME`,
/// `join TARGET`.
fn described(models: &SemanticModels) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (index, model) in models.models().iter().enumerate() {
        out.insert(model.name.clone(), members(models, index, model));
    }
    out
}

fn members(models: &SemanticModels, index: usize, model: &Model) -> BTreeMap<String, String> {
    let mut members = BTreeMap::new();
    members.insert("table".to_string(), model.table.join("."));
    for dimension in &model.dimensions {
        let mut text = format!(
            "dimension {} = {}",
            snake(&format!("{:?}", dimension.kind)),
            dimension.expr
        );
        if !dimension.granularities.is_empty() {
            let granularities: Vec<&str> =
                dimension.granularities.iter().map(|g| g.name()).collect();
            text.push_str(&format!(" by {}", granularities.join(", ")));
        }
        members.insert(dimension.name.clone(), text);
    }
    for measure in &model.measures {
        let mut text = format!("measure {}", measure.kind.name());
        if let Some(expr) = &measure.expr {
            text.push_str(&format!(" of {expr}"));
        }
        if let Some(filter) = &measure.filter {
            text.push_str(&format!(" where {filter}"));
        }
        members.insert(measure.name.clone(), text);
    }
    for segment in &model.segments {
        members.insert(
            format!("segment {}", segment.name),
            format!("segment {}", segment.expr),
        );
    }
    for edge in models.edges().iter().filter(|e| e.from == index) {
        members.insert(
            format!("join {}", models.model(edge.to).name),
            format!(
                "{} {} join on {}",
                snake(&format!("{:?}", edge.relationship)),
                snake(&format!("{:?}", edge.kind)),
                edge.on
            ),
        );
    }
    members
}

/// `ManyToOne` → `many_to_one`, as the model files spell it.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> SemanticModels {
        crate::load_sources(&[("m.yml".into(), yaml.to_string())]).expect("valid models")
    }

    #[test]
    fn names_members_added_removed_and_changed() {
        let old = load(
            "models:\n  - name: orders\n    table: lake.tpch.orders\n    dimensions:\n      - name: status\n        sql: o_orderstatus\n        type: string\n    measures:\n      - name: revenue\n        type: sum\n        sql: o_totalprice\n      - name: orders\n        type: count\n",
        );
        let new = load(
            "models:\n  - name: orders\n    table: lake.tpch.orders\n    dimensions:\n      - name: status\n        sql: o_orderstatus\n        type: string\n      - name: priority\n        sql: o_orderpriority\n        type: string\n    measures:\n      - name: revenue\n        type: sum\n        sql: o_totalprice\n        filter: o_orderstatus = 'F'\n",
        );
        assert!(diff(&old, &old).is_empty());
        assert_eq!(
            diff(&old, &new),
            [
                "- orders.orders: measure count",
                "+ orders.priority: dimension string = orders.o_orderpriority",
                "~ orders.revenue: measure sum of orders.o_totalprice where orders.o_orderstatus = 'F' (was measure sum of orders.o_totalprice)",
            ]
        );
    }
}
