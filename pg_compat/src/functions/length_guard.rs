//! `repeat`, `lpad` and `rpad` refusing results PostgreSQL refuses: DataFusion's
//! allocate whatever is asked, so `lpad('x', 2147483647)` built gigabytes per row, could
//! not be cancelled mid-call, and could take the server's memory (found by the SQL fuzz
//! test). PostgreSQL's limit is one value of at most 1 GB (`MaxAllocSize`), counting four
//! bytes per padded character; beyond it: `54000` "requested length too large". A batch
//! of rows whose results together exceed [`MAX_BATCH_BYTES`] is refused likewise, so
//! that a few large values per row cannot add up to more than the server holds.
//!
//! The guard wraps DataFusion's function and checks the requested lengths before
//! calling it; every other behaviour is the wrapped function's.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::LIMIT_EXCEEDED;

/// PostgreSQL's largest value, `MaxAllocSize` (1 GB - 1).
pub const MAX_VALUE_BYTES: u64 = 0x3fff_ffff;
/// The most one batch of results of a guarded function may take together.
pub const MAX_BATCH_BYTES: u64 = 1 << 30;

/// Which function is guarded, and so how its result size is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Sizing {
    /// `repeat(text, n)`: the text's bytes times n.
    Repeat,
    /// `lpad`/`rpad(text, n [, fill])`: n characters of up to four bytes.
    Pad,
}

/// A guarded function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LengthGuard {
    inner: ScalarUDF,
    sizing: Sizing,
}

impl LengthGuard {
    pub(super) fn repeat() -> Self {
        Self {
            inner: datafusion::functions::string::repeat().as_ref().clone(),
            sizing: Sizing::Repeat,
        }
    }

    pub(super) fn lpad() -> Self {
        Self {
            inner: datafusion::functions::unicode::lpad().as_ref().clone(),
            sizing: Sizing::Pad,
        }
    }

    pub(super) fn rpad() -> Self {
        Self {
            inner: datafusion::functions::unicode::rpad().as_ref().clone(),
            sizing: Sizing::Pad,
        }
    }

    /// The bytes each row's result may take, from the arguments.
    fn check(&self, args: &[ColumnarValue], rows: usize) -> Result<()> {
        let (Some(text), Some(count)) = (args.first(), args.get(1)) else {
            return Ok(());
        };
        let rows = rows.max(1);
        let counts = as_i64(&count.to_array(rows)?)?;
        let text = match self.sizing {
            Sizing::Repeat => Some(text.to_array(rows)?),
            Sizing::Pad => None,
        };
        let mut total: u64 = 0;
        for row in 0..counts.len() {
            if counts.is_null(row) {
                continue;
            }
            let n = counts.value(row).max(0) as u64;
            let bytes = match &text {
                Some(text) => (text_len(text, row) as u64).saturating_mul(n),
                None => n.saturating_mul(4),
            };
            if bytes > MAX_VALUE_BYTES {
                return Err(DataFusionError::Execution(format!(
                    "{LIMIT_EXCEEDED} requested length too large ({}: {bytes} bytes, the most \
                     one value may take is {MAX_VALUE_BYTES})",
                    self.inner.name()
                )));
            }
            total = total.saturating_add(bytes);
        }
        if total > MAX_BATCH_BYTES {
            return Err(DataFusionError::Execution(format!(
                "{LIMIT_EXCEEDED} requested length too large ({} of {} rows would take \
                 {total} bytes together, more than the {MAX_BATCH_BYTES} one batch of values \
                 may take)",
                self.inner.name(),
                counts.len()
            )));
        }
        Ok(())
    }
}

fn as_i64(array: &ArrayRef) -> Result<datafusion::arrow::array::PrimitiveArray<Int64Type>> {
    let array = if array.data_type() == &DataType::Int64 {
        array.clone()
    } else {
        cast(array, &DataType::Int64)?
    };
    Ok(array.as_primitive::<Int64Type>().clone())
}

/// The bytes of a text value (0 when NULL or not text).
fn text_len(array: &ArrayRef, row: usize) -> usize {
    if array.is_null(row) {
        return 0;
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).len(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).len(),
        DataType::Utf8View => array.as_string_view().value(row).len(),
        _ => 0,
    }
}

impl ScalarUDFImpl for LengthGuard {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check(&args.args, args.number_rows)?;
        self.inner.invoke_with_args(args)
    }
}

/// The guarded functions, to register over DataFusion's.
pub(super) fn guarded() -> Vec<Arc<ScalarUDF>> {
    [
        LengthGuard::repeat(),
        LengthGuard::lpad(),
        LengthGuard::rpad(),
    ]
    .into_iter()
    .map(|guard| Arc::new(ScalarUDF::new_from_impl(guard)))
    .collect()
}
