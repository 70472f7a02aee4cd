//! Flight SQL listener limits with the arrow-flight client: concurrent result streams
//! per user and connections beyond `max_connections` (RESOURCE_EXHAUSTED, SQLSTATE
//! 53300), messages beyond `max_message_bytes` refused, and a client that
//! vanishes mid-DoGet having its query cancelled and its stream slot given back.

use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::StreamExt;
use lakegate_gateway::flight::SQLSTATE_KEY;
use lakegate_tests::{TestGateway, query_text, seeded_data_dir, test_config};
use tonic::Code;
use tonic::transport::Channel;

/// Big enough (1.5 M rows) that its stream is still open while a test holds it.
const LONG_RESULT: &str = "SELECT * FROM lake.tpch.lineitem CROSS JOIN lake.tpch.nation";

/// Starts a DoGet of `sql` and reads its first batch; the stream stays open while held.
async fn open_stream(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<arrow_flight::decode::FlightRecordBatchStream, arrow_flight::error::FlightError> {
    let info = client.execute(sql.to_string(), None).await?;
    let ticket = info.endpoint[0]
        .ticket
        .clone()
        .expect("the endpoint carries a ticket");
    let mut stream = client.do_get(ticket).await?;
    let first = stream.next().await.expect("a first batch")?;
    assert!(first.num_rows() > 0);
    Ok(stream)
}

fn status(error: &arrow_flight::error::FlightError) -> Option<&tonic::Status> {
    match error {
        arrow_flight::error::FlightError::Tonic(status) => Some(status),
        _ => None,
    }
}

/// Opens a stream until the server has given the slot of a dropped one back.
async fn open_eventually(
    client: &mut FlightSqlServiceClient<Channel>,
) -> arrow_flight::decode::FlightRecordBatchStream {
    let started = Instant::now();
    loop {
        match open_stream(client, LONG_RESULT).await {
            Ok(stream) => return stream,
            Err(error) if started.elapsed() < Duration::from_secs(10) => {
                assert!(
                    status(&error).is_some_and(|s| s.code() == Code::ResourceExhausted),
                    "{error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the slot was not given back within 10 s: {error}"),
        }
    }
}

#[tokio::test]
async fn one_user_holds_at_most_max_streams_per_user() {
    let mut config = test_config(seeded_data_dir());
    config.flight.max_streams_per_user = 2;
    let gw = TestGateway::start_with(config).await;
    let mut demo = gw.flight().await;
    let first = open_stream(&mut demo, LONG_RESULT).await.expect("first");
    let _second = open_stream(&mut demo, LONG_RESULT).await.expect("second");

    let error = open_stream(&mut demo, "SELECT 1")
        .await
        .expect_err("a third stream is refused");
    let refused = status(&error).expect("a gRPC status");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
    assert_eq!(
        refused
            .metadata()
            .get(SQLSTATE_KEY)
            .and_then(|v| v.to_str().ok()),
        Some("53300")
    );
    assert!(
        refused.message().contains("max_streams_per_user = 2"),
        "{refused}"
    );

    // Another user is not held to demo's count.
    let mut admin = gw.flight_as("admin", "admin").await.expect("admin");
    open_stream(&mut admin, "SELECT 1")
        .await
        .expect("admin's stream");

    // Dropping a stream (the client resets it) gives its slot back.
    drop(first);
    let _third = open_eventually(&mut demo).await;
}

#[tokio::test]
async fn a_client_gone_mid_doget_has_its_query_cancelled_and_its_slot_given_back() {
    let mut config = test_config(seeded_data_dir());
    config.flight.max_streams_per_user = 1;
    let gw = TestGateway::start_with(config).await;
    let marker = "flight_vanishing_client_7d1";
    let sql = format!("{LONG_RESULT} WHERE '{marker}' <> ''");
    {
        let mut client = gw.flight().await;
        let _stream = open_stream(&mut client, &sql).await.expect("stream");
        // The client goes away with its connection, the stream half read.
    }
    let admin = gw.connect_as("admin", "admin").await.expect("admin");
    let started = Instant::now();
    loop {
        let running = query_text(
            &admin,
            &format!(
                "SELECT count(*) FROM system.runtime.queries WHERE query LIKE '%{marker}%' \
                 AND query NOT LIKE '%runtime.queries%'"
            ),
        )
        .await;
        if running[0][0].as_deref() == Some("0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the vanished client's query still runs after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its only slot is free again for a new connection of the same user.
    let mut again = gw.flight().await;
    let _stream = open_eventually(&mut again).await;
}

/// A handshake as the analyst on a new connection, with its status as the server (or
/// the transport) gave it.
async fn raw_handshake(gw: &TestGateway) -> Result<(), tonic::Status> {
    use arrow_flight::HandshakeRequest;
    use arrow_flight::flight_service_client::FlightServiceClient;
    let addr = gw.gateway.flight_addr().expect("flight");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    let mut client = FlightServiceClient::new(channel);
    let mut request = tonic::Request::new(futures::stream::iter([HandshakeRequest::default()]));
    request.metadata_mut().insert(
        "authorization",
        "Basic YW5hbHlzdDphbmFseXN0".parse().expect("header"),
    );
    let mut responses = client.handshake(request).await?.into_inner();
    while responses.message().await?.is_some() {}
    Ok(())
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_with_53300_then_closed() {
    let mut config = test_config(seeded_data_dir());
    config.flight.max_connections = 2;
    let gw = TestGateway::start_with(config).await;
    let first = gw.flight().await;
    let mut second = gw.flight_as("admin", "admin").await.expect("second");

    // The third connection's calls are refused as PostgreSQL refuses a connection.
    let error = raw_handshake(&gw)
        .await
        .expect_err("the third connection is refused");
    assert_eq!(error.code(), Code::ResourceExhausted, "{error}");
    assert_eq!(
        error
            .metadata()
            .get(SQLSTATE_KEY)
            .and_then(|v| v.to_str().ok()),
        Some("53300")
    );
    assert!(error.message().contains("too many clients"), "{error}");
    // A connection beyond the limit that sends nothing is closed after its grace.
    let addr = gw.gateway.flight_addr().expect("flight");
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        let mut buffer = [0u8; 1024];
        loop {
            match tokio::io::AsyncReadExt::read(&mut idle, &mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a refused connection is still open after 6 s"
    );

    // The admitted ones keep working; closing one makes room.
    open_stream(&mut second, "SELECT 1")
        .await
        .expect("second works");
    drop(first);
    let started = Instant::now();
    loop {
        match raw_handshake(&gw).await {
            Ok(()) => break,
            Err(error) if started.elapsed() < Duration::from_secs(10) => {
                assert_eq!(error.code(), Code::ResourceExhausted, "{error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("still refused after 10 s: {error}"),
        }
    }
}

#[tokio::test]
async fn messages_beyond_max_message_bytes_are_refused() {
    let mut config = test_config(seeded_data_dir());
    config.flight.max_message_bytes = 4096;
    let gw = TestGateway::start_with(config).await;
    let mut client = gw.flight().await;
    let long = format!("SELECT 1 AS x /* {} */", "x".repeat(8192));
    let error = client
        .execute(long, None)
        .await
        .expect_err("an 8 KiB statement is refused");
    let refused = status(&error).expect("a gRPC status");
    assert_eq!(refused.code(), Code::OutOfRange, "{refused}");
    assert!(refused.message().contains("too large"), "{refused}");
    // The connection is still served.
    open_stream(&mut client, "SELECT 1")
        .await
        .expect("a small statement still runs");
}
