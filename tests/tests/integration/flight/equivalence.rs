//! Cross-protocol equivalence: every statement of `tests/equivalence/statements.sql` and
//! the 22 TPC-H queries, as admin and as analyst (masks, a row filter, a denied
//! column), give the same rows, or the same error, through Postgres wire
//! (tokio-postgres), Flight SQL with arrow-flight's Rust client (as a statement and
//! prepared) and ADBC in Python (as a statement and prepared; its Go driver checks that
//! each stream has the announced schema). On the Rust Flight paths the schema that
//! GetFlightInfo and CreatePreparedStatement announce must be the stream's exactly.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightInfo, Ticket};
use futures::TryStreamExt;
use lakegate_gateway::flight::SQLSTATE_KEY;
use lakegate_tests::{TestGateway, tpch_query};
use tokio::process::Command;
use tonic::transport::Channel;

use crate::flight::sql::{raw_client, raw_statement};

type Rows = Vec<Vec<Option<String>>>;

/// What one path answered.
#[derive(Debug, Clone)]
enum Answer {
    Rows(Rows),
    /// SQLSTATE (when the path carries one) and message.
    Error(Option<String>, String),
}

fn statements() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("equivalence/statements.sql");
    let text = std::fs::read_to_string(&path).expect("statements.sql");
    let mut statements: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
        .map(str::to_string)
        .collect();
    statements.extend((1..=22).map(tpch_query));
    statements
}

async fn postgres_answer(client: &tokio_postgres::Client, sql: &str) -> Answer {
    match client.simple_query(sql).await {
        Ok(messages) => Answer::Rows(lakegate_tests::text_rows(&messages)),
        Err(error) => match error.as_db_error() {
            Some(db) => Answer::Error(Some(db.code().code().to_string()), db.message().into()),
            None => Answer::Error(None, error.to_string()),
        },
    }
}

fn text_of(batches: &[RecordBatch]) -> Rows {
    batches
        .iter()
        .flat_map(|batch| lakegate_gateway::pg::text_values(batch).expect("text values"))
        .collect()
}

fn status_answer(status: &tonic::Status) -> Answer {
    let sqlstate = status
        .metadata()
        .get(SQLSTATE_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Answer::Error(sqlstate, status.message().to_string())
}

fn flight_status(error: FlightError) -> tonic::Status {
    match error {
        FlightError::Tonic(status) => *status,
        other => tonic::Status::unknown(other.to_string()),
    }
}

/// DoGet on every endpoint of `info` with the raw client; the batches must carry the
/// schema `info` announced.
async fn do_get(
    raw: &mut (FlightServiceClient<Channel>, String),
    info: &FlightInfo,
    sql: &str,
) -> Result<Vec<RecordBatch>, tonic::Status> {
    let announced: Schema = info.clone().try_decode_schema().expect("announced schema");
    let mut batches = Vec::new();
    for endpoint in &info.endpoint {
        let ticket: Ticket = endpoint.ticket.clone().expect("ticket");
        let mut request = tonic::Request::new(ticket);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", raw.1).parse().expect("header"),
        );
        let stream = raw.0.do_get(request).await?.into_inner();
        let decoded = FlightRecordBatchStream::new_from_flight_data(
            stream.map_err(|status| FlightError::Tonic(Box::new(status))),
        );
        let got: Vec<RecordBatch> = decoded.try_collect().await.map_err(flight_status)?;
        for batch in &got {
            assert_eq!(
                batch.schema().as_ref(),
                &announced,
                "the stream's schema is not the announced one: {sql}"
            );
        }
        batches.extend(got);
    }
    Ok(batches)
}

async fn flight_statement_answer(
    raw: &mut (FlightServiceClient<Channel>, String),
    sql: &str,
) -> Answer {
    let info = match raw_statement(raw, sql).await {
        Ok(info) => info,
        Err(status) => return status_answer(&status),
    };
    match do_get(raw, &info, sql).await {
        Ok(batches) => Answer::Rows(text_of(&batches)),
        Err(status) => status_answer(&status),
    }
}

async fn flight_prepared_answer(
    client: &mut FlightSqlServiceClient<Channel>,
    raw: &mut (FlightServiceClient<Channel>, String),
    sql: &str,
) -> Answer {
    let mut prepared = match client.prepare(sql.to_string(), None).await {
        Ok(prepared) => prepared,
        Err(error) => return Answer::Error(None, error.to_string()),
    };
    let dataset = prepared.dataset_schema().expect("dataset schema").clone();
    let info = match prepared.execute().await {
        Ok(info) => info,
        Err(error) => return Answer::Error(None, error.to_string()),
    };
    let announced: Schema = info.clone().try_decode_schema().expect("schema");
    assert_eq!(
        announced, dataset,
        "GetFlightInfo and CreatePreparedStatement announce different schemas: {sql}"
    );
    let answer = match do_get(raw, &info, sql).await {
        Ok(batches) => Answer::Rows(text_of(&batches)),
        Err(status) => status_answer(&status),
    };
    let _ = prepared.close().await;
    answer
}

/// Equal values, floats to 1e-9 relative (aggregation order may differ between runs).
fn same_value(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a != b => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => false,
        },
        _ => a == b,
    }
}

fn sorted(rows: &Rows) -> Rows {
    let mut rows = rows.clone();
    rows.sort();
    rows
}

/// Why `got` differs from the Postgres wire `want`, if it does.
fn difference(want: &Answer, got: &Answer) -> Option<String> {
    match (want, got) {
        (Answer::Rows(want), Answer::Rows(got)) => {
            if want.len() != got.len() {
                return Some(format!("{} rows, Postgres wire {}", got.len(), want.len()));
            }
            for (w, g) in sorted(want).iter().zip(&sorted(got)) {
                let equal = w.len() == g.len() && w.iter().zip(g).all(|(a, b)| same_value(a, b));
                if !equal {
                    return Some(format!("row {g:?}, Postgres wire {w:?}"));
                }
            }
            None
        }
        (Answer::Error(code, message), Answer::Error(got_code, got_message)) => {
            if got_code.is_some() && got_code != code {
                return Some(format!("SQLSTATE {got_code:?}, Postgres wire {code:?}"));
            }
            // The message the planner gave is in every path's error text, up to the
            // first quoted value (which row fails first may differ between runs).
            let core: String = message
                .split(['\'', '"'])
                .next()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect();
            (!got_message.contains(&core))
                .then(|| format!("error {got_message:?}, Postgres wire {message:?}"))
        }
        (want, got) => Some(format!("{got:?}, Postgres wire {want:?}")),
    }
}

/// The ADBC answers, read from the files equivalence_adbc.py wrote.
fn adbc_answer(dir: &Path, name: &str) -> Answer {
    let error = dir.join(format!("{name}.error"));
    if error.exists() {
        return Answer::Error(None, std::fs::read_to_string(error).expect("error file"));
    }
    let file = std::fs::File::open(dir.join(format!("{name}.arrow"))).expect("result file");
    let reader = arrow::ipc::reader::FileReader::try_new(file, None).expect("IPC file");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    Answer::Rows(text_of(&batches))
}

async fn adbc_answers(
    gw: &TestGateway,
    python: &str,
    user: &str,
    statements: &[String],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let list = dir.path().join("statements.json");
    std::fs::write(&list, serde_json::to_string(statements).expect("json")).expect("write");
    let addr = gw.gateway.flight_addr().expect("Flight SQL is enabled");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/equivalence_adbc.py");
    let output = Command::new(python)
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(user)
        .arg(&list)
        .arg(dir.path())
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "equivalence_adbc.py: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

#[tokio::test]
async fn every_path_gives_the_same_answer() {
    let python = crate::clients::drivers::flight_python().await;
    if python.is_none() {
        lakegate_tests::clients::missing("Python with adbc-driver-flightsql and pyarrow");
    }
    let gw = TestGateway::start().await;
    let statements = statements();
    assert!(statements.len() >= 80, "{} statements", statements.len());
    let mut failures = Vec::new();
    for user in ["admin", "analyst"] {
        let pg = gw.connect_as(user, user).await.expect("connects");
        let mut client = gw.flight_as(user, user).await.expect("handshake");
        let mut raw = raw_client(&gw, &client);
        let adbc = match &python {
            Some(python) => Some(adbc_answers(&gw, python, user, &statements).await),
            None => None,
        };
        let mut errors = 0;
        for (i, sql) in statements.iter().enumerate() {
            let want = postgres_answer(&pg, sql).await;
            errors += usize::from(matches!(want, Answer::Error(..)));
            let mut answers = vec![
                ("flight", flight_statement_answer(&mut raw, sql).await),
                (
                    "flight prepared",
                    flight_prepared_answer(&mut client, &mut raw, sql).await,
                ),
            ];
            if let Some(dir) = &adbc {
                answers.push(("adbc", adbc_answer(dir.path(), &i.to_string())));
                answers.push((
                    "adbc prepared",
                    adbc_answer(dir.path(), &format!("{i}.prepared")),
                ));
            }
            for (path, got) in answers {
                if let Some(why) = difference(&want, &got) {
                    failures.push(format!("{user} {path}: {sql}\n    {why}"));
                }
            }
        }
        // Most statements answer rows; the errors are the ones meant to fail.
        assert!(errors < statements.len() / 4, "{user}: {errors} errors");
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
