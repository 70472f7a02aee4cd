//! `EXPLAIN COST <query>`: DataFusion's parser has no such statement, so parse.rs reads
//! it and marks the statement as an EXPLAIN whose format is [`COST_FORMAT`]; the
//! pipeline's estimate stage answers it (pipeline/estimate.rs).

use datafusion::sql::parser::{ExplainStatement, Statement as DFStatement};

/// The EXPLAIN format that marks `EXPLAIN COST`.
pub(crate) const COST_FORMAT: &str = "lakegate_cost";

/// `EXPLAIN COST` around `statement`.
pub(crate) fn explain_cost(statement: DFStatement) -> DFStatement {
    DFStatement::Explain(ExplainStatement {
        analyze: false,
        verbose: false,
        format: Some(COST_FORMAT.into()),
        statement: Box::new(statement),
    })
}

/// The query an `EXPLAIN COST` estimates.
pub(crate) fn cost_target(statement: &DFStatement) -> Option<&DFStatement> {
    match statement {
        DFStatement::Explain(explain) if explain.format.as_deref() == Some(COST_FORMAT) => {
            Some(explain.statement.as_ref())
        }
        _ => None,
    }
}
