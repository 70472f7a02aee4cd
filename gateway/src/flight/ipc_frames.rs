//! DoGet results as gRPC frames of `FlightData` built around the batches' own memory:
//! the IPC body of a record batch is a list of `Bytes` slices of its Arrow buffers, so
//! nothing copies the values between the engine and the socket (h2 writes each slice
//! with its frame header in one vectored write).
//!
//! tonic's codec would encode `FlightData` through prost into one buffer, after
//! arrow-flight's encoder had already copied every buffer into the IPC body: two copies
//! of every value. Here string and binary views are the one exception: Flight clients
//! read plain `Utf8`/`Binary` (see `plain_types`), so their values are gathered once,
//! straight into the body, instead of being cast first and copied again.
//!
//! Types this encoder does not lay out itself (nested, dictionaries) and compressed
//! bodies (the client asked for LZ4 or ZSTD) go through arrow's own IPC writer; its two
//! buffers still reach the socket without another copy.

use arrow::array::{Array, ArrayRef, AsArray, GenericByteViewArray, RecordBatch};
use arrow::buffer::Buffer;
use arrow::datatypes::ArrowNativeType;
use arrow::datatypes::{
    BinaryType, BinaryViewType, ByteArrayType, ByteViewType, DataType, LargeBinaryType,
    LargeUtf8Type, SchemaRef, StringViewType, Utf8Type,
};
use arrow::error::ArrowError;
use arrow::ipc::writer::{
    CompressionContext, DictionaryTracker, EncodedData, IpcDataGenerator, IpcWriteOptions,
};
use arrow::ipc::{CompressionType, MessageBuilder, MessageHeader, MetadataVersion};
use arrow_flight::{FlightData, SchemaAsIpc};
use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

/// Alignment of every buffer in an IPC body (the format's minimum is 8).
const ALIGNMENT: usize = 8;

/// Buffers shorter than this are copied into the frame's small-parts buffer rather than
/// sent as a slice of their own: a DATA frame per validity bitmap would cost more than
/// the copy.
const SLICE_THRESHOLD: usize = 16 * 1024;

/// Protobuf tag of `FlightData.data_header` (field 2, length-delimited).
const DATA_HEADER_TAG: u8 = 0x12;
/// Protobuf tag of `FlightData.data_body` (field 1000, length-delimited), as a varint.
const DATA_BODY_TAG: [u8; 2] = [0xC2, 0x3E];

/// IPC body compression a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Lz4Frame,
    Zstd,
}

impl Compression {
    /// Parses the `x-lakegate-ipc-compression` value.
    pub(crate) fn parse(value: &str) -> Result<Option<Self>, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(None),
            "lz4" | "lz4_frame" => Ok(Some(Self::Lz4Frame)),
            "zstd" => Ok(Some(Self::Zstd)),
            other => Err(format!(
                "unknown IPC compression {other:?}: use lz4_frame, zstd or none"
            )),
        }
    }

    pub(crate) fn arrow(self) -> CompressionType {
        match self {
            Self::Lz4Frame => CompressionType::LZ4_FRAME,
            Self::Zstd => CompressionType::ZSTD,
        }
    }
}

/// Encodes one result's schema and batches into gRPC message frames.
pub(crate) struct FrameEncoder {
    schema: SchemaRef,
    layout: Layout,
}

enum Layout {
    /// Our own layout: slices of the batch's buffers.
    Slices,
    /// Arrow's IPC writer (copies into one body; compression, dictionaries, nesting).
    Writer {
        options: IpcWriteOptions,
        generator: IpcDataGenerator,
        dictionaries: DictionaryTracker,
        context: CompressionContext,
    },
}

impl FrameEncoder {
    /// An encoder for batches of `schema` (the plain schema announced to the client).
    pub(crate) fn new(
        schema: SchemaRef,
        compression: Option<Compression>,
    ) -> Result<Self, ArrowError> {
        let layout = match compression {
            None if schema.fields().iter().all(|f| sliceable(f.data_type())) => Layout::Slices,
            _ => Layout::Writer {
                options: IpcWriteOptions::default()
                    .try_with_compression(compression.map(Compression::arrow))?,
                generator: IpcDataGenerator::default(),
                dictionaries: DictionaryTracker::new(false),
                context: CompressionContext::default(),
            },
        };
        Ok(Self { schema, layout })
    }

    /// The first message of the stream: the schema.
    pub(crate) fn schema_frame(&self) -> Result<Bytes, ArrowError> {
        let options = IpcWriteOptions::default();
        let data: FlightData = SchemaAsIpc::new(&self.schema, &options).into();
        let mut frame = BytesMut::with_capacity(5 + data.encoded_len());
        frame.put_u8(0);
        frame.put_u32(message_len(data.encoded_len())?);
        data.encode(&mut frame)
            .map_err(|e| ArrowError::IpcError(format!("encoding the schema message: {e}")))?;
        Ok(frame.freeze())
    }

    /// The frames of one batch (and of any dictionaries it needs first), appended to
    /// `out` in sending order.
    pub(crate) fn batch_frames(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ArrowError> {
        match &mut self.layout {
            Layout::Slices => {
                check_columns(batch, &self.schema)?;
                sliced_message(batch, out)
            }
            Layout::Writer {
                options,
                generator,
                dictionaries,
                context,
            } => {
                let batch = crate::flight::plain_types::plain_batch(batch.clone(), &self.schema)?;
                let (dictionary_messages, message) =
                    generator.encode(&batch, dictionaries, options, context)?;
                for encoded in dictionary_messages.into_iter().chain([message]) {
                    let EncodedData {
                        ipc_message,
                        arrow_data,
                    } = encoded;
                    let body_len = arrow_data.len();
                    let mut frame = MessageFrame::new(&ipc_message, body_len)?;
                    frame.push(Bytes::from(arrow_data));
                    frame.finish(out);
                }
                Ok(())
            }
        }
    }
}

/// Every column of `batch` is of its announced type, or the view of it.
fn check_columns(batch: &RecordBatch, schema: &SchemaRef) -> Result<(), ArrowError> {
    if batch.num_columns() != schema.fields().len() {
        return Err(ArrowError::SchemaError(format!(
            "a batch of {} columns in a result announced with {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    for (column, field) in batch.columns().iter().zip(schema.fields()) {
        let sent = match column.data_type() {
            DataType::Utf8View => &DataType::Utf8,
            DataType::BinaryView => &DataType::Binary,
            other => other,
        };
        if sent != field.data_type() {
            return Err(ArrowError::SchemaError(format!(
                "column {} holds {} in a result announced as {}",
                field.name(),
                column.data_type(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

/// Whether our own layout handles a column of this type.
fn sliceable(data_type: &DataType) -> bool {
    use DataType::*;
    data_type.is_primitive()
        || matches!(
            data_type,
            Null | Boolean
                | Utf8
                | LargeUtf8
                | Binary
                | LargeBinary
                | Utf8View
                | BinaryView
                | FixedSizeBinary(_)
        )
}

fn message_len(len: usize) -> Result<u32, ArrowError> {
    u32::try_from(len).map_err(|_| {
        ArrowError::IpcError(format!(
            "a Flight message of {len} bytes exceeds gRPC's 4 GiB frame"
        ))
    })
}

fn varint(mut value: u64, out: &mut BytesMut) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn varint_len(value: u64) -> usize {
    prost::encoding::encoded_len_varint(value)
}

/// One gRPC message carrying `FlightData { data_header, data_body }`, its body added
/// piece by piece.
struct MessageFrame {
    parts: Vec<Bytes>,
    small: BytesMut,
    body_len: usize,
    written: usize,
}

impl MessageFrame {
    fn new(header: &[u8], body_len: usize) -> Result<Self, ArrowError> {
        let header_len = header.len() as u64;
        let body = body_len as u64;
        let fields = 1 + varint_len(header_len) + header.len() + 2 + varint_len(body) + body_len;
        let mut small = BytesMut::with_capacity(5 + fields - body_len + SLICE_THRESHOLD);
        small.put_u8(0);
        small.put_u32(message_len(fields)?);
        small.put_u8(DATA_HEADER_TAG);
        varint(header_len, &mut small);
        small.put_slice(header);
        small.put_slice(&DATA_BODY_TAG);
        varint(body, &mut small);
        Ok(Self {
            parts: Vec::new(),
            small,
            body_len,
            written: 0,
        })
    }

    fn push(&mut self, bytes: Bytes) {
        self.written += bytes.len();
        if bytes.len() < SLICE_THRESHOLD {
            self.small.put_slice(&bytes);
        } else {
            if !self.small.is_empty() {
                self.parts.push(self.small.split().freeze());
            }
            self.parts.push(bytes);
        }
    }

    fn pad(&mut self) {
        let padding = self.written.next_multiple_of(ALIGNMENT) - self.written;
        self.small.put_bytes(0, padding);
        self.written += padding;
    }

    fn finish(mut self, out: &mut Vec<Bytes>) {
        debug_assert_eq!(self.written, self.body_len, "the body is as announced");
        out.append(&mut self.parts);
        if !self.small.is_empty() {
            out.push(self.small.freeze());
        }
    }
}

/// An Arrow buffer lent to `Bytes`: the bytes stay where the engine wrote them and are
/// freed when h2 has sent them.
struct Shared(Buffer);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// The body of a batch as a list of buffers, each padded to [`ALIGNMENT`].
#[derive(Default)]
struct Body {
    nodes: Vec<arrow::ipc::FieldNode>,
    buffers: Vec<arrow::ipc::Buffer>,
    pieces: Vec<Bytes>,
    len: usize,
}

impl Body {
    fn buffer(&mut self, bytes: Bytes) {
        self.buffers
            .push(arrow::ipc::Buffer::new(self.len as i64, bytes.len() as i64));
        self.len += bytes.len().next_multiple_of(ALIGNMENT);
        self.pieces.push(bytes);
    }

    fn arrow_buffer(&mut self, buffer: Buffer) {
        self.buffer(Bytes::from_owner(Shared(buffer)));
    }

    fn column(&mut self, array: &ArrayRef) -> Result<(), ArrowError> {
        let len = array.len();
        let data_type = array.data_type();
        if let DataType::Null = data_type {
            self.nodes
                .push(arrow::ipc::FieldNode::new(len as i64, len as i64));
            return Ok(());
        }
        self.nodes.push(arrow::ipc::FieldNode::new(
            len as i64,
            array.null_count() as i64,
        ));
        match array.nulls() {
            Some(nulls) if nulls.null_count() > 0 => self.arrow_buffer(nulls.inner().sliced()),
            _ => self.buffer(Bytes::new()),
        }
        match data_type {
            DataType::Boolean => self.arrow_buffer(array.as_boolean().values().sliced()),
            DataType::Utf8 => self.bytes_array::<Utf8Type>(array),
            DataType::LargeUtf8 => self.bytes_array::<LargeUtf8Type>(array),
            DataType::Binary => self.bytes_array::<BinaryType>(array),
            DataType::LargeBinary => self.bytes_array::<LargeBinaryType>(array),
            DataType::Utf8View => self.gathered(array.as_byte_view::<StringViewType>())?,
            DataType::BinaryView => self.gathered(array.as_byte_view::<BinaryViewType>())?,
            DataType::FixedSizeBinary(width) => {
                let data = array.to_data();
                let width = *width as usize;
                let values =
                    data.buffers()[0].slice_with_length(data.offset() * width, len * width);
                self.arrow_buffer(values)
            }
            other => {
                let width = other.primitive_width().ok_or_else(|| {
                    ArrowError::IpcError(format!("{other} has no fixed width to slice"))
                })?;
                let data = array.to_data();
                let values =
                    data.buffers()[0].slice_with_length(data.offset() * width, len * width);
                self.arrow_buffer(values)
            }
        }
        Ok(())
    }

    /// Offsets and values of a string or binary array; a slice that does not start at
    /// offset zero gets offsets of its own and only its values.
    fn bytes_array<T: ByteArrayType>(&mut self, array: &ArrayRef) {
        let array = array.as_bytes::<T>();
        let offsets = array.offsets();
        let first = offsets[0].as_usize();
        let last = offsets[offsets.len() - 1].as_usize();
        if first == 0 {
            self.arrow_buffer(offsets.inner().inner().clone());
        } else {
            let rebased: Vec<T::Offset> = offsets.iter().map(|o| *o - offsets[0]).collect();
            self.arrow_buffer(Buffer::from_vec(rebased));
        }
        self.arrow_buffer(array.values().slice_with_length(first, last - first));
    }

    /// A view column as plain offsets and values, gathered in one pass over the raw
    /// views (a null's value is sent empty, whatever its view holds).
    fn gathered<T: ByteViewType>(
        &mut self,
        array: &GenericByteViewArray<T>,
    ) -> Result<(), ArrowError> {
        let views = array.views();
        let buffers = array.data_buffers();
        let nulls = array.nulls().filter(|n| n.null_count() > 0);
        let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));
        let total: usize = views
            .iter()
            .enumerate()
            .map(|(i, view)| if valid(i) { *view as u32 as usize } else { 0 })
            .sum();
        if total > i32::MAX as usize {
            return Err(ArrowError::IpcError(format!(
                "a batch holds {total} bytes of strings in one column, more than a plain \
                 string column can carry; lower the batch size"
            )));
        }
        let mut offsets = Vec::with_capacity(views.len() + 1);
        let mut values = Vec::with_capacity(total);
        offsets.push(0i32);
        for (i, view) in views.iter().enumerate() {
            let len = *view as u32 as usize;
            if len > 0 && valid(i) {
                if len <= 12 {
                    // Inline: the bytes follow the length in the view itself.
                    values.extend_from_slice(&view.to_le_bytes()[4..4 + len]);
                } else {
                    let buffer = (*view >> 64) as u32 as usize;
                    let offset = (*view >> 96) as u32 as usize;
                    let bytes = buffers
                        .get(buffer)
                        .and_then(|b| b.get(offset..offset + len))
                        .ok_or_else(|| {
                            ArrowError::IpcError(format!(
                                "a view points past its data buffers (buffer {buffer}, \
                                 bytes {offset}..{})",
                                offset + len
                            ))
                        })?;
                    values.extend_from_slice(bytes);
                }
            }
            offsets.push(values.len() as i32);
        }
        self.arrow_buffer(Buffer::from_vec(offsets));
        self.arrow_buffer(Buffer::from_vec(values));
        Ok(())
    }
}

/// A record batch message whose body is slices of `batch`'s buffers.
fn sliced_message(batch: &RecordBatch, out: &mut Vec<Bytes>) -> Result<(), ArrowError> {
    let mut body = Body::default();
    for column in batch.columns() {
        body.column(column)?;
    }
    let header = batch_header(batch.num_rows(), &body);
    let mut frame = MessageFrame::new(&header, body.len)?;
    for piece in body.pieces {
        frame.push(piece);
        frame.pad();
    }
    frame.finish(out);
    Ok(())
}

/// The flatbuffer `Message` announcing a record batch of `rows` laid out as `body`.
fn batch_header(rows: usize, body: &Body) -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::with_capacity(256 + 32 * body.buffers.len());
    let nodes = fbb.create_vector(&body.nodes);
    let buffers = fbb.create_vector(&body.buffers);
    let mut batch = arrow::ipc::RecordBatchBuilder::new(&mut fbb);
    batch.add_length(rows as i64);
    batch.add_nodes(nodes);
    batch.add_buffers(buffers);
    let batch = batch.finish().as_union_value();
    let mut message = MessageBuilder::new(&mut fbb);
    message.add_version(MetadataVersion::V5);
    message.add_header_type(MessageHeader::RecordBatch);
    message.add_bodyLength(body.len as i64);
    message.add_header(batch);
    let message = message.finish();
    fbb.finish(message, None);
    fbb.finished_data().to_vec()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{
        BinaryViewArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray,
        Float64Array, Int32Array, LargeStringArray, NullArray, StringArray, StringViewArray,
        TimestampMicrosecondArray, UInt8Array,
    };
    use arrow::datatypes::{Field, Schema};
    use arrow_flight::utils::flight_data_to_arrow_batch;
    use bytes::Buf;

    use super::*;
    use crate::flight::plain_types::{plain_batch, plain_schema};

    /// Every gRPC message in `frames`, decoded as `FlightData`.
    fn messages(frames: &[Bytes]) -> Vec<FlightData> {
        let mut all = BytesMut::new();
        for frame in frames {
            all.put_slice(frame);
        }
        let mut all = all.freeze();
        let mut out = Vec::new();
        while all.has_remaining() {
            assert_eq!(all.get_u8(), 0, "uncompressed gRPC message");
            let len = all.get_u32() as usize;
            out.push(FlightData::decode(all.split_to(len)).expect("FlightData"));
        }
        out
    }

    fn sample() -> RecordBatch {
        let long = "a string longer than twelve bytes";
        let strings: Vec<Option<String>> = (0..300)
            .map(|i| (i % 7 != 0).then(|| format!("{long} {i}")))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter(
                (0..300).map(|i| (i % 5 != 0).then_some(i)),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..300).map(|i| i as f64 / 3.0),
            )),
            Arc::new(BooleanArray::from_iter(
                (0..300).map(|i| (i % 3 != 0).then_some(i % 2 == 0)),
            )),
            Arc::new(StringArray::from(strings.clone())),
            Arc::new(LargeStringArray::from(strings.clone())),
            Arc::new(StringViewArray::from(strings.clone())),
            Arc::new(BinaryViewArray::from_iter(
                strings.iter().map(|s| s.as_ref().map(|s| s.as_bytes())),
            )),
            Arc::new(
                Decimal128Array::from_iter((0..300).map(|i| (i % 4 != 0).then_some(i * 1001)))
                    .with_precision_and_scale(15, 2)
                    .expect("decimal"),
            ),
            Arc::new(Date32Array::from_iter_values(0..300)),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                (0..300).map(|i| i * 1_000_003),
            )),
            Arc::new(
                FixedSizeBinaryArray::try_from_iter((0..300u32).map(|i| i.to_le_bytes()))
                    .expect("fixed"),
            ),
            Arc::new(UInt8Array::from_iter_values((0..300).map(|i| i as u8))),
            Arc::new(NullArray::new(300)),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
    }

    /// Encodes `batches` and reads them back as a client would.
    fn round_trip(
        schema: &SchemaRef,
        batches: &[RecordBatch],
        compression: Option<Compression>,
    ) -> Vec<RecordBatch> {
        let plain = plain_schema(schema);
        let mut encoder = FrameEncoder::new(plain.clone(), compression).expect("encoder");
        let mut frames = vec![encoder.schema_frame().expect("schema")];
        for batch in batches {
            encoder.batch_frames(batch, &mut frames).expect("frames");
        }
        let messages = messages(&frames);
        let announced = Schema::try_from(&messages[0]).expect("schema message");
        assert_eq!(&announced, plain.as_ref());
        messages[1..]
            .iter()
            .map(|data| {
                flight_data_to_arrow_batch(data, plain.clone(), &HashMap::new()).expect("decode")
            })
            .collect()
    }

    #[test]
    fn batches_and_their_slices_read_back_as_sent() {
        let batch = sample();
        let schema = batch.schema();
        // Slices at byte and non-byte boundaries, and one of length zero.
        let batches = [
            batch.clone(),
            batch.slice(8, 100),
            batch.slice(13, 170),
            batch.slice(299, 1),
            batch.slice(5, 0),
        ];
        for compression in [None, Some(Compression::Lz4Frame), Some(Compression::Zstd)] {
            let read = round_trip(&schema, &batches, compression);
            assert_eq!(read.len(), batches.len());
            for (read, sent) in read.iter().zip(&batches) {
                let expected = plain_batch(sent.clone(), &plain_schema(&schema)).expect("plain");
                assert_eq!(read, &expected, "compression {compression:?}");
            }
        }
    }

    #[test]
    fn a_slice_sends_only_its_own_bytes() {
        let batch = sample();
        let schema = plain_schema(&batch.schema());
        let mut encoder = FrameEncoder::new(schema, None).expect("encoder");
        let mut whole = Vec::new();
        encoder.batch_frames(&batch, &mut whole).expect("whole");
        let mut slice = Vec::new();
        encoder
            .batch_frames(&batch.slice(13, 30), &mut slice)
            .expect("slice");
        let size = |frames: &[Bytes]| frames.iter().map(Bytes::len).sum::<usize>();
        assert!(
            size(&slice) * 5 < size(&whole),
            "{} vs {}",
            size(&slice),
            size(&whole)
        );
    }

    #[test]
    fn a_batch_that_does_not_fit_the_announced_schema_is_refused() {
        let batch = sample();
        let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let mut encoder = FrameEncoder::new(other, None).expect("encoder");
        let error = encoder
            .batch_frames(&batch, &mut Vec::new())
            .expect_err("mismatch");
        assert!(error.to_string().contains("announced"), "{error}");
    }

    #[test]
    fn compression_names() {
        assert_eq!(Compression::parse("ZSTD"), Ok(Some(Compression::Zstd)));
        assert_eq!(
            Compression::parse("lz4_frame"),
            Ok(Some(Compression::Lz4Frame))
        );
        assert_eq!(Compression::parse("none"), Ok(None));
        let error = Compression::parse("gzip").expect_err("unknown codec");
        assert!(error.contains("gzip"), "{error}");
    }
}
