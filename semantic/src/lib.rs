//! The semantic layer: metrics defined once, in YAML model files, and queried by every
//! client as ordinary tables of schema `semantic`.
//!
//! [`load_dir`] reads and validates a directory of model files into
//! [`SemanticModels`]; [`expand_statement`] rewrites each SELECT over a semantic table
//! into SQL over the base tables, which the planner then plans, secures and runs like
//! any query.

mod compile;
mod diff;
mod error;
mod expr;
mod files;
mod model;
mod scope;
mod sql_text;
mod validate;

pub use compile::{Resolve, expand_statement};
pub use diff::diff;
pub use error::{Diagnostic, Diagnostics, QueryError, QueryErrorKind};
pub use files::{DimensionType, Granularity, JoinKind, MeasureType, Relationship};
pub use model::{Column, Dimension, Edge, Measure, Member, Model, Segment, SemanticModels, Step};
pub use validate::{load_dir, load_sources};

#[cfg(test)]
mod tests;
