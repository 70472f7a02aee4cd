//! DoGet served beside tonic's generated Flight service, so that results reach h2 as
//! prebuilt frames (`ipc_frames`) instead of through tonic's prost codec; and every call
//! of a connection beyond `[flight] max_connections` refused (`connections`).
//!
//! [`DirectGet`] wraps the generated server: a DoGet call whose request is not
//! compressed is answered here; every other call, and a DoGet with a `grpc-encoding`,
//! goes to the generated server unchanged. The request is decoded and authorized
//! exactly as there (a `tonic::Request` built from the same headers and connection
//! extensions, then [`FlightState::results`]), errors become the same trailers-only
//! responses, and an error in mid-stream ends the body with its status in the trailers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_flight::Ticket;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use prost::Message;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::{Request, Status};
use tower_service::Service;

use super::connections::ConnectionLimit;
use super::ipc_frames::FrameEncoder;
use super::service::{FlightSqlEndpoint, FlightState};

const DO_GET_PATH: &str = "/arrow.flight.protocol.FlightService/DoGet";

/// The Flight service with DoGet answered by [`FlightState::results`] and
/// [`ResultBody`].
#[derive(Clone)]
pub(crate) struct DirectGet {
    inner: FlightServiceServer<FlightSqlEndpoint>,
    state: Arc<FlightState>,
    connections: Arc<ConnectionLimit>,
}

impl DirectGet {
    pub(crate) fn new(
        inner: FlightServiceServer<FlightSqlEndpoint>,
        state: Arc<FlightState>,
        connections: Arc<ConnectionLimit>,
    ) -> Self {
        Self {
            inner,
            state,
            connections,
        }
    }
}

impl NamedService for DirectGet {
    const NAME: &'static str = <FlightServiceServer<FlightSqlEndpoint> as NamedService>::NAME;
}

/// Whether the request body arrives uncompressed (`grpc-encoding` absent or identity).
fn identity_encoded(headers: &HeaderMap) -> bool {
    headers
        .get("grpc-encoding")
        .is_none_or(|encoding| encoding.as_bytes() == b"identity")
}

impl Service<http::Request<Body>> for DirectGet {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<http::Request<Body>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if let Some(refusal) = self.connections.refusal(request.extensions()) {
            return std::future::ready(Ok(refusal.into_http())).boxed();
        }
        if request.uri().path() == DO_GET_PATH && identity_encoded(request.headers()) {
            let state = self.state.clone();
            async move {
                Ok(match do_get(&state, request).await {
                    Ok(response) => response,
                    Err(status) => status.into_http(),
                })
            }
            .boxed()
        } else {
            self.inner.call(request).boxed()
        }
    }
}

/// Decodes the one `Ticket` of a unary gRPC request body.
async fn ticket(body: Body, max_message_bytes: usize) -> Result<Ticket, Status> {
    let mut bytes = Limited::new(body, max_message_bytes + 5)
        .collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the DoGet request: {e}")))?
        .to_bytes();
    if bytes.len() < 5 {
        return Err(Status::invalid_argument(
            "the DoGet request holds no complete gRPC message",
        ));
    }
    let compressed = bytes.get_u8();
    let len = bytes.get_u32() as usize;
    if compressed != 0 {
        return Err(Status::internal(
            "the DoGet message is flagged compressed but no grpc-encoding was sent",
        ));
    }
    if len != bytes.len() {
        return Err(Status::invalid_argument(format!(
            "the DoGet request announces a {len}-byte message but carries {} bytes",
            bytes.len()
        )));
    }
    Ticket::decode(bytes)
        .map_err(|e| Status::invalid_argument(format!("the DoGet ticket does not decode: {e}")))
}

async fn do_get(
    state: &FlightState,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, Status> {
    let (parts, body) = request.into_parts();
    let ticket = ticket(body, state.max_message_bytes).await?;
    let request = Request::from_parts(
        MetadataMap::from_headers(parts.headers),
        parts.extensions,
        ticket,
    );
    let results = state.results(request).await?;
    let encoder = FrameEncoder::new(results.schema.clone(), results.compression)
        .map_err(|e| super::status::server_arrow_status("preparing the result encoder", e))?;
    let schema = encoder
        .schema_frame()
        .map_err(|e| super::status::server_arrow_status("encoding the result schema", e))?;
    let body = ResultBody {
        frames: VecDeque::from([schema]),
        encoder,
        batches: Some(results.batches),
        trailers: None,
    };
    let mut response = http::Response::new(Body::new(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    Ok(response)
}

/// The streamed response: frames of each batch as it comes, then the status trailers.
struct ResultBody {
    frames: VecDeque<Bytes>,
    encoder: FrameEncoder,
    /// `None` once the stream ended or failed.
    batches: Option<BoxStream<'static, Result<arrow::array::RecordBatch, FlightError>>>,
    /// Set when the batches end: what the trailers will say.
    trailers: Option<Status>,
}

impl ResultBody {
    fn end(&mut self, status: Status) {
        self.batches = None;
        self.trailers = Some(status);
    }
}

impl http_body::Body for ResultBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        loop {
            if let Some(frame) = this.frames.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            let Some(batches) = this.batches.as_mut() else {
                return Poll::Ready(this.trailers.take().map(|status| {
                    let mut trailers = HeaderMap::new();
                    if let Err(unencodable) = status.add_header(&mut trailers) {
                        trailers.clear();
                        let _ = unencodable.add_header(&mut trailers);
                    }
                    Ok(Frame::trailers(trailers))
                }));
            };
            match Pin::new(batches).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.end(Status::ok("")),
                Poll::Ready(Some(Err(error))) => this.end(Status::from(error)),
                Poll::Ready(Some(Ok(batch))) => {
                    let mut frames = Vec::new();
                    match this.encoder.batch_frames(&batch, &mut frames) {
                        Ok(()) => this.frames.extend(frames),
                        Err(error) => this.end(super::status::server_arrow_status(
                            "encoding a result batch",
                            error,
                        )),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.batches.is_none() && self.trailers.is_none()
    }
}
