//! DoGet result bodies: the same batches with and without the IPC compression a client
//! asks for in `x-lakegate-ipc-compression`, a clear error for an unknown codec or a
//! compressed request, and the service still serving after each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, Ticket};
use futures::{StreamExt, TryStreamExt};
use lakegate_gateway::flight::COMPRESSION_KEY;
use lakegate_tests::TestGateway;
use tonic::Code;
use tonic::transport::Channel;

use super::sql::{raw_client, raw_statement};

/// A DoGet with extra request headers: the batches, and the IPC body bytes received.
async fn do_get(
    client: &mut FlightServiceClient<Channel>,
    token: &str,
    ticket: Ticket,
    headers: &[(&'static str, &str)],
) -> Result<(Vec<RecordBatch>, u64), tonic::Status> {
    let mut request = tonic::Request::new(ticket);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    for (key, value) in headers {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("header value"));
    }
    let stream = client.do_get(request).await?.into_inner();
    let body = Arc::new(AtomicU64::new(0));
    let counter = body.clone();
    let counted = stream
        .map_err(|status| FlightError::Tonic(Box::new(status)))
        .inspect_ok(move |data: &FlightData| {
            counter.fetch_add(data.data_body.len() as u64, Ordering::Relaxed);
        });
    let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(counted)
        .map(|batch| {
            batch.map_err(|error| match error {
                FlightError::Tonic(status) => *status,
                other => tonic::Status::internal(other.to_string()),
            })
        })
        .try_collect()
        .await?;
    Ok((batches, body.load(Ordering::Relaxed)))
}

fn one_batch(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).expect("concat")
}

#[tokio::test]
async fn compressed_results_read_back_the_same_and_are_smaller() {
    let gw = TestGateway::start().await;
    let demo = gw.flight().await;
    let mut raw = raw_client(&gw, &demo);
    // Strings (read as views and sent plain), decimals, dates, nulls from an outer
    // join, and a LIMIT that slices batches.
    let sql = "SELECT c.c_custkey, c.c_name, c.c_acctbal, o.o_orderdate, o.o_comment \
               FROM lake.tpch.customer c LEFT JOIN lake.tpch.orders o \
               ON o.o_custkey = c.c_custkey AND o.o_orderkey < 200 \
               ORDER BY c.c_custkey, o.o_orderdate LIMIT 1200";
    let info = raw_statement(&mut raw, sql).await.expect("flight info");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let (client, token) = &mut raw;
    let (plain, plain_bytes) = do_get(client, token, ticket.clone(), &[])
        .await
        .expect("plain");
    let plain = one_batch(&plain);
    assert_eq!(plain.num_rows(), 1200);
    assert!(
        plain.column(3).null_count() > 0,
        "the outer join leaves nulls"
    );
    for codec in ["lz4_frame", "zstd", "ZSTD"] {
        let (compressed, bytes) =
            do_get(client, token, ticket.clone(), &[(COMPRESSION_KEY, codec)])
                .await
                .unwrap_or_else(|status| panic!("{codec}: {status}"));
        assert_eq!(one_batch(&compressed), plain, "{codec}");
        assert!(
            bytes < plain_bytes,
            "{codec}: {bytes} compressed bytes vs {plain_bytes}"
        );
    }
    let (none, _) = do_get(client, token, ticket.clone(), &[(COMPRESSION_KEY, "none")])
        .await
        .expect("none");
    assert_eq!(one_batch(&none), plain);
}

#[tokio::test]
async fn an_unknown_codec_or_a_compressed_request_is_refused_clearly() {
    let gw = TestGateway::start().await;
    let demo = gw.flight().await;
    let mut raw = raw_client(&gw, &demo);
    let info = raw_statement(&mut raw, "SELECT n_name FROM lake.tpch.nation")
        .await
        .expect("flight info");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let (client, token) = &mut raw;

    let status = do_get(client, token, ticket.clone(), &[(COMPRESSION_KEY, "gzip")])
        .await
        .expect_err("unknown codec");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    assert!(status.message().contains("gzip"), "{status}");

    // A request body announced as gzip goes to tonic's own service, which has no gzip.
    let status = do_get(client, token, ticket.clone(), &[("grpc-encoding", "gzip")])
        .await
        .expect_err("compressed request");
    assert_eq!(status.code(), Code::Unimplemented, "{status}");

    // A ticket that is not ours is refused before anything runs.
    let status = do_get(client, token, Ticket::new("not a ticket"), &[])
        .await
        .expect_err("forged ticket");
    assert_ne!(status.code(), Code::Ok);

    let (batches, _) = do_get(client, token, ticket, &[])
        .await
        .expect("still serving");
    assert_eq!(one_batch(&batches).num_rows(), 25);
}
