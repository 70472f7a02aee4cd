//! Per-connection protocol handlers and the listener loop.
//!
//! Each accepted socket gets its own handlers holding that connection's session, so
//! settings and prepared statements never leak between connections. Simple and extended
//! protocol share one path: both prepare a statement with the planner and turn its
//! outcome into a response with the same functions.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, Stream, StreamExt};
use lakegate_planner::{
    ClientOrigin, Outcome, Prepared, QueryError, QueryService, Session, StatementKind,
};
use lakegate_security::UserStore;
use pgwire::api::auth::DefaultServerParameterProvider;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ErrorHandler, METADATA_USER, PgWireServerHandlers, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use pgwire::messages::response::TransactionStatus;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::VerifierSource;
use super::cancel::{CancelRegistry, Canceller};
use super::encode::{encode_batch, fields};
use super::errors::{error_info, to_pgwire, user_error};
use super::params::decode_params;
use super::types::pg_type;
use pgwire::messages::startup::SecretKey;

/// How long shutdown waits for open connections to finish their current work.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The Postgres wire frontend: shared state for every connection.
pub struct PgFrontend {
    service: Arc<QueryService>,
    users: Arc<UserStore>,
    cancels: Arc<CancelRegistry>,
    startup: Arc<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
}

impl PgFrontend {
    /// A frontend over a query service and a user store.
    pub fn new(service: Arc<QueryService>, users: Arc<UserStore>, default_schema: &str) -> Self {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = lakegate_planner::SERVER_VERSION.to_string();
        parameters.is_superuser = false;
        parameters.search_path = default_schema.to_string();
        parameters.time_zone = "UTC".to_string();
        parameters.date_style = "ISO, MDY".to_string();
        let scram = ScramAuth::new(Arc::new(VerifierSource {
            users: users.clone(),
        }));
        let startup = SASLAuthStartupHandler::new(Arc::new(parameters)).with_scram(scram);
        Self {
            service,
            users,
            cancels: Arc::new(CancelRegistry::default()),
            startup: Arc::new(startup),
        }
    }

    /// Accepts connections until `shutdown` fires, then waits (bounded) for open
    /// connections to finish.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let handlers = ConnectionHandlers::new(&self);
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                tracing::debug!(%peer, "connection opened");
                tokio::select! {
                    result = pgwire::tokio::process_socket(socket, None, handlers) => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    _ = shutdown.cancelled() => {
                        // Give the connection time to finish what it is sending.
                        tokio::time::sleep(DRAIN_TIMEOUT).await;
                    }
                }
                tracing::debug!(%peer, "connection closed");
            });
        }
        tracker.close();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait()).await;
    }
}

/// One connection's state.
struct Connection {
    service: Arc<QueryService>,
    users: Arc<UserStore>,
    cancels: Arc<CancelRegistry>,
    /// The key the client cancels with, once known.
    key: std::sync::Mutex<Option<(i32, SecretKey)>>,
    /// Opened on the first statement, after authentication succeeded.
    session: Mutex<Option<Session>>,
}

impl Connection {
    async fn session<C: ClientInfo>(
        &self,
        client: &C,
    ) -> PgWireResult<MutexGuard<'_, Option<Session>>> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            let user = client
                .metadata()
                .get(METADATA_USER)
                .cloned()
                .unwrap_or_default();
            let principal = self.users.principal(&user).ok_or_else(|| {
                user_error(
                    "28000",
                    format!("role \"{user}\" is not permitted to log in"),
                )
            })?;
            let origin = ClientOrigin {
                address: client.socket_addr().to_string(),
                protocol: "postgres",
            };
            *guard = Some(self.service.open_session(principal, origin));
            *self.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.pid_and_secret_key());
        }
        Ok(guard)
    }

    /// Starts a statement on `session`: from now on a CancelRequest cancels it.
    fn begin(&self, session: &mut Session) {
        let token = session.begin_statement();
        if let Some((pid, secret)) = self.key.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            self.cancels.set(*pid, secret, token);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some((pid, secret)) = self.key.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            self.cancels.remove(*pid, secret);
        }
    }
}

fn open<'a>(guard: &'a mut MutexGuard<'_, Option<Session>>) -> PgWireResult<&'a mut Session> {
    guard
        .as_mut()
        .ok_or_else(|| user_error("08003", "session is not open"))
}

/// The handlers of one connection.
struct ConnectionHandlers {
    query: Arc<QueryHandler>,
    cancel: Arc<Canceller>,
    startup: Arc<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
}

impl ConnectionHandlers {
    fn new(frontend: &PgFrontend) -> Self {
        let connection = Arc::new(Connection {
            service: frontend.service.clone(),
            users: frontend.users.clone(),
            cancels: frontend.cancels.clone(),
            key: std::sync::Mutex::new(None),
            session: Mutex::new(None),
        });
        Self {
            query: Arc::new(QueryHandler {
                parser: Arc::new(StatementParser {
                    connection: connection.clone(),
                }),
                connection,
            }),
            startup: frontend.startup.clone(),
            cancel: Arc::new(Canceller {
                registry: frontend.cancels.clone(),
            }),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(ConnectionErrors)
    }
}

/// Completes and logs errors before they reach the client.
struct ConnectionErrors;

impl ErrorHandler for ConnectionErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::InvalidPassword(user) = error {
            // A failed SCRAM proof is reported without the user; name the login.
            if user.is_empty() {
                *user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
            }
            tracing::info!(user = %user, peer = %client.socket_addr(), "authentication failed");
        }
    }
}

struct QueryHandler {
    connection: Arc<Connection>,
    parser: Arc<StatementParser>,
}

/// PostgreSQL's failed-transaction rule: after an error inside BEGIN … every statement
/// but ROLLBACK (or COMMIT, which then rolls back) is refused with 25P02.
enum Gate {
    Run,
    /// Answer with this outcome without running the statement.
    Answer(Outcome),
}

fn transaction_gate(status: TransactionStatus, kind: StatementKind) -> PgWireResult<Gate> {
    if status != TransactionStatus::Error {
        return Ok(Gate::Run);
    }
    match kind {
        StatementKind::Rollback => Ok(Gate::Run),
        StatementKind::Commit => Ok(Gate::Answer(Outcome::Rollback)),
        StatementKind::Query
        | StatementKind::Show
        | StatementKind::Session
        | StatementKind::Begin => Err(user_error(
            "25P02",
            "current transaction is aborted, commands ignored until end of transaction block",
        )),
    }
}

/// Turns a planner outcome into a protocol response, with per-column result formats.
fn response(outcome: Outcome, format: &Format) -> Response {
    match outcome {
        Outcome::Rows { tag, stream } => {
            let schema = stream.schema();
            let fields = Arc::new(fields(&schema, |i| format.format_for(i)));
            let mut query = QueryResponse::new(fields.clone(), rows(stream, fields));
            query.set_command_tag(tag);
            Response::Query(query)
        }
        Outcome::Command(tag) => Response::Execution(Tag::new(&tag)),
        Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Outcome::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
    }
}

/// Ends a simple-protocol reply with an error response.
fn with_error(mut responses: Vec<Response>, error: PgWireError) -> Vec<Response> {
    let info = match error {
        PgWireError::UserError(info) => *info,
        other => pgwire::error::ErrorInfo::from(other),
    };
    responses.push(Response::Error(Box::new(info)));
    responses
}

/// Streams rows batch by batch: at most one encoded batch is held at a time.
fn rows(
    stream: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send {
    stream
        .map(move |batch| match batch {
            Ok(batch) => match encode_batch(&batch, &fields) {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            },
            Err(e) => vec![Err(to_pgwire(QueryError::from(e)))],
        })
        .flat_map(futures::stream::iter)
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let service = self.connection.service.clone();
        let mut guard = self.connection.session(client).await?;
        let session = open(&mut guard)?;
        let statements = match service.parse(session, query) {
            Ok(statements) => statements,
            Err(e) => return Ok(vec![Response::Error(Box::new(error_info(&e)))]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let prepared = service.prepare_to_run(query, statement);
            let result = match transaction_gate(client.transaction_status(), prepared.kind) {
                Ok(Gate::Answer(outcome)) => Ok(outcome),
                Ok(Gate::Run) => {
                    self.connection.begin(session);
                    service.execute(session, &prepared, Vec::new()).await
                }
                Err(e) => return Ok(with_error(responses, e)),
            };
            match result {
                Ok(outcome) => responses.push(response(outcome, &Format::UnifiedText)),
                Err(e) => {
                    // Like PostgreSQL: the rest of the message is not run.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Arc<Prepared>;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
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
        let params = decode_params(
            &portal.parameters,
            &portal.parameter_format,
            &portal.statement.parameter_types,
            &prepared.param_types,
        )?;
        if let Gate::Answer(outcome) = transaction_gate(client.transaction_status(), prepared.kind)?
        {
            return Ok(response(outcome, &portal.result_column_format));
        }
        let mut guard = self.connection.session(client).await?;
        let session = open(&mut guard)?;
        self.connection.begin(session);
        let outcome = self
            .connection
            .service
            .execute(session, prepared, params)
            .await
            .map_err(to_pgwire)?;
        Ok(response(outcome, &portal.result_column_format))
    }
}

/// Parses and describes statements for the extended protocol.
pub(crate) struct StatementParser {
    connection: Arc<Connection>,
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
                    "42601",
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
