//! Flight SQL metadata commands (planned through the principal's own catalog view),
//! cancellation by CancelFlightInfo and by client deadline, and TLS.

use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Schema;
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys, CommandGetPrimaryKeys,
    CommandGetTables, CommandGetXdbcTypeInfo, SqlInfo,
};
use arrow_flight::{CancelFlightInfoRequest, CancelStatus};
use futures::StreamExt;
use lakegate_gateway::config::FlightTlsConfig;
use lakegate_tests::{TestGateway, seeded_data_dir, test_config};
use tonic::Code;

use crate::flight::sql::{fetch, raw_client};

const SLOW: &str = "SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b \
                    WHERE a.l_comment < b.l_comment";

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b.column_by_name(column).expect("column").as_string::<i32>();
            (0..array.len())
                .map(|i| array.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn catalogs_schemas_and_tables_show_only_what_the_principal_reads() {
    let gw = TestGateway::start().await;
    let mut demo = gw.flight().await;
    let mut auditor = gw.flight_as("auditor", "auditor").await.expect("auditor");

    let info = demo.get_catalogs().await.expect("catalogs");
    let catalogs = strings(
        &fetch(&mut demo, &info).await.expect("rows"),
        "catalog_name",
    );
    assert_eq!(
        catalogs,
        ["lake", "system"],
        "demo reads lake.* and its own query history"
    );
    let info = auditor.get_catalogs().await.expect("catalogs");
    let catalogs = strings(
        &fetch(&mut auditor, &info).await.expect("rows"),
        "catalog_name",
    );
    assert_eq!(
        catalogs,
        ["system"],
        "the auditor reads the system catalog only"
    );

    let info = demo
        .get_db_schemas(CommandGetDbSchemas {
            catalog: Some("lake".into()),
            db_schema_filter_pattern: Some("tp%".into()),
        })
        .await
        .expect("schemas");
    let schemas = strings(
        &fetch(&mut demo, &info).await.expect("rows"),
        "db_schema_name",
    );
    assert_eq!(schemas, ["tpch"]);

    let info = demo
        .get_tables(CommandGetTables {
            catalog: Some("lake".into()),
            db_schema_filter_pattern: Some("tpch".into()),
            table_name_filter_pattern: Some("%".into()),
            table_types: vec!["TABLE".into()],
            include_schema: true,
        })
        .await
        .expect("tables");
    let batches = fetch(&mut demo, &info).await.expect("rows");
    let tables = strings(&batches, "table_name");
    assert_eq!(
        tables,
        [
            "customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"
        ]
    );
    let schemas = batches[0]
        .column_by_name("table_schema")
        .expect("table_schema")
        .as_binary::<i32>();
    let lineitem =
        arrow::ipc::convert::try_schema_from_ipc_buffer(schemas.value(1)).expect("schema decodes");
    assert_eq!(lineitem.fields().len(), 16);

    // The analyst's customer table has no c_acctbal (denied), and the system catalog
    // is not listed.
    let mut analyst = gw.flight_as("analyst", "analyst").await.expect("analyst");
    let info = analyst
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: Some("customer".into()),
            table_types: vec![],
            include_schema: true,
        })
        .await
        .expect("tables");
    let batches = fetch(&mut analyst, &info).await.expect("rows");
    assert_eq!(strings(&batches, "catalog_name"), ["lake"]);
    let bytes = batches[0]
        .column_by_name("table_schema")
        .expect("table_schema")
        .as_binary::<i32>()
        .value(0)
        .to_vec();
    let customer: Schema =
        arrow::ipc::convert::try_schema_from_ipc_buffer(&bytes).expect("schema decodes");
    assert!(customer.field_with_name("c_acctbal").is_err());
    assert!(customer.field_with_name("c_phone").is_ok());

    let info = demo.get_table_types().await.expect("types");
    let types = strings(&fetch(&mut demo, &info).await.expect("rows"), "table_type");
    assert!(types.contains(&"TABLE".to_string()), "{types:?}");

    // Metadata requests are in the audit trail, with the rows they listed.
    let batches = crate::flight::sql::run(
        &mut auditor,
        "SELECT rows FROM system.audit.events WHERE protocol = 'flight-sql' \
         AND \"user\" = 'analyst' AND sql LIKE '%CommandGetTables%'",
    )
    .await
    .expect("audit");
    let listed: Vec<u64> = batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
            (0..column.len())
                .map(|i| column.value(i))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(listed.contains(&1), "{listed:?}");
}

#[tokio::test]
async fn sql_info_type_info_and_keys() {
    let gw = TestGateway::start().await;
    let mut client = gw.flight().await;

    let info = client
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::FlightSqlServerVersion,
            SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .expect("sql info");
    let batches = fetch(&mut client, &info).await.expect("rows");
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    let values = batches[0].column(1).as_union();
    let names = values.child(0).as_string::<i32>();
    let texts: Vec<&str> = (0..names.len())
        .filter(|&i| names.is_valid(i))
        .map(|i| names.value(i))
        .collect();
    assert!(texts.contains(&"lakegate"), "{texts:?}");
    assert!(texts.contains(&env!("CARGO_PKG_VERSION")), "{texts:?}");

    let info = client
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .expect("types");
    let batches = fetch(&mut client, &info).await.expect("rows");
    let names = strings(&batches, "type_name");
    for name in ["bigint", "text", "numeric", "timestamp", "date"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }

    let table = |t: &str| {
        (
            Some("lake".to_string()),
            Some("tpch".to_string()),
            t.to_string(),
        )
    };
    let (catalog, db_schema, name) = table("orders");
    let info = client
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog: catalog.clone(),
            db_schema: db_schema.clone(),
            table: name.clone(),
        })
        .await
        .expect("primary keys");
    let schema = info.clone().try_decode_schema().expect("schema");
    assert!(schema.field_with_name("key_sequence").is_ok());
    assert_eq!(
        fetch(&mut client, &info)
            .await
            .expect("rows")
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        0
    );
    for info in [
        client
            .get_exported_keys(CommandGetExportedKeys {
                catalog: catalog.clone(),
                db_schema: db_schema.clone(),
                table: name.clone(),
            })
            .await
            .expect("exported"),
        client
            .get_imported_keys(CommandGetImportedKeys {
                catalog,
                db_schema,
                table: name,
            })
            .await
            .expect("imported"),
    ] {
        let schema = info.clone().try_decode_schema().expect("schema");
        assert!(schema.field_with_name("fk_table_name").is_ok());
        let batches = fetch(&mut client, &info).await.expect("rows");
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    }
}

/// CancelFlightInfo with arrow-flight's FlightClient, carrying `client`'s token.
async fn cancel(
    gw: &TestGateway,
    client: &arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    info: arrow_flight::FlightInfo,
) -> Result<arrow_flight::CancelFlightInfoResult, arrow_flight::error::FlightError> {
    let mut flight = arrow_flight::FlightClient::new(gw.flight_channel().await);
    flight.add_header(
        "authorization",
        &format!("Bearer {}", client.token().expect("token")),
    )?;
    flight
        .cancel_flight_info(CancelFlightInfoRequest::new(info))
        .await
}

#[tokio::test]
async fn cancel_flight_info_stops_a_running_query_and_one_not_started() {
    let gw = TestGateway::start().await;
    let mut client = gw.flight().await;

    // Cancelled before DoGet: DoGet fails with CANCELLED.
    let info = client.execute(SLOW.into(), None).await.expect("info");
    let result = cancel(&gw, &client, info.clone()).await.expect("cancel");
    assert_eq!(result.status, CancelStatus::Cancelled as i32);
    let error = fetch(&mut client, &info).await.expect_err("cancelled");
    assert_eq!(error.code(), Code::Cancelled, "{error}");

    // Cancelled while it runs: the stream ends with CANCELLED.
    let info = client.execute(SLOW.into(), None).await.expect("info");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let client_copy = gw.flight().await;
    let mut stream = client.do_get(ticket).await.expect("do_get");
    // The query is registered once DoGet has answered; cancel it while it runs.
    let (item, result) = tokio::join!(stream.next(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel(&gw, &client_copy, info).await
    });
    let error = item.expect("an item").expect_err("cancelled");
    assert!(error.to_string().contains("cancel"), "{error}");
    assert_eq!(
        result.expect("cancel answered").status,
        CancelStatus::Cancelled as i32
    );

    // Another user cannot cancel it.
    let info = client.execute(SLOW.into(), None).await.expect("info");
    let admin = gw.flight_as("admin", "admin").await.expect("admin");
    match cancel(&gw, &admin, info).await {
        Err(arrow_flight::error::FlightError::Tonic(status)) => {
            assert_eq!(status.code(), Code::PermissionDenied, "{status}")
        }
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_deadline_ends_the_query() {
    let gw = TestGateway::start().await;
    let mut client = gw.flight().await;
    let info = client.execute(SLOW.into(), None).await.expect("info");
    let (mut raw, token) = raw_client(&gw, &client);
    let mut request = tonic::Request::new(info.endpoint[0].ticket.clone().expect("ticket"));
    request.set_timeout(Duration::from_millis(300));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let outcome = match raw.do_get(request).await {
        Ok(response) => {
            // The schema comes first; the error ends the stream.
            let mut stream = response.into_inner();
            loop {
                match stream.next().await {
                    Some(Err(status)) => break status,
                    Some(Ok(_)) => continue,
                    None => panic!("the stream ended without the deadline error"),
                }
            }
        }
        Err(status) => status,
    };
    assert_eq!(outcome.code(), Code::DeadlineExceeded, "{outcome}");
    // The gateway is fine afterwards.
    let batches = crate::flight::sql::run(&mut client, "SELECT 1")
        .await
        .expect("alive");
    assert_eq!(batches[0].num_rows(), 1);
}

#[tokio::test]
async fn flight_sql_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = dir.path().join("flight.crt");
    let key = dir.path().join("flight.key");
    std::fs::write(&cert, generated.cert.pem()).expect("write cert");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("write key");
    let mut config = test_config(seeded_data_dir());
    config.flight.tls = Some(FlightTlsConfig {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    });
    let gw = TestGateway::start_with(config).await;
    let addr = gw.gateway.flight_addr().expect("flight");

    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            generated.cert.pem(),
        ))
        .domain_name("localhost");
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
            .expect("endpoint")
            .tls_config(tls)
            .expect("tls config")
            .connect()
            .await
            .expect("TLS connects");
    let mut client = arrow_flight::sql::client::FlightSqlServiceClient::new(channel);
    client
        .handshake("demo", "demo")
        .await
        .expect("handshake over TLS");
    let batches = crate::flight::sql::run(&mut client, "SELECT count(*) FROM lake.tpch.region")
        .await
        .expect("query over TLS");
    assert_eq!(batches[0].num_rows(), 1);

    // Plain text to the TLS port fails.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await;
    if let Ok(channel) = plain {
        let mut client = arrow_flight::sql::client::FlightSqlServiceClient::new(channel);
        assert!(client.handshake("demo", "demo").await.is_err());
    }

    // A key that does not fit stops the start, naming the files.
    let other = rcgen::generate_simple_self_signed(vec!["x".to_string()]).expect("certificate");
    std::fs::write(&key, other.signing_key.serialize_pem()).expect("write key");
    let mut config = test_config(seeded_data_dir());
    config.flight.tls = Some(FlightTlsConfig {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    });
    let error = lakegate_gateway::server::Gateway::start(config, false)
        .await
        .expect_err("mismatched key");
    assert!(format!("{error:#}").contains("flight.key"), "{error:#}");
}
