//! Model files as written: the YAML structure, read with the line and column of every
//! name and expression so that a validation error can point at them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::{Diagnostic, Diagnostics};

/// A value and where it was written.
pub(crate) type At<T> = Spanned<T>;

/// One model file: a list of models.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelFile {
    pub models: Vec<ModelDef>,
}

/// A model as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelDef {
    pub name: At<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The base table, `catalog.schema.table`.
    pub table: At<String>,
    #[serde(default)]
    pub primary_key: Option<At<String>>,
    #[serde(default)]
    pub joins: Vec<JoinDef>,
    #[serde(default)]
    pub dimensions: Vec<DimensionDef>,
    #[serde(default)]
    pub measures: Vec<MeasureDef>,
    #[serde(default)]
    pub segments: Vec<SegmentDef>,
}

/// A join to another model, declared on one side; it can be walked both ways.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JoinDef {
    pub model: At<String>,
    pub relationship: At<Relationship>,
    /// The join condition, naming both models: `orders.o_custkey = customers.c_custkey`.
    pub on: At<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<At<JoinKind>>,
}

/// How many rows of the joined model match one row of the declaring model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// One row each side.
    OneToOne,
    /// Many rows of the declaring model share one row of the joined model.
    ManyToOne,
    /// One row of the declaring model matches many of the joined model.
    OneToMany,
}

impl Relationship {
    /// The same join seen from the other model.
    pub fn reversed(self) -> Self {
        match self {
            Self::OneToOne => Self::OneToOne,
            Self::ManyToOne => Self::OneToMany,
            Self::OneToMany => Self::ManyToOne,
        }
    }
}

/// Whether rows without a match are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    /// Rows of the side the query starts from are kept without a match (the default).
    #[default]
    Left,
    /// Only rows with a match: a row filter on the joined model then also limits the
    /// facts of the declaring model.
    Inner,
}

/// A dimension as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DimensionDef {
    pub name: At<String>,
    /// A column or SQL expression; the name itself when absent.
    #[serde(default)]
    pub sql: Option<At<String>>,
    #[serde(rename = "type", default)]
    pub kind: Option<At<DimensionType>>,
    #[serde(default)]
    pub description: Option<String>,
    /// Time dimensions only: the granularities offered, all five when absent.
    #[serde(default)]
    pub granularities: Option<At<Vec<Granularity>>>,
}

/// What a dimension holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimensionType {
    /// Text.
    String,
    /// Any number.
    Number,
    /// True or false.
    Boolean,
    /// A date or timestamp: offered at each granularity.
    Time,
}

/// A time dimension truncated to a calendar unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Calendar day.
    Day,
    /// ISO week, starting on Monday.
    Week,
    /// Calendar month.
    Month,
    /// Calendar quarter.
    Quarter,
    /// Calendar year.
    Year,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 5] = [
        Granularity::Day,
        Granularity::Week,
        Granularity::Month,
        Granularity::Quarter,
        Granularity::Year,
    ];

    /// Its name, as in column names (`order_date_month`) and `date_trunc`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }
}

/// A measure as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeasureDef {
    pub name: At<String>,
    #[serde(rename = "type")]
    pub kind: At<MeasureType>,
    /// The aggregated expression; for `derived`, an expression over other measures.
    #[serde(default)]
    pub sql: Option<At<String>>,
    /// Only rows where this holds are aggregated.
    #[serde(default)]
    pub filter: Option<At<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// How a measure aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureType {
    /// `sum(sql)`.
    Sum,
    /// `count(sql)`, or the rows when there is no `sql`.
    Count,
    /// `count(DISTINCT sql)`.
    CountDistinct,
    /// `avg(sql)`.
    Avg,
    /// `min(sql)`.
    Min,
    /// `max(sql)`.
    Max,
    /// An expression over other measures, such as a ratio.
    Derived,
}

impl MeasureType {
    /// Its name in model files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Count => "count",
            Self::CountDistinct => "count_distinct",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Derived => "derived",
        }
    }
}

/// A segment as written: a named filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SegmentDef {
    pub name: At<String>,
    pub sql: At<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The model files of a directory: `*.yml` and `*.yaml`, sorted by name, not recursing.
pub(crate) fn model_paths(dir: &Path) -> Result<Vec<PathBuf>, Diagnostics> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Diagnostics::one(Diagnostic::file(
            dir,
            format!("cannot read the model directory: {e}"),
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e == "yml" || e == "yaml")
        })
        .collect();
    paths.sort();
    Ok(paths)
}

/// Parses one model file.
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<ModelFile, Diagnostic> {
    serde_saphyr::from_str::<ModelFile>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        Diagnostic::at(path, line, column, plain_message(&e))
    })
}

/// The parser's message without the source snippet it renders around it.
fn plain_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    // "error: line 3 column 5: unknown field ..." → the part after the location.
    let message = first.strip_prefix("error:").unwrap_or(first).trim();
    match message.split_once(": ") {
        Some((location, rest)) if location.starts_with("line ") => rest.to_string(),
        _ => message.to_string(),
    }
}
