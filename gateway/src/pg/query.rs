//! Simple and extended query protocol: statements in, responses out, in order.
//!
//! Both protocols prepare statements with the planner and send outcomes with the same
//! functions. The transaction status in ReadyForQuery is kept here: BEGIN opens a block,
//! an error fails it, COMMIT/ROLLBACK end it, and ROLLBACK TO SAVEPOINT makes a failed
//! block usable again.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, Stream, StreamExt};
use lakegate_planner::{ErrorKind, Outcome, Prepared, Session, StatementKind};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{
    ExtendedQueryHandler, SimpleQueryHandler, send_describe_response, send_execution_response,
    send_ready_for_query,
};
use pgwire::api::results::{
    DescribePortalResponse, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use pgwire::messages::extendedquery::{Describe, Execute, TARGET_TYPE_BYTE_PORTAL};
use pgwire::messages::response::{EmptyQueryResponse, TransactionStatus};
use pgwire::messages::simplequery::Query;

use super::connection::{Connection, open};
use super::connection_loop::DirectQueries;
use super::copy::send_copy_out;
use super::encode::fields;
use super::errors::{NOTICE_SQLSTATE, to_pgwire, user_error};
use super::frames::{FrameEncoder, data_rows, framed};
use super::outbound::{PgSocket, send_rows};
use super::params::decode_params;
use super::types::pg_type;

pub(crate) struct QueryHandler {
    pub(crate) connection: Arc<Connection>,
    pub(crate) parser: Arc<StatementParser>,
}

/// PostgreSQL's failed-transaction rule: after an error inside BEGIN … every statement
/// but ROLLBACK [TO SAVEPOINT] (or COMMIT, which then rolls back) is refused with 25P02.
enum Gate {
    Run,
    /// The block ends with ROLLBACK without running the statement.
    RollBack,
}

fn transaction_gate(status: TransactionStatus, kind: StatementKind) -> PgWireResult<Gate> {
    if status != TransactionStatus::Error {
        return Ok(Gate::Run);
    }
    match kind {
        StatementKind::Rollback | StatementKind::RollbackTo => Ok(Gate::Run),
        StatementKind::Commit => Ok(Gate::RollBack),
        _ => Err(user_error(
            ErrorKind::InFailedTransaction,
            "current transaction is aborted, commands ignored until end of transaction block",
        )),
    }
}

/// A portal's parameter values, decoded with the client's types and formats.
fn portal_params(
    portal: &Portal<Arc<Prepared>>,
) -> PgWireResult<Vec<lakegate_planner::ScalarValue>> {
    decode_params(
        &portal.parameters,
        &portal.parameter_format,
        &portal.statement.parameter_types,
        &portal.statement.statement.param_types,
    )
}

/// Runs one statement on the session, after the failed-transaction gate.
async fn run(
    connection: &Connection,
    status: TransactionStatus,
    session: &mut Session,
    prepared: &Prepared,
    params: Vec<lakegate_planner::ScalarValue>,
) -> PgWireResult<Outcome> {
    match transaction_gate(status, prepared.kind)? {
        Gate::RollBack => {
            session.end_transaction();
            Ok(Outcome::Rollback)
        }
        Gate::Run => {
            connection.begin(session);
            connection
                .service
                .execute(session, prepared, params)
                .await
                .map_err(to_pgwire)
        }
    }
}

/// DEALLOCATE name drops a protocol-level prepared statement. DEALLOCATE ALL is
/// answered without dropping: pgwire's store cannot list its statements, and a name
/// parsed again replaces the old statement, so no client sees a conflict.
fn deallocate<S: PortalStore>(store: &S, outcome: &Outcome) -> PgWireResult<()> {
    if let Outcome::Deallocate(Some(name)) = outcome {
        if store.get_statement(name).is_none() {
            return Err(user_error(
                ErrorKind::InvalidPreparedStatement,
                format!("prepared statement \"{name}\" does not exist"),
            ));
        }
        store.rm_statement(name);
    }
    Ok(())
}

/// The transaction status after an outcome.
fn status_after(status: TransactionStatus, outcome: &Outcome) -> TransactionStatus {
    match outcome {
        Outcome::Begin => status.to_in_transaction_state(),
        Outcome::Commit | Outcome::Rollback => TransactionStatus::Idle,
        Outcome::RollbackTo => TransactionStatus::Transaction,
        _ => status,
    }
}

/// Turns a planner outcome into a protocol response, with per-column result formats.
/// COPY is streamed by [`send_copy_out`] instead.
fn response(outcome: Outcome, format: &Format) -> PgWireResult<Response> {
    Ok(match outcome {
        Outcome::Rows { tag, stream } => {
            let schema = stream.schema();
            let fields = Arc::new(fields(&schema, |i| format.format_for(i)));
            let mut query = QueryResponse::new(fields.clone(), rows(stream, fields));
            query.set_command_tag(tag);
            Response::Query(query)
        }
        Outcome::Command(tag) => Response::Execution(Tag::new(&tag)),
        Outcome::Modified { tag, .. } => Response::Execution(Tag::new(&tag)),
        Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Outcome::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        Outcome::RollbackTo => Response::Execution(Tag::new("ROLLBACK")),
        Outcome::Deallocate(None) => Response::Execution(Tag::new("DEALLOCATE ALL")),
        Outcome::Deallocate(Some(_)) => Response::Execution(Tag::new("DEALLOCATE")),
        Outcome::Copy { .. } => {
            return Err(user_error(
                ErrorKind::Internal,
                "COPY outcome outside the COPY path",
            ));
        }
    })
}

/// Rows for pgwire's portal machinery (portals fetched a few rows at a time): the
/// same frames as the direct path, split back into DataRow messages without copying.
fn rows(
    stream: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send {
    let encoder = Arc::new(FrameEncoder::for_fields(&fields));
    framed(stream, encoder).flat_map(|frames| {
        let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send> = match frames {
            Ok(frames) => Box::new(data_rows(frames.bytes)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        futures::stream::iter(rows)
    })
}

/// Sends the statement's NOTICE messages (cost notices) after its result.
async fn send_notices<C>(client: &mut C, notices: Vec<lakegate_planner::Notice>) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in notices {
        let mut info =
            pgwire::error::ErrorInfo::new("NOTICE".into(), NOTICE_SQLSTATE.into(), notice.message);
        info.detail = notice.detail;
        client
            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
            .await?;
    }
    Ok(())
}

impl QueryHandler {
    /// Runs each statement of a simple Query in turn, sending its response before the
    /// next one starts. An error ends the message; the caller reports it.
    async fn run_simple(&self, socket: &mut PgSocket, sql: &str) -> PgWireResult<()> {
        let service = self.connection.service.clone();
        let mut guard = self.connection.session(socket).await?;
        let session = open(&mut guard)?;
        let statements = service.parse(session, sql).map_err(to_pgwire)?;
        if statements.is_empty() {
            socket
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            return Ok(());
        }
        for statement in statements {
            let prepared = service.prepare_to_run(sql, statement);
            let status = socket.transaction_status();
            let outcome = run(&self.connection, status, session, &prepared, Vec::new()).await?;
            deallocate(socket.portal_store(), &outcome)?;
            socket.set_transaction_status(status_after(status, &outcome));
            match outcome {
                Outcome::Copy { stream, options } => {
                    send_copy_out(socket, stream, &options).await?;
                }
                Outcome::Rows { tag, stream } => {
                    send_rows(socket, stream, tag, &Format::UnifiedText, true).await?;
                }
                outcome => match response(outcome, &Format::UnifiedText)? {
                    Response::Execution(tag)
                    | Response::TransactionStart(tag)
                    | Response::TransactionEnd(tag) => send_execution_response(socket, tag).await?,
                    _ => return Err(user_error(ErrorKind::Internal, "unexpected response")),
                },
            }
            send_notices(socket, session.take_notices()).await?;
        }
        Ok(())
    }

    /// Runs a portal to its end and sends its rows (DataRow or CopyData frames) and
    /// its CommandComplete.
    async fn execute_to_end(
        &self,
        socket: &mut PgSocket,
        portal: &Portal<Arc<Prepared>>,
    ) -> PgWireResult<()> {
        if !matches!(socket.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        socket.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.run_portal(socket, portal).await;
        // On error the connection loop sends ErrorResponse and waits for Sync.
        socket.set_state(PgWireConnectionState::ReadyForQuery);
        result
    }

    async fn run_portal(
        &self,
        socket: &mut PgSocket,
        portal: &Portal<Arc<Prepared>>,
    ) -> PgWireResult<()> {
        let prepared = &portal.statement.statement;
        let params = portal_params(portal)?;
        let mut guard = self.connection.session(socket).await?;
        let session = open(&mut guard)?;
        let status = socket.transaction_status();
        match run(&self.connection, status, session, prepared, params).await? {
            Outcome::Rows { tag, stream } => {
                send_rows(socket, stream, tag, &portal.result_column_format, false).await?;
            }
            Outcome::Copy { stream, options } => {
                send_copy_out(socket, stream, &options).await?;
            }
            outcome => match response(outcome, &portal.result_column_format)? {
                Response::Execution(tag) => send_execution_response(socket, tag).await?,
                _ => return Err(user_error(ErrorKind::Internal, "unexpected response")),
            },
        }
        // Executed again, the portal has no more rows, as in PostgreSQL.
        *portal.state().lock().await = PortalExecutionState::Finished;
        send_notices(socket, session.take_notices()).await
    }
}

impl DirectQueries for QueryHandler {
    /// A simple Query message, as the connection loop routes it.
    async fn on_simple_query(&self, socket: &mut PgSocket, query: Query) -> PgWireResult<()> {
        if !matches!(socket.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        socket.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.run_simple(socket, &query.query).await;
        // On error the connection loop sends ErrorResponse and ReadyForQuery.
        socket.set_state(PgWireConnectionState::ReadyForQuery);
        result?;
        let status = socket.transaction_status();
        send_ready_for_query(socket, status).await
    }

    /// An Execute message, as the connection loop routes it. COPY portals, and query
    /// portals run to the end by one Execute, write their frames straight to the
    /// socket; portals fetched a few rows at a time (and other statements) go through
    /// pgwire's portal machinery.
    async fn on_execute_message(
        &self,
        socket: &mut PgSocket,
        message: Execute,
    ) -> PgWireResult<()> {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if let Some(Entry::Value(portal)) = socket.portal_store().get_portal(name) {
            match portal.statement.statement.kind {
                StatementKind::Copy => return self.execute_to_end(socket, &portal).await,
                StatementKind::Query
                    if message.max_rows == 0
                        && matches!(
                            *portal.state().lock().await,
                            PortalExecutionState::Initial
                        ) =>
                {
                    return self.execute_to_end(socket, &portal).await;
                }
                _ => {}
            }
        }
        self.on_execute(socket, message).await
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn on_query<C>(&self, _client: &mut C, _query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Our connection loop routes Query to `on_simple_query`, which writes rows
        // straight into the socket it knows.
        Err(user_error(
            ErrorKind::Internal,
            "simple queries are handled by the connection loop",
        ))
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_simple_query` streams each statement's response itself.
        Err(user_error(
            ErrorKind::Internal,
            "simple queries are handled by on_query",
        ))
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Arc<Prepared>;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let kind = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => Some(portal.statement.statement.kind),
            _ => None,
        };
        let before = client.transaction_status();
        self._on_execute(client, message).await?;
        let notices = {
            let mut guard = self.connection.session(client).await?;
            open(&mut guard)?.take_notices()
        };
        send_notices(client, notices).await?;
        // pgwire keeps a failed block failed; ROLLBACK TO SAVEPOINT revives it.
        if kind == Some(StatementKind::RollbackTo) && before != TransactionStatus::Idle {
            client.set_transaction_status(TransactionStatus::Transaction);
        }
        Ok(())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && client.portal_store().get_portal(name).is_none()
        {
            // A cursor declared in SQL is also a portal of that name (psycopg's server
            // cursors describe it before they FETCH).
            let schema = {
                let mut guard = self.connection.session(client).await?;
                open(&mut guard)?.cursor_schema(name)
            };
            if let Some(schema) = schema {
                let fields = fields(&schema, |_| FieldFormat::Text);
                return send_describe_response(client, &DescribePortalResponse::new(fields)).await;
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let params = portal_params(portal)?;
        let mut guard = self.connection.session(client).await?;
        let session = open(&mut guard)?;
        let status = client.transaction_status();
        let outcome = run(&self.connection, status, session, prepared, params).await?;
        deallocate(client.portal_store(), &outcome)?;
        response(outcome, &portal.result_column_format)
    }
}

/// Parses and describes statements for the extended protocol.
pub(crate) struct StatementParser {
    pub(crate) connection: Arc<Connection>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let service = self.connection.service.clone();
        let mut guard = self.connection.session(client).await?;
        let session = open(&mut guard)?;
        let mut statements = service.parse(session, sql).map_err(to_pgwire)?;
        match statements.len() {
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(user_error(
                    ErrorKind::Syntax,
                    "cannot insert multiple commands into a prepared statement",
                ));
            }
        }
        let prepared = service
            .prepare(session, sql, statements.remove(0))
            .await
            .map_err(to_pgwire)?;
        Ok(Some(Arc::new(prepared)))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(statement
            .param_types
            .iter()
            .map(|t| t.as_ref().map(pg_type).unwrap_or(Type::TEXT))
            .collect())
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &statement.schema {
            Some(schema) => fields(schema, |i| {
                format.map(|f| f.format_for(i)).unwrap_or(FieldFormat::Text)
            }),
            None => Vec::new(),
        })
    }
}
