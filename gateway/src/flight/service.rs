//! The Flight SQL service: every Flight RPC authenticated, then dispatched to statements,
//! prepared statements, metadata or actions, all through the one `QueryService`.
//!
//! We implement arrow-flight's `FlightService` directly rather than its
//! `FlightSqlService` helper: the helper's blanket implementation answers GetSchema and
//! PollFlightInfo with UNIMPLEMENTED and cannot be overridden, and both belong to Flight
//! SQL. The protocol messages and result builders are still arrow-flight's.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any, Command,
    DoPutPreparedStatementResult, ProstMessageExt,
};
use arrow_flight::{
    Action, ActionType, BasicAuth, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, IpcMessage, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt, TryStreamExt};
use lakegate_planner::{
    ClientOrigin, ErrorKind, Outcome, Prepared, QueryError, QueryService, ScalarValue, Session,
    StatementKind, number_placeholders,
};
use lakegate_security::Principal;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authenticator, now_seconds};
use super::cancel::FlightCancels;
use super::ipc_frames::Compression;
use super::metadata::{StaticInfo, is_metadata};
use super::params::{param_rows, parameter_schema};
use super::plain_types::{plain_batch, plain_schema};
use super::prepared::{Entry, Lookup, PreparedStatements};
use super::status::{arrow_status, server_arrow_status, to_status};
use super::stream_slots::StreamSlots;
use super::ticket::{self, Claims, TicketBody};

/// Largest parameter binding a DoPut may send, in bytes of Arrow memory.
const MAX_BOUND_BYTES: usize = 64 * 1024 * 1024;

/// Everything the service shares between calls.
#[derive(Debug)]
pub(crate) struct FlightState {
    pub(crate) service: Arc<QueryService>,
    pub(crate) auth: Authenticator,
    pub(crate) ticket_ttl: Duration,
    pub(crate) prepared: PreparedStatements,
    pub(crate) running: Arc<FlightCancels>,
    pub(crate) info: StaticInfo,
    pub(crate) streams: Arc<StreamSlots>,
    /// Largest gRPC message a client may send (`[flight] max_message_bytes`).
    pub(crate) max_message_bytes: usize,
}

/// The tonic service.
#[derive(Debug, Clone)]
pub(crate) struct FlightSqlEndpoint {
    pub(crate) state: Arc<FlightState>,
}

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn origin<T>(request: &Request<T>) -> ClientOrigin {
    ClientOrigin {
        address: request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        protocol: "flight-sql",
    }
}

fn decode_command(bytes: &[u8]) -> Result<Command, Status> {
    let any = Any::decode(bytes)
        .map_err(|e| Status::invalid_argument(format!("the command is not a protobuf Any: {e}")))?;
    Command::try_from(any)
        .map_err(|e| Status::invalid_argument(format!("the command does not decode: {e}")))
}

fn no_transaction(id: &Option<bytes::Bytes>) -> Result<(), Status> {
    match id {
        Some(id) if !id.is_empty() => Err(Status::unimplemented(
            "transactions are not supported: each statement reads its own snapshot",
        )),
        _ => Ok(()),
    }
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| server_arrow_status("encoding a schema", e))?;
    Ok(bytes)
}

fn result_schema(prepared: &Prepared) -> SchemaRef {
    prepared
        .schema
        .clone()
        .unwrap_or_else(|| Arc::new(Schema::empty()))
}

/// The `grpc-timeout` the client sent, if any.
fn client_deadline(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let text = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Rows-returning statements only: sessions end with the call, so SET, BEGIN, DECLARE
/// and the like have nothing to act on.
fn require_query(prepared: &Prepared) -> Result<(), Status> {
    match prepared.kind {
        StatementKind::Query | StatementKind::Show => Ok(()),
        StatementKind::Copy => Err(Status::invalid_argument(
            "COPY is a Postgres wire command; Flight SQL returns Arrow already: run the query itself",
        )),
        StatementKind::Call | StatementKind::Write => Err(Status::invalid_argument(
            "CALL, INSERT and CREATE TABLE return no rows: run them as an update \
             (CommandStatementUpdate, execute_update in ADBC)",
        )),
        _ => Err(Status::invalid_argument(
            "only queries run over Flight SQL: each call has its own session, so session, \
             transaction and cursor statements have nothing to act on",
        )),
    }
}

impl FlightState {
    async fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        self.auth
            .authenticate(request.metadata(), super::auth::peer_ip(request))
            .await
    }

    /// Parses one statement (with `?` markers numbered) and describes it.
    async fn describe(&self, session: &Session, sql: &str) -> Result<Prepared, Status> {
        let numbered = number_placeholders(sql);
        let mut statements = self.service.parse(session, &numbered).map_err(to_status)?;
        if statements.len() != 1 {
            return Err(Status::invalid_argument(format!(
                "Flight SQL runs one statement per command; found {}",
                statements.len()
            )));
        }
        let statement = statements.remove(0);
        self.service
            .prepare(session, &numbered, statement)
            .await
            .map_err(to_status)
    }

    /// The prepared statement behind a handle, described here when another replica
    /// prepared it.
    async fn prepared_entry(&self, session: &Session, handle: &[u8]) -> Result<Entry, Status> {
        let user = &session.principal().user;
        match self.prepared.get(handle, user)? {
            Lookup::Known(entry) => Ok(*entry),
            Lookup::Unknown { sql, params } => {
                let prepared = self.describe(session, &sql).await?;
                Ok(self.prepared.adopt(handle, user, prepared, sql, params))
            }
        }
    }

    fn flight_info(
        &self,
        user: &str,
        schema: &Schema,
        descriptor: FlightDescriptor,
        body: TicketBody,
    ) -> Result<FlightInfo, Status> {
        let claims = Claims {
            user: user.to_string(),
            expires: now_seconds().saturating_add(self.ticket_ttl.as_secs().max(1)),
            query_id: rand::random(),
            body,
        };
        let ticket = ticket::issue(&self.auth.signer, &claims)?;
        FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| server_arrow_status("encoding the result schema", e))
            .map(|info| {
                info.with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
                    .with_descriptor(descriptor)
                    .with_total_records(-1)
                    .with_total_bytes(-1)
            })
    }

    /// The schema and ticket body of a query command.
    async fn plan_command<T>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        command: Command,
    ) -> Result<(SchemaRef, TicketBody), Status> {
        match command {
            Command::CommandStatementQuery(query) => {
                no_transaction(&query.transaction_id)?;
                let session = self
                    .service
                    .open_session(principal.clone(), origin(request));
                let prepared = self.describe(&session, &query.query).await?;
                require_query(&prepared)?;
                if !prepared.param_types.is_empty() {
                    return Err(Status::invalid_argument(format!(
                        "the statement has {} parameters: prepare it and bind them with DoPut",
                        prepared.param_types.len()
                    )));
                }
                Ok((
                    result_schema(&prepared),
                    TicketBody::Statement(prepared.sql),
                ))
            }
            Command::CommandPreparedStatementQuery(command) => {
                let handle = command.prepared_statement_handle.to_vec();
                let session = self
                    .service
                    .open_session(principal.clone(), origin(request));
                let entry = self.prepared_entry(&session, &handle).await?;
                require_query(&entry.prepared)?;
                // A missing or ill-fitting binding is reported here, before any DoGet.
                param_rows(&entry.prepared, entry.params.as_deref())?;
                Ok((result_schema(&entry.prepared), TicketBody::Prepared(handle)))
            }
            command if is_metadata(&command) => {
                let schema = self.info.schema(&command)?;
                Ok((
                    schema,
                    TicketBody::Metadata(command.into_any().encode_to_vec()),
                ))
            }
            Command::CommandStatementSubstraitPlan(_) => Err(Status::unimplemented(
                "Substrait plans are not supported: send SQL",
            )),
            other => Err(Status::invalid_argument(format!(
                "{} does not return rows; GetFlightInfo takes queries and metadata commands",
                other.type_url()
            ))),
        }
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<FlightInfo, Status> {
        let principal = self.principal(&request).await?;
        let command = decode_command(&request.get_ref().cmd)?;
        let (schema, body) = self.plan_command(&request, &principal, command).await?;
        let schema = plain_schema(&schema);
        self.flight_info(&principal.user, &schema, request.into_inner(), body)
    }

    /// Runs a prepared statement once per parameter row, streaming every result.
    async fn run(
        &self,
        mut session: Session,
        prepared: Prepared,
        rows: Vec<Vec<ScalarValue>>,
        claims: &Claims,
        deadline: Option<Duration>,
        compression: Option<Compression>,
    ) -> Result<Results, Status> {
        let token = session.begin_statement();
        if let Some(deadline) = deadline {
            let ms = deadline.as_millis().clamp(1, u128::from(u32::MAX));
            session
                .set_setting("statement_timeout", &ms.to_string())
                .map_err(to_status)?;
        }
        let guard = self
            .running
            .start(claims.query_id, claims.expires, token)
            .ok_or_else(|| Status::cancelled("the query was cancelled before it started"))?;
        let mut rows = rows.into_iter();
        let first_params = rows.next().unwrap_or_default();
        let first = execute(&self.service, &mut session, &prepared, first_params)
            .await
            .map_err(to_status)?;
        let schema = plain_schema(&first.schema());
        let service = self.service.clone();
        let rest = stream::unfold(
            (service, session, prepared, rows),
            |(service, mut session, prepared, mut rows)| async move {
                let params = rows.next()?;
                let next: BoxStream<'static, Result<RecordBatch, FlightError>> =
                    match execute(&service, &mut session, &prepared, params).await {
                        Ok(stream) => stream.map_err(flight_error).boxed(),
                        Err(error) => stream::once(async move {
                            Err(FlightError::Tonic(Box::new(to_status(error))))
                        })
                        .boxed(),
                    };
                Some((next, (service, session, prepared, rows)))
            },
        )
        .flatten();
        let batches = first.map_err(flight_error).chain(rest).map(move |batch| {
            // The query stays cancellable while its stream lives.
            let _ = &guard;
            batch
        });
        Ok(Results {
            schema,
            batches: batches.boxed(),
            compression,
        })
    }

    /// What a DoGet answers: the ticket redeemed for its caller, then the statement,
    /// prepared statement or metadata command it names, run.
    pub(crate) async fn results(&self, request: Request<Ticket>) -> Result<Results, Status> {
        let principal = self.principal(&request).await?;
        let claims = ticket::redeem(
            &self.auth.signer,
            &request.get_ref().ticket,
            &principal.user,
        )?;
        let deadline = client_deadline(request.metadata());
        let compression = match request.metadata().get(COMPRESSION_KEY) {
            None => None,
            Some(value) => {
                let text = value.to_str().map_err(|_| {
                    Status::invalid_argument(format!("{COMPRESSION_KEY} is not text"))
                })?;
                Compression::parse(text).map_err(Status::invalid_argument)?
            }
        };
        // Held by the result stream until the body is dropped, however it ends.
        let slot = self.streams.acquire(&principal.user)?;
        let session = self
            .service
            .open_session(principal.clone(), origin(&request));
        let mut results = self.answer(session, &claims, deadline, compression).await?;
        results.batches = results
            .batches
            .map(move |batch| {
                let _held = &slot;
                batch
            })
            .boxed();
        Ok(results)
    }

    /// Runs what a redeemed ticket names.
    async fn answer(
        &self,
        session: Session,
        claims: &Claims,
        deadline: Option<Duration>,
        compression: Option<Compression>,
    ) -> Result<Results, Status> {
        match &claims.body {
            TicketBody::Statement(sql) => {
                let mut statements = self.service.parse(&session, sql).map_err(to_status)?;
                if statements.len() != 1 {
                    return Err(Status::invalid_argument(
                        "the ticket holds no single statement",
                    ));
                }
                let prepared = self.service.prepare_to_run(sql, statements.remove(0));
                require_query(&prepared)?;
                self.run(session, prepared, Vec::new(), claims, deadline, compression)
                    .await
            }
            TicketBody::Prepared(handle) => {
                let entry = self.prepared_entry(&session, handle).await?;
                let rows = param_rows(&entry.prepared, entry.params.as_deref())?;
                self.run(session, entry.prepared, rows, claims, deadline, compression)
                    .await
            }
            TicketBody::Metadata(command) => {
                let command = decode_command(command)?;
                let request = format!("-- Flight SQL metadata\n{command:?}");
                let batch = self.info.answer(&self.service, &session, command).await?;
                self.service
                    .audit_metadata(&session, &request, batch.num_rows() as u64)
                    .await
                    .map_err(to_status)?;
                Ok(Results {
                    schema: batch.schema(),
                    batches: stream::once(async move { Ok(batch) }).boxed(),
                    compression,
                })
            }
        }
    }
}

/// The metadata key a client sets to have result bodies compressed (`lz4_frame`, `zstd`).
pub const COMPRESSION_KEY: &str = "x-lakegate-ipc-compression";

/// A DoGet's answer before encoding: the schema announced (views as plain types), the
/// batches as the engine produced them, and the body compression the client asked for.
pub(crate) struct Results {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: BoxStream<'static, Result<RecordBatch, FlightError>>,
    pub(crate) compression: Option<Compression>,
}

impl Results {
    /// The batches as tonic's `FlightData` messages, for the generated service's path.
    fn flight_data(self) -> Result<Stream_<FlightData>, Status> {
        let options = IpcWriteOptions::default()
            .try_with_compression(self.compression.map(Compression::arrow))
            .map_err(|e| server_arrow_status("choosing the IPC compression", e))?;
        let sent = self.schema.clone();
        let batches = self
            .batches
            .map(move |batch| plain_batch(batch?, &sent).map_err(FlightError::Arrow));
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(self.schema)
            .with_options(options)
            .with_dictionary_handling(DictionaryHandling::Resend)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(encoded))
    }
}

/// Executes a described query with one row of parameters.
async fn execute(
    service: &QueryService,
    session: &mut Session,
    prepared: &Prepared,
    params: Vec<ScalarValue>,
) -> Result<datafusion::execution::SendableRecordBatchStream, QueryError> {
    match service.execute(session, prepared, params).await? {
        Outcome::Rows { stream, .. } => Ok(stream),
        _ => Err(QueryError::new(
            ErrorKind::ProtocolViolation,
            "the statement returned no rows",
        )),
    }
}

fn flight_error(error: datafusion::error::DataFusionError) -> FlightError {
    FlightError::Tonic(Box::new(to_status(QueryError::from(error))))
}

fn one<T: Send + 'static>(item: T) -> Stream_<T> {
    Box::pin(stream::once(async move { Ok(item) }))
}

#[tonic::async_trait]
impl FlightService for FlightSqlEndpoint {
    type HandshakeStream = Stream_<HandshakeResponse>;
    type ListFlightsStream = Stream_<FlightInfo>;
    type DoGetStream = Stream_<FlightData>;
    type DoPutStream = Stream_<PutResult>;
    type DoActionStream = Stream_<arrow_flight::Result>;
    type ListActionsStream = Stream_<ActionType>;
    type DoExchangeStream = Stream_<FlightData>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let state = &self.state;
        let peer = super::auth::peer_ip(&request);
        let request_jwt = super::auth::jwt_in(request.metadata());
        let principal = if request.metadata().contains_key("authorization") {
            state.principal(&request).await?
        } else {
            // Older clients send BasicAuth in the first handshake message instead.
            let first = request.into_inner().message().await?.ok_or_else(|| {
                Status::unauthenticated(
                    "no credentials: send Basic credentials in the authorization header",
                )
            })?;
            let basic = BasicAuth::decode(first.payload).map_err(|_| {
                Status::unauthenticated(
                    "no credentials: send Basic credentials in the authorization header",
                )
            })?;
            state
                .auth
                .check_password(&basic.username, &basic.password, peer)
                .await?
        };
        // A token of the identity provider is the session's bearer token itself (it
        // carries the principal and expires when the provider said); otherwise one of
        // the gateway's own.
        let token = match state.auth.presented_jwt(request_jwt.as_deref()) {
            Some(jwt) => jwt,
            None => state.auth.issue(&principal.user),
        };
        tracing::info!(user = %principal.user, "Flight SQL handshake");
        let mut response = Response::new(one(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        }));
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("the token is not a valid header value"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.state.principal(&request).await?;
        Err(Status::unimplemented(
            "ListFlights is not part of Flight SQL: list tables with CommandGetTables",
        ))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Ok(Response::new(self.state.get_flight_info(request).await?))
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        // Queries are planned at once: the first poll is complete.
        let info = self.state.get_flight_info(request).await?;
        Ok(Response::new(PollInfo {
            info: Some(info),
            flight_descriptor: None,
            progress: Some(1.0),
            expiration_time: None,
        }))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let state = &self.state;
        let principal = state.principal(&request).await?;
        let command = decode_command(&request.get_ref().cmd)?;
        let (schema, _) = state.plan_command(&request, &principal, command).await?;
        let schema = plain_schema(&schema);
        let result: SchemaResult = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e| server_arrow_status("encoding the schema", e))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let results = self.state.results(request).await?;
        Ok(Response::new(results.flight_data()?))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let state = &self.state;
        let principal = state.principal(&request).await?;
        let session = state
            .service
            .open_session(principal.clone(), origin(&request));
        let mut input = request.into_inner();
        let first = input.message().await?.ok_or_else(|| {
            Status::invalid_argument("DoPut needs a first message with a command descriptor")
        })?;
        let descriptor = first.flight_descriptor.clone().ok_or_else(|| {
            Status::invalid_argument("the first DoPut message carries no flight descriptor")
        })?;
        match decode_command(&descriptor.cmd)? {
            Command::CommandPreparedStatementQuery(command) => {
                let handle = command.prepared_statement_handle.to_vec();
                let entry = state.prepared_entry(&session, &handle).await?;
                let data = stream::once(async move { Ok(first) })
                    .chain(input)
                    .map_err(|status| FlightError::Tonic(Box::new(status)));
                let bound = decode_parameters(data).await?;
                // Refuse a binding that does not fit now, not at execution.
                param_rows(&entry.prepared, Some(&bound))?;
                // The binding travels in a new handle, which any replica executes.
                let handle = state
                    .prepared
                    .bind(&handle, &principal.user, &entry, bound)?;
                let result = DoPutPreparedStatementResult {
                    prepared_statement_handle: Some(handle.into()),
                };
                Ok(Response::new(one(PutResult {
                    app_metadata: result.encode_to_vec().into(),
                })))
            }
            // Updates: INSERT and CREATE TABLE [AS] into Iceberg, and CALL. Other
            // DML fails while it is described, with the planner's FAILED_PRECONDITION
            // (SQLSTATE 25006), before it reaches a table.
            Command::CommandStatementUpdate(command) => {
                no_transaction(&command.transaction_id)?;
                let prepared = state.describe(&session, &command.query).await?;
                let rows = run_update(state, session, &prepared, None).await?;
                let result = arrow_flight::sql::DoPutUpdateResult { record_count: rows };
                Ok(Response::new(one(PutResult {
                    app_metadata: result.encode_to_vec().into(),
                })))
            }
            Command::CommandPreparedStatementUpdate(command) => {
                let handle = command.prepared_statement_handle.to_vec();
                let entry = state.prepared_entry(&session, &handle).await?;
                // Parameter rows come with the update, or were bound before.
                let data = stream::once(async move { Ok(first) })
                    .chain(input)
                    .map_err(|status| FlightError::Tonic(Box::new(status)));
                let sent = decode_parameters(data).await?;
                let bound = match (sent.num_columns(), &entry.params) {
                    (0, Some(bound)) => bound.as_ref(),
                    _ => &sent,
                };
                let rows = run_update(state, session, &entry.prepared, Some(bound)).await?;
                let result = arrow_flight::sql::DoPutUpdateResult { record_count: rows };
                Ok(Response::new(one(PutResult {
                    app_metadata: result.encode_to_vec().into(),
                })))
            }
            Command::CommandStatementIngest(_) => Err(to_status(QueryError::new(
                ErrorKind::ReadOnly,
                "cannot ingest: bulk ingest is not supported; run INSERT as an update",
            ))),
            other => Err(Status::invalid_argument(format!(
                "DoPut does not take {}",
                other.type_url()
            ))),
        }
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.state.principal(&request).await?;
        let actions = [
            ("CreatePreparedStatement", "Prepares a SQL statement: ActionCreatePreparedStatementRequest → ActionCreatePreparedStatementResult"),
            ("ClosePreparedStatement", "Closes a prepared statement: ActionClosePreparedStatementRequest"),
            ("CancelFlightInfo", "Cancels the query behind a FlightInfo: CancelFlightInfoRequest → CancelFlightInfoResult"),
            ("CancelQuery", "Deprecated form of CancelFlightInfo: ActionCancelQueryRequest → ActionCancelQueryResult"),
        ]
        .map(|(kind, description)| {
            Ok(ActionType {
                r#type: kind.into(),
                description: description.into(),
            })
        });
        Ok(Response::new(Box::pin(stream::iter(actions))))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let state = &self.state;
        let principal = state.principal(&request).await?;
        let kind = request.get_ref().r#type.clone();
        let body = request.get_ref().body.clone();
        let unpack = |what: &str| -> Result<Any, Status> {
            Any::decode(&*body).map_err(|e| {
                Status::invalid_argument(format!("{what}: the body is not a protobuf Any: {e}"))
            })
        };
        let result = |bytes: Vec<u8>| -> Result<Response<Self::DoActionStream>, Status> {
            Ok(Response::new(one(arrow_flight::Result {
                body: bytes.into(),
            })))
        };
        match kind.as_str() {
            "CreatePreparedStatement" => {
                let command: ActionCreatePreparedStatementRequest = unpack(&kind)?
                    .unpack()
                    .map_err(|e| arrow_status("decoding ActionCreatePreparedStatementRequest", e))?
                    .ok_or_else(|| {
                        Status::invalid_argument("expected ActionCreatePreparedStatementRequest")
                    })?;
                no_transaction(&command.transaction_id)?;
                let session = state
                    .service
                    .open_session(principal.clone(), origin(&request));
                let prepared = state.describe(&session, &command.query).await?;
                let dataset_schema = match &prepared.schema {
                    Some(schema) => ipc_schema(&plain_schema(schema))?,
                    None => bytes::Bytes::new(),
                };
                let parameter_schema = ipc_schema(&parameter_schema(&prepared))?;
                let handle = state
                    .prepared
                    .insert(&principal.user, &command.query, prepared)?;
                let answer = ActionCreatePreparedStatementResult {
                    prepared_statement_handle: handle.into(),
                    dataset_schema,
                    parameter_schema,
                };
                result(answer.as_any().encode_to_vec())
            }
            "ClosePreparedStatement" => {
                let command: ActionClosePreparedStatementRequest = unpack(&kind)?
                    .unpack()
                    .map_err(|e| arrow_status("decoding ActionClosePreparedStatementRequest", e))?
                    .ok_or_else(|| {
                        Status::invalid_argument("expected ActionClosePreparedStatementRequest")
                    })?;
                // Closing is idempotent: an evicted or closed handle is already gone.
                let _ = state
                    .prepared
                    .close(&command.prepared_statement_handle, &principal.user);
                Ok(Response::new(Box::pin(stream::empty())))
            }
            "CancelFlightInfo" => {
                let command = CancelFlightInfoRequest::decode(&*body).map_err(|e| {
                    Status::invalid_argument(format!("decoding CancelFlightInfoRequest: {e}"))
                })?;
                let info = command.info.ok_or_else(|| {
                    Status::invalid_argument("CancelFlightInfoRequest carries no FlightInfo")
                })?;
                let status = state.cancel(&info, &principal)?;
                result(CancelFlightInfoResult::new(status).encode_to_vec())
            }
            "CancelQuery" => {
                let command: ActionCancelQueryRequest = unpack(&kind)?
                    .unpack()
                    .map_err(|e| arrow_status("decoding ActionCancelQueryRequest", e))?
                    .ok_or_else(|| Status::invalid_argument("expected ActionCancelQueryRequest"))?;
                let info = FlightInfo::decode(&*command.info).map_err(|e| {
                    Status::invalid_argument(format!("decoding the FlightInfo to cancel: {e}"))
                })?;
                let status = state.cancel(&info, &principal)?;
                let answer = ActionCancelQueryResult {
                    result: status as i32,
                };
                result(answer.as_any().encode_to_vec())
            }
            "BeginTransaction" | "EndTransaction" | "BeginSavepoint" | "EndSavepoint" => {
                Err(Status::unimplemented(
                    "transactions are not supported: each statement reads its own snapshot",
                ))
            }
            "CreatePreparedSubstraitPlan" => Err(Status::unimplemented(
                "Substrait plans are not supported: send SQL",
            )),
            other => Err(Status::unimplemented(format!("unknown action \"{other}\""))),
        }
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.state.principal(&request).await?;
        Err(Status::unimplemented(
            "DoExchange is not part of Flight SQL",
        ))
    }
}

impl FlightState {
    /// Cancels the query behind a FlightInfo this principal was given.
    fn cancel(&self, info: &FlightInfo, principal: &Principal) -> Result<CancelStatus, Status> {
        let mut status = CancelStatus::NotCancellable;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            let claims = ticket::verify(&self.auth.signer, &ticket.ticket)?;
            if claims.user != principal.user {
                return Err(Status::permission_denied(
                    "this query was started by another user",
                ));
            }
            status = self.running.cancel(claims.query_id, claims.expires);
            tracing::info!(user = %principal.user, query_id = claims.query_id, ?status, "Flight SQL cancel");
        }
        Ok(status)
    }
}

/// Why a statement that was described cannot run as an update.
/// Runs an update once per parameter row (once without parameters); the rows written.
async fn run_update(
    state: &FlightState,
    mut session: Session,
    prepared: &Prepared,
    bound: Option<&RecordBatch>,
) -> Result<i64, Status> {
    if !matches!(prepared.kind, StatementKind::Call | StatementKind::Write) {
        return Err(refuse_update(prepared));
    }
    let mut rows = param_rows(prepared, bound)?;
    if rows.is_empty() {
        rows.push(Vec::new());
    }
    let mut written = 0u64;
    for params in rows {
        // CALL system.kill_query(…) is a procedure, run as an update without rows.
        if let Outcome::Modified { rows, .. } = state
            .service
            .execute(&mut session, prepared, params)
            .await
            .map_err(to_status)?
        {
            written += rows;
        }
    }
    Ok(i64::try_from(written).unwrap_or(i64::MAX))
}

/// The parameter rows a DoPut carries, as one batch (no columns when it carries none).
async fn decode_parameters(
    data: impl futures::Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
) -> Result<RecordBatch, Status> {
    let mut decoded = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(data);
    let mut batches = Vec::new();
    let mut bytes = 0usize;
    while let Some(batch) = decoded.next().await {
        let batch = batch.map_err(|e| match e {
            FlightError::Tonic(status) => *status,
            other => arrow_status("decoding the parameters", other),
        })?;
        bytes += batch.get_array_memory_size();
        if bytes > MAX_BOUND_BYTES {
            return Err(Status::resource_exhausted(format!(
                "parameter bindings are limited to {} MiB",
                MAX_BOUND_BYTES >> 20
            )));
        }
        batches.push(batch);
    }
    let schema = match (batches.first(), decoded.schema()) {
        (Some(batch), _) => batch.schema(),
        (None, Some(schema)) => schema.clone(),
        (None, None) => Arc::new(Schema::empty()),
    };
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| arrow_status("combining the parameter batches", e))
}

fn refuse_update(prepared: &Prepared) -> Status {
    match require_query(prepared) {
        Ok(()) => Status::invalid_argument(
            "the statement returns rows: run it with CommandStatementQuery",
        ),
        Err(status) => status,
    }
}
