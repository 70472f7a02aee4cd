//! One sqllogictest connection to a test gateway: in-process (the `QueryService` a
//! frontend calls, results encoded by the Postgres wire's text encoders) or over the
//! Postgres wire (tokio-postgres, simple protocol).
//!
//! `\connect USER` (as in psql) is answered here: the connection becomes a new session
//! of that demo user (whose password is its name). Errors read `SQLSTATE: message`, so
//! a record says `statement error 42501: permission denied`.

use std::sync::Arc;

use futures::StreamExt;
use lakegate_planner::{ClientOrigin, Outcome, QueryService, Session};
use lakegate_tests::TestGateway;
use sqllogictest::{DBOutput, DefaultColumnType};

/// How statements reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `QueryService` directly, as a frontend calls it.
    InProcess,
    /// tokio-postgres over the Postgres wire.
    Wire,
}

/// A statement's error: its SQLSTATE and message.
#[derive(Debug)]
pub struct SqlError {
    code: String,
    message: String,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SqlError {}

enum Connection {
    InProcess(Box<Session>),
    Wire(tokio_postgres::Client),
}

/// One connection of the runner.
pub struct GatewayDb {
    gateway: Arc<TestGateway>,
    mode: Mode,
    connection: Connection,
}

impl GatewayDb {
    /// A connection as `user`.
    pub async fn connect(
        gateway: Arc<TestGateway>,
        mode: Mode,
        user: &str,
    ) -> Result<Self, SqlError> {
        let connection = open(&gateway, mode, user).await?;
        Ok(Self {
            gateway,
            mode,
            connection,
        })
    }
}

async fn open(gateway: &TestGateway, mode: Mode, user: &str) -> Result<Connection, SqlError> {
    Ok(match mode {
        Mode::InProcess => {
            let service = gateway.gateway.service();
            let principal = gateway
                .gateway
                .users()
                .principal(user)
                .ok_or_else(|| SqlError {
                    code: "28000".into(),
                    message: format!("role \"{user}\" is not permitted to log in"),
                })?;
            Connection::InProcess(Box::new(service.open_session(
                principal,
                ClientOrigin {
                    address: "sqllogictest".into(),
                    protocol: "postgres",
                },
            )))
        }
        Mode::Wire => Connection::Wire(gateway.connect_as(user, user).await.map_err(wire_error)?),
    })
}

fn wire_error(error: tokio_postgres::Error) -> SqlError {
    match error.as_db_error() {
        Some(db) => SqlError {
            code: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => SqlError {
            code: "08006".into(),
            message: error.to_string(),
        },
    }
}

/// How a value is written in a record: NULL, `(empty)` for the empty string.
fn cell(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some("") => "(empty)".into(),
        Some(text) => text.to_string(),
    }
}

fn rows_output(columns: usize, rows: Vec<Vec<String>>) -> DBOutput<DefaultColumnType> {
    DBOutput::Rows {
        types: vec![DefaultColumnType::Any; columns],
        rows,
    }
}

async fn run_in_process(
    service: &QueryService,
    session: &mut Session,
    sql: &str,
) -> Result<DBOutput<DefaultColumnType>, SqlError> {
    let error = |e: lakegate_planner::QueryError| SqlError {
        code: e.kind.sqlstate().to_string(),
        message: e.message,
    };
    let mut output = DBOutput::StatementComplete(0);
    for statement in service.parse(session, sql).map_err(error)? {
        let prepared = service.prepare_to_run(sql, statement);
        output = match service
            .execute(session, &prepared, Vec::new())
            .await
            .map_err(error)?
        {
            Outcome::Rows { mut stream, .. } | Outcome::Copy { mut stream, .. } => {
                let columns = stream.schema().fields().len();
                let mut rows = Vec::new();
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| error(e.into()))?;
                    let values =
                        lakegate_gateway::pg::text_values(&batch).map_err(|e| SqlError {
                            code: "XX000".into(),
                            message: e.to_string(),
                        })?;
                    rows.extend(
                        values
                            .into_iter()
                            .map(|row| row.iter().map(|v| cell(v.as_deref())).collect()),
                    );
                }
                rows_output(columns, rows)
            }
            Outcome::Modified { rows, .. } => DBOutput::StatementComplete(rows),
            _ => DBOutput::StatementComplete(0),
        };
    }
    Ok(output)
}

async fn run_wire(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<DBOutput<DefaultColumnType>, SqlError> {
    use tokio_postgres::SimpleQueryMessage;
    let messages = client.simple_query(sql).await.map_err(wire_error)?;
    let mut output = DBOutput::StatementComplete(0);
    let mut rows: Option<(usize, Vec<Vec<String>>)> = None;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => rows = Some((columns.len(), Vec::new())),
            SimpleQueryMessage::Row(row) => {
                let values = (0..row.len()).map(|i| cell(row.get(i))).collect();
                rows.get_or_insert_with(|| (row.len(), Vec::new()))
                    .1
                    .push(values);
            }
            SimpleQueryMessage::CommandComplete(count) => {
                output = match rows.take() {
                    Some((columns, rows)) => rows_output(columns, rows),
                    None => DBOutput::StatementComplete(count),
                };
            }
            _ => {}
        }
    }
    Ok(output)
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for GatewayDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        if let Some(user) = sql.trim().strip_prefix("\\connect ") {
            self.connection = open(&self.gateway, self.mode, user.trim()).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        match &mut self.connection {
            Connection::InProcess(session) => {
                run_in_process(self.gateway.gateway.service(), session, sql).await
            }
            Connection::Wire(client) => run_wire(client, sql).await,
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        match self.mode {
            Mode::InProcess => "lakegate-in-process",
            Mode::Wire => "lakegate-wire",
        }
    }
}
