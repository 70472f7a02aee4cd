//! `trunc(numeric)` as PostgreSQL computes it: a `numeric` without its fraction, where
//! DataFusion's `trunc` casts to a float. Other arguments (floats, and the two-argument
//! form) are DataFusion's.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// PostgreSQL's `trunc`, over DataFusion's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Trunc {
    signature: Signature,
    inner: Arc<ScalarUDF>,
}

impl Trunc {
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Any(1),
                    datafusion::logical_expr::TypeSignature::Any(2),
                ],
                Volatility::Immutable,
            ),
            inner: datafusion::functions::math::trunc(),
        }
    }
}

impl ScalarUDFImpl for Trunc {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "trunc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Decimal128(precision, _)] => Ok(DataType::Decimal128(*precision, 0)),
            // DataFusion's trunc takes floats (and the precision as an integer).
            [value, ..] if value.is_numeric() || value.is_null() => Ok(DataType::Float64),
            _ => datafusion::common::plan_err!("trunc takes a number, got {args:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        if let [value] = args.args.as_slice()
            && let DataType::Decimal128(precision, scale) = value.data_type()
        {
            let scalar = matches!(value, ColumnarValue::Scalar(_));
            let unit = 10i128.pow(u32::try_from(scale).unwrap_or(0));
            let array = value.to_array(rows)?;
            let truncated: ArrayRef = Arc::new(
                array
                    .as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(|v| v / unit)
                    .with_precision_and_scale(precision, 0)?,
            );
            return super::results::columnar(truncated, scalar);
        }
        // Floats: DataFusion's, with its arguments cast as its signature wants.
        let cast_args = args
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let target = if i == 0 {
                    DataType::Float64
                } else {
                    DataType::Int64
                };
                a.cast_to(&target, None)
            })
            .collect::<Result<Vec<_>>>()?;
        let arg_fields = cast_args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Arc::new(datafusion::arrow::datatypes::Field::new(
                    format!("arg{i}"),
                    a.data_type(),
                    true,
                ))
            })
            .collect();
        self.inner.invoke_with_args(ScalarFunctionArgs {
            args: cast_args,
            arg_fields,
            number_rows: rows,
            return_field: args.return_field,
            config_options: args.config_options,
        })
    }
}
