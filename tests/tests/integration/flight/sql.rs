//! Flight SQL statements through arrow-flight's FlightSqlServiceClient: handshake and
//! bearer tokens, queries and their results against Postgres wire, signed tickets,
//! prepared statements with DoPut binding, and the gRPC status of each kind of error.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightInfo, Ticket};
use futures::TryStreamExt;
use lakegate_gateway::flight::SQLSTATE_KEY;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config, tpch_query};
use tonic::Code;
use tonic::transport::Channel;

type Client = FlightSqlServiceClient<Channel>;

/// The gRPC code of a client error, and its text. Most calls return the server's
/// status; the handshake wraps it in text.
pub(crate) fn status_of(error: &FlightError) -> (Code, String) {
    if let FlightError::Tonic(status) = error {
        return (status.code(), status.to_string());
    }
    let text = error.to_string();
    for code in [
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::InvalidArgument,
        Code::NotFound,
    ] {
        if text.contains(code.description()) {
            return (code, text);
        }
    }
    (Code::Unknown, text)
}

/// Runs a query: GetFlightInfo, then DoGet on each endpoint.
pub(crate) async fn run(client: &mut Client, sql: &str) -> Result<Vec<RecordBatch>, tonic::Status> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(to_status)?;
    fetch(client, &info).await
}

pub(crate) async fn fetch(
    client: &mut Client,
    info: &FlightInfo,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let mut batches = Vec::new();
    for endpoint in &info.endpoint {
        let ticket = endpoint.ticket.clone().expect("endpoint has a ticket");
        let stream = client.do_get(ticket).await.map_err(to_status)?;
        let mut got: Vec<RecordBatch> = stream.try_collect().await.map_err(to_status)?;
        batches.append(&mut got);
    }
    Ok(batches)
}

/// A client error as a status.
pub(crate) fn to_status(error: FlightError) -> tonic::Status {
    match error {
        FlightError::Tonic(status) => *status,
        other => {
            let (code, text) = status_of(&other);
            tonic::Status::new(code, text)
        }
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    batch.column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn handshake_query_and_results_match_postgres_wire() {
    let gw = TestGateway::start().await;
    let mut flight = gw.flight().await;
    assert!(
        flight.token().is_some(),
        "the handshake sets a bearer token"
    );
    let pg = gw.connect().await;

    let batches = run(&mut flight, "SELECT count(*) FROM lake.tpch.lineitem")
        .await
        .expect("count");
    let expected = query_text(&pg, "SELECT count(*) FROM lake.tpch.lineitem").await;
    assert_eq!(
        single_i64(&batches).to_string(),
        expected[0][0].clone().expect("count")
    );

    // TPC-H Q3: the same rows over both doors.
    let sql = tpch_query(3);
    let batches = run(&mut flight, &sql).await.expect("q3");
    let expected = query_text(&pg, &sql).await;
    assert_eq!(rows(&batches), expected.len());
    let keys = batches[0].column(0).as_primitive::<Int64Type>();
    assert_eq!(
        keys.value(0).to_string(),
        expected[0][0].clone().expect("key")
    );

    // Streamed in record batches, never one collected block.
    let batches = run(&mut flight, "SELECT * FROM lake.tpch.lineitem")
        .await
        .expect("lineitem");
    assert!(batches.len() > 1, "{} batches", batches.len());
    assert_eq!(
        rows(&batches).to_string(),
        single_count(&pg, "lineitem").await
    );
}

async fn single_count(pg: &tokio_postgres::Client, table: &str) -> String {
    query_text(pg, &format!("SELECT count(*) FROM lake.tpch.{table}")).await[0][0]
        .clone()
        .expect("count")
}

#[tokio::test]
async fn bad_missing_and_expired_credentials_are_unauthenticated() {
    let mut config = test_config(seeded_data_dir());
    // Long enough for a handshake and a query on a loaded machine (1 s was not, with
    // the whole suite running), short enough to wait out.
    config.flight.token_ttl_seconds = 3;
    let gw = TestGateway::start_with(config).await;

    let error = gw
        .flight_as("demo", "wrong")
        .await
        .expect_err("bad password");
    let (code, text) = status_of(&error);
    assert_eq!(code, Code::Unauthenticated, "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(gw.flight_as("nobody", "demo").await.is_err());

    // No token at all.
    let mut anonymous = FlightSqlServiceClient::new(gw.flight_channel().await);
    let error = anonymous
        .execute("SELECT 1".into(), None)
        .await
        .expect_err("no credentials");
    assert_eq!(status_of(&error).0, Code::Unauthenticated);

    // A token that was not issued by this gateway.
    anonymous.set_token("eyJub3QiOiJ0aGlzIn0.AAAA".into());
    let error = anonymous
        .execute("SELECT 1".into(), None)
        .await
        .expect_err("forged token");
    assert_eq!(status_of(&error).0, Code::Unauthenticated);

    // An expired token.
    let mut client = gw.flight().await;
    run(&mut client, "SELECT 1")
        .await
        .expect("fresh token works");
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let error = client
        .execute("SELECT 1".into(), None)
        .await
        .expect_err("expired");
    let (code, text) = status_of(&error);
    assert_eq!(code, Code::Unauthenticated);
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test]
async fn basic_credentials_without_padding_are_accepted() {
    use base64::Engine;
    let gw = TestGateway::start().await;
    let mut raw =
        arrow_flight::flight_service_client::FlightServiceClient::new(gw.flight_channel().await);
    // "demo:demo" is 9 bytes: base64 needs padding, which the ADBC Go driver leaves out.
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode("demo:demo");
    assert!(!encoded.ends_with('='));
    let mut request = tonic::Request::new(futures::stream::iter(vec![
        arrow_flight::HandshakeRequest::default(),
    ]));
    request.metadata_mut().insert(
        "authorization",
        format!("Basic {encoded}").parse().expect("header"),
    );
    let response = raw.handshake(request).await.expect("handshake");
    let header = response
        .metadata()
        .get("authorization")
        .expect("token header")
        .to_str()
        .expect("text");
    assert!(header.starts_with("Bearer "), "{header}");
}

#[tokio::test]
async fn tickets_are_signed_and_bound_to_their_user() {
    let gw = TestGateway::start().await;
    let mut demo = gw.flight().await;
    let mut admin = gw.flight_as("admin", "admin").await.expect("admin");
    let info = demo
        .execute("SELECT count(*) FROM lake.tpch.nation".into(), None)
        .await
        .expect("info");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");

    // Another user replays the ticket.
    let error = admin.do_get(ticket.clone()).await.expect_err("replayed");
    assert_eq!(status_of(&error).0, Code::PermissionDenied, "{error}");

    // A forged ticket: one byte changed.
    let mut forged = ticket.ticket.to_vec();
    let last = forged.len() - 40;
    forged[last] ^= 0x20;
    let error = demo.do_get(Ticket::new(forged)).await.expect_err("forged");
    let (code, text) = status_of(&error);
    assert_eq!(code, Code::InvalidArgument, "{text}");
    assert!(
        text.contains("not a ticket issued by this gateway"),
        "{text}"
    );

    // Garbage.
    let error = demo
        .do_get(Ticket::new(b"SELECT * FROM secrets".to_vec()))
        .await
        .expect_err("garbage");
    assert_eq!(status_of(&error).0, Code::InvalidArgument);

    // The owner may redeem it (more than once).
    for _ in 0..2 {
        let batches = fetch(&mut demo, &info).await.expect("owner redeems");
        assert_eq!(single_i64(&batches), 25);
    }
}

#[tokio::test]
async fn policy_applies_over_flight_as_over_postgres_wire() {
    let gw = TestGateway::start().await;
    let mut analyst = gw.flight_as("analyst", "analyst").await.expect("analyst");
    let pg = gw
        .connect_as("analyst", "analyst")
        .await
        .expect("pg analyst");

    let batches = run(&mut analyst, "SELECT count(*) FROM customer")
        .await
        .expect("count");
    let expected = query_text(&pg, "SELECT count(*) FROM customer").await;
    assert_eq!(
        single_i64(&batches).to_string(),
        expected[0][0].clone().expect("n")
    );

    // Masked column: last four digits only.
    let batches = run(&mut analyst, "SELECT c_phone FROM customer LIMIT 1")
        .await
        .expect("phones");
    let phone = batches[0].column(0).as_string::<i32>().value(0).to_string();
    assert!(phone.starts_with("XXXX"), "{phone}");

    // Denied column and denied table: PERMISSION_DENIED with SQLSTATE 42501.
    for sql in [
        "SELECT c_acctbal FROM customer",
        "SELECT * FROM system.audit.events",
    ] {
        let mut raw = raw_client(&gw, &analyst);
        let status = raw_statement(&mut raw, sql).await.expect_err(sql);
        assert_eq!(status.code(), Code::PermissionDenied, "{sql}: {status}");
        assert_eq!(
            status.metadata().get(SQLSTATE_KEY).map(|v| v.as_bytes()),
            Some(&b"42501"[..]),
            "{sql}"
        );
    }
}

/// A low-level client carrying another client's bearer token, for reading statuses
/// with their metadata.
pub(crate) fn raw_client(
    gw: &TestGateway,
    authenticated: &Client,
) -> (
    arrow_flight::flight_service_client::FlightServiceClient<Channel>,
    String,
) {
    let addr = gw.gateway.flight_addr().expect("flight");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    (
        arrow_flight::flight_service_client::FlightServiceClient::new(channel),
        authenticated.token().expect("token").clone(),
    )
}

/// GetFlightInfo for a statement with the raw client; returns the status on failure.
pub(crate) async fn raw_statement(
    (client, token): &mut (
        arrow_flight::flight_service_client::FlightServiceClient<Channel>,
        String,
    ),
    sql: &str,
) -> Result<FlightInfo, tonic::Status> {
    use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
    use prost::Message;
    let command = CommandStatementQuery {
        query: sql.into(),
        transaction_id: None,
    };
    let descriptor = arrow_flight::FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
    let mut request = tonic::Request::new(descriptor);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    client
        .get_flight_info(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn errors_map_to_grpc_codes_with_their_sqlstate() {
    let gw = TestGateway::start().await;
    let demo = gw.flight().await;
    let mut raw = raw_client(&gw, &demo);
    for (sql, code, sqlstate) in [
        ("SELEC 1", Code::InvalidArgument, "42601"),
        ("SELECT * FROM lake.tpch.nope", Code::NotFound, "42P01"),
        (
            "SELECT nope FROM lake.tpch.nation",
            Code::InvalidArgument,
            "42703",
        ),
        (
            "DELETE FROM lake.tpch.region",
            Code::FailedPrecondition,
            "25006",
        ),
        (
            "INSERT INTO lake.tpch.region VALUES (9, 'X', 'y')",
            Code::PermissionDenied,
            "42501",
        ),
    ] {
        let status = raw_statement(&mut raw, sql).await.expect_err(sql);
        assert_eq!(status.code(), code, "{sql}: {status}");
        assert_eq!(
            status.metadata().get(SQLSTATE_KEY).map(|v| v.as_bytes()),
            Some(sqlstate.as_bytes()),
            "{sql}"
        );
    }
    let status = raw_statement(&mut raw, "SELECT 1; SELECT 2")
        .await
        .expect_err("two statements");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("one statement"), "{status}");
    let status = raw_statement(&mut raw, "SET search_path = tpch")
        .await
        .expect_err("session statement");
    assert_eq!(status.code(), Code::InvalidArgument);

    // Updates: DML other than INSERT is refused by the planner; a query is not an
    // update.
    let mut client = gw.flight().await;
    let error = client
        .execute_update("DELETE FROM lake.tpch.region".into(), None)
        .await
        .expect_err("read-only");
    assert_eq!(status_of(&error).0, Code::FailedPrecondition, "{error}");
    let error = client
        .execute_update("SELECT 1".into(), None)
        .await
        .expect_err("not an update");
    assert_eq!(status_of(&error).0, Code::InvalidArgument, "{error}");

    // The service is still fine.
    let batches = run(&mut client, "SELECT 1").await.expect("alive");
    assert_eq!(rows(&batches), 1);
}

#[tokio::test]
async fn get_schema_describes_without_running() {
    use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
    use prost::Message;
    let gw = TestGateway::start().await;
    let demo = gw.flight().await;
    let (mut raw, token) = raw_client(&gw, &demo);
    let command = CommandStatementQuery {
        query: "SELECT n_nationkey, n_name FROM lake.tpch.nation".into(),
        transaction_id: None,
    };
    let mut request = tonic::Request::new(arrow_flight::FlightDescriptor::new_cmd(
        command.as_any().encode_to_vec(),
    ));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let result = raw.get_schema(request).await.expect("schema").into_inner();
    let schema = Schema::try_from(&result).expect("decodes");
    assert_eq!(schema.fields().len(), 2);
    assert_eq!(schema.field(0).name(), "n_nationkey");
    assert_eq!(schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(schema.field(1).data_type(), &DataType::Utf8);
}

#[tokio::test]
async fn prepared_statements_bind_parameters_by_do_put() {
    let gw = TestGateway::start().await;
    let mut client = gw.flight().await;

    let mut statement = client
        .prepare(
            "SELECT n_name FROM lake.tpch.nation WHERE n_nationkey = ?".into(),
            None,
        )
        .await
        .expect("prepare");
    let params = statement.parameter_schema().expect("params").clone();
    assert_eq!(params.fields().len(), 1);
    assert_eq!(params.field(0).data_type(), &DataType::Int64);
    assert_eq!(
        statement.dataset_schema().expect("dataset").field(0).name(),
        "n_name"
    );

    // Executing before binding names the problem.
    let error = statement.execute().await.expect_err("unbound");
    assert!(
        error.to_string().contains("bind them with DoPut"),
        "{error}"
    );

    let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Int64, true)]));
    for (key, name) in [(5, "ETHIOPIA"), (7, "GERMANY")] {
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![key]))])
                .expect("batch");
        statement.set_parameters(batch).expect("bind");
        let info = statement.execute().await.expect("execute");
        let batches = fetch(&mut client, &info).await.expect("rows");
        assert_eq!(batches[0].column(0).as_string::<i32>().value(0), name);
    }

    // Several rows bound: one execution each, results in order; an Int32 column is
    // cast to the parameter's Int64.
    let schema32 = Arc::new(Schema::new(vec![Field::new("$1", DataType::Int32, true)]));
    let batch = RecordBatch::try_new(
        schema32,
        vec![Arc::new(arrow::array::Int32Array::from(vec![1, 2, 3]))],
    )
    .expect("batch");
    statement.set_parameters(batch).expect("bind");
    let info = statement.execute().await.expect("execute");
    let batches = fetch(&mut client, &info).await.expect("rows");
    let names: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_string::<i32>();
            (0..column.len())
                .map(|i| column.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, ["ARGENTINA", "BRAZIL", "CANADA"]);

    // A binding of the wrong shape is refused at DoPut.
    let two = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        two,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Int64Array::from(vec![2])),
        ],
    )
    .expect("batch");
    statement.set_parameters(batch).expect("bind");
    let error = statement.execute().await.expect_err("two for one");
    assert!(
        error.to_string().contains("1 parameters, 2 were bound"),
        "{error}"
    );

    statement.close().await.expect("close");
}

#[tokio::test]
async fn prepared_statements_without_parameters_and_closed_handles() {
    let gw = TestGateway::start().await;
    let mut client = gw.flight().await;
    let mut statement = client
        .prepare(
            "SELECT r_name FROM lake.tpch.region ORDER BY r_regionkey".into(),
            None,
        )
        .await
        .expect("prepare");
    assert!(
        statement
            .parameter_schema()
            .expect("params")
            .fields()
            .is_empty()
    );
    for _ in 0..3 {
        let info = statement.execute().await.expect("execute");
        let batches = fetch(&mut client, &info).await.expect("rows");
        assert_eq!(rows(&batches), 5);
    }
    let info = statement.execute().await.expect("execute");
    statement.close().await.expect("close");
    // The ticket names a closed statement.
    let error = fetch(&mut client, &info).await.expect_err("closed");
    assert_eq!(error.code(), Code::NotFound, "{error}");

    // Another user cannot use a handle.
    let mut demo_statement = client
        .prepare("SELECT 1".into(), None)
        .await
        .expect("prepare");
    let info = demo_statement.execute().await.expect("execute");
    let mut admin = gw.flight_as("admin", "admin").await.expect("admin");
    let error = fetch(&mut admin, &info).await.expect_err("other user");
    assert_eq!(error.code(), Code::PermissionDenied, "{error}");
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_and_the_server_keeps_serving() {
    use arrow_flight::sql::{CommandPreparedStatementQuery, ProstMessageExt};
    use arrow_flight::{Action, FlightData, FlightDescriptor};
    use prost::Message;
    let gw = TestGateway::start().await;
    let mut demo = gw.flight().await;
    let (mut raw, token) = raw_client(&gw, &demo);
    fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        request
    }

    // A descriptor that is not a Flight SQL command.
    let status = raw
        .get_flight_info(with_token(
            &token,
            FlightDescriptor::new_cmd(vec![0xff, 0x00, 0x13, 0x37]),
        ))
        .await
        .expect_err("garbage command");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");

    // An unknown prepared statement handle.
    let unknown = CommandPreparedStatementQuery {
        prepared_statement_handle: vec![7; 16].into(),
    };
    let status = raw
        .get_flight_info(with_token(
            &token,
            FlightDescriptor::new_cmd(unknown.as_any().encode_to_vec()),
        ))
        .await
        .expect_err("unknown handle");
    assert_eq!(status.code(), Code::NotFound, "{status}");

    // Actions: unknown type, and a body that does not decode.
    let status = raw
        .do_action(with_token(&token, Action::new("Nope", vec![])))
        .await
        .expect_err("unknown action");
    assert_eq!(status.code(), Code::Unimplemented, "{status}");
    let status = raw
        .do_action(with_token(
            &token,
            Action::new("CreatePreparedStatement", vec![1, 2, 3]),
        ))
        .await
        .expect_err("bad body");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");

    // DoPut: nothing at all, no descriptor, parameters for an unknown handle.
    let empty: Vec<FlightData> = Vec::new();
    let status = raw
        .do_put(with_token(&token, futures::stream::iter(empty)))
        .await
        .expect_err("empty DoPut");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let status = raw
        .do_put(with_token(
            &token,
            futures::stream::iter(vec![FlightData::default()]),
        ))
        .await
        .expect_err("no descriptor");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let with_unknown = FlightData {
        flight_descriptor: Some(FlightDescriptor::new_cmd(unknown.as_any().encode_to_vec())),
        ..FlightData::default()
    };
    let status = raw
        .do_put(with_token(
            &token,
            futures::stream::iter(vec![with_unknown]),
        ))
        .await
        .expect_err("unknown handle");
    assert_eq!(status.code(), Code::NotFound, "{status}");

    // Still serving.
    let batches = run(&mut demo, "SELECT count(*) FROM lake.tpch.region")
        .await
        .expect("alive");
    assert_eq!(single_i64(&batches), 5);
}
