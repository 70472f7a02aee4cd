//! SQL cursors: DECLARE … CURSOR [WITH HOLD] FOR, FETCH and CLOSE.
//!
//! A cursor holds the result stream of its query, planned and secured at DECLARE like
//! any query and pinned to the snapshots it resolved then. FETCH pulls the next rows
//! from that stream, so a cursor over a large table never materialises it. Tables are
//! read from immutable snapshots, so a WITH HOLD cursor simply outlives the transaction
//! block: nothing needs copying at COMMIT.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Statement as SqlStatement, Value,
};
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::{ErrorKind, QueryError, Result};

/// The result stream of a cursor and a batch it has started to hand out.
struct Position {
    stream: SendableRecordBatchStream,
    /// Rows read from the stream but not fetched yet.
    pending: Option<RecordBatch>,
}

/// One open cursor.
struct Cursor {
    schema: SchemaRef,
    position: Arc<Mutex<Position>>,
    /// Survives the end of its transaction block.
    hold: bool,
    /// Savepoints open when it was declared: ROLLBACK TO an older one closes it.
    level: usize,
}

/// A session's open cursors, by name.
#[derive(Default)]
pub(crate) struct Cursors {
    open: HashMap<String, Cursor>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.open.keys()).finish()
    }
}

/// What a DECLARE asks for.
#[derive(Debug, Clone)]
pub(crate) struct DeclareSpec {
    pub(crate) name: String,
    pub(crate) hold: bool,
}

/// How many rows a FETCH asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchCount {
    Rows(usize),
    All,
}

impl Cursors {
    /// Opens a cursor over `stream`.
    pub(crate) fn declare(
        &mut self,
        spec: &DeclareSpec,
        stream: SendableRecordBatchStream,
        level: usize,
    ) -> Result<()> {
        if self.open.contains_key(&spec.name) {
            return Err(QueryError::new(
                ErrorKind::DuplicateCursor,
                format!("cursor \"{}\" already exists", spec.name),
            ));
        }
        self.open.insert(
            spec.name.clone(),
            Cursor {
                schema: stream.schema(),
                position: Arc::new(Mutex::new(Position {
                    stream,
                    pending: None,
                })),
                hold: spec.hold,
                level,
            },
        );
        Ok(())
    }

    /// The result schema of a cursor, if it is open.
    pub(crate) fn get_schema(&self, name: &str) -> Option<SchemaRef> {
        self.open.get(name).map(|c| c.schema.clone())
    }

    /// The result schema of a cursor.
    pub(crate) fn schema(&self, name: &str) -> Result<SchemaRef> {
        Ok(self.get(name)?.schema.clone())
    }

    /// The next `count` rows of a cursor, as a stream that reads them on demand.
    pub(crate) fn fetch(&self, name: &str, count: FetchCount) -> Result<SendableRecordBatchStream> {
        let cursor = self.get(name)?;
        let remaining = match count {
            FetchCount::Rows(n) => n,
            FetchCount::All => usize::MAX,
        };
        let position = cursor.position.clone();
        let rows = futures::stream::try_unfold(
            (position, remaining),
            |(position, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let mut at = position.lock().await;
                let batch = match at.pending.take() {
                    Some(batch) => batch,
                    None => loop {
                        match at.stream.next().await {
                            Some(Ok(batch)) if batch.num_rows() == 0 => continue,
                            Some(Ok(batch)) => break batch,
                            Some(Err(e)) => return Err(e),
                            None => return Ok(None),
                        }
                    },
                };
                let taken = if batch.num_rows() > remaining {
                    at.pending = Some(batch.slice(remaining, batch.num_rows() - remaining));
                    batch.slice(0, remaining)
                } else {
                    batch
                };
                drop(at);
                let left = remaining - taken.num_rows();
                Ok(Some((taken, (position, left))))
            },
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            cursor.schema.clone(),
            rows,
        )))
    }

    /// CLOSE name.
    pub(crate) fn close(&mut self, name: &str) -> Result<()> {
        self.open
            .remove(name)
            .map(drop)
            .ok_or_else(|| missing(name))
    }

    /// CLOSE ALL.
    pub(crate) fn close_all(&mut self) {
        self.open.clear();
    }

    /// At the end of a transaction block: cursors without HOLD close.
    pub(crate) fn close_unheld(&mut self) {
        self.open.retain(|_, c| c.hold);
    }

    /// At ROLLBACK TO the savepoint at `level - 1`: cursors declared after it close.
    pub(crate) fn close_declared_after(&mut self, level: usize) {
        self.open.retain(|_, c| c.level < level);
    }

    fn get(&self, name: &str) -> Result<&Cursor> {
        self.open.get(name).ok_or_else(|| missing(name))
    }
}

fn missing(name: &str) -> QueryError {
    QueryError::new(
        ErrorKind::InvalidCursorName,
        format!("cursor \"{name}\" does not exist"),
    )
}

/// The cursor a DECLARE opens and its query, or why it cannot be opened.
pub(crate) fn declare_spec(statement: &SqlStatement) -> Result<(DeclareSpec, SqlStatement)> {
    let SqlStatement::Declare { stmts } = statement else {
        return Err(QueryError::new(ErrorKind::Internal, "not a DECLARE"));
    };
    let [declare] = stmts.as_slice() else {
        return Err(QueryError::new(
            ErrorKind::Syntax,
            "DECLARE declares one cursor at a time",
        ));
    };
    let Declare {
        names,
        declare_type,
        binary,
        scroll,
        hold,
        for_query,
        ..
    } = declare;
    let (Some(DeclareType::Cursor), [name], Some(query)) =
        (declare_type, names.as_slice(), for_query)
    else {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "only DECLARE name CURSOR FOR query is supported",
        ));
    };
    if binary == &Some(true) {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "BINARY cursors are not supported; request binary results with the extended protocol",
        ));
    }
    if scroll == &Some(true) {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "SCROLL cursors are not supported: cursors scan forward only",
        ));
    }
    Ok((
        DeclareSpec {
            name: name.value.clone(),
            hold: hold == &Some(true),
        },
        SqlStatement::Query(query.clone()),
    ))
}

/// The cursor and row count of a FETCH.
pub(crate) fn fetch_spec(statement: &SqlStatement) -> Result<(String, FetchCount)> {
    let SqlStatement::Fetch {
        name,
        direction,
        into,
        ..
    } = statement
    else {
        return Err(QueryError::new(ErrorKind::Internal, "not a FETCH"));
    };
    if into.is_some() {
        return Err(QueryError::new(
            ErrorKind::FeatureNotSupported,
            "FETCH … INTO is not supported",
        ));
    }
    let count = match direction {
        FetchDirection::Next => FetchCount::Rows(1),
        FetchDirection::All | FetchDirection::ForwardAll => FetchCount::All,
        FetchDirection::Count { limit } => signed_count(limit)?,
        FetchDirection::Forward { limit: Some(limit) } => signed_count(limit)?,
        FetchDirection::Forward { limit: None } => FetchCount::Rows(1),
        _ => return Err(scan_forward()),
    };
    Ok((name.value.clone(), count))
}

/// The cursor of a CLOSE, or `None` for CLOSE ALL.
pub(crate) fn close_spec(statement: &SqlStatement) -> Option<String> {
    match statement {
        SqlStatement::Close {
            cursor: CloseCursor::Specific { name },
        } => Some(name.value.clone()),
        _ => None,
    }
}

fn signed_count(value: &Value) -> Result<FetchCount> {
    let Value::Number(text, _) = value else {
        return Err(QueryError::new(
            ErrorKind::Syntax,
            format!("FETCH count must be a number, found {value}"),
        ));
    };
    let n: i64 = text.parse().map_err(|_| {
        QueryError::new(
            ErrorKind::Syntax,
            format!("FETCH count must be an integer, found {text}"),
        )
    })?;
    if n < 0 {
        return Err(scan_forward());
    }
    Ok(FetchCount::Rows(usize::try_from(n).unwrap_or(usize::MAX)))
}

fn scan_forward() -> QueryError {
    QueryError::new(
        ErrorKind::ObjectNotInPrerequisiteState,
        "cursor can only scan forward",
    )
}
