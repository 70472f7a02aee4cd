//! `sign(x)` as PostgreSQL types it: `numeric` for a numeric argument, `double
//! precision` otherwise (DataFusion's `signum` is always a float, and has no `sign`).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Decimal128Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// PostgreSQL's `sign`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sign {
    signature: Signature,
}

impl Sign {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Sign {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "sign"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Decimal128(..)] => Ok(DataType::Decimal128(38, 0)),
            [t] if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
            [other] => plan_err!("function sign({other}) does not exist"),
            _ => plan_err!("sign takes one argument"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = matches!(args.args.first(), Some(ColumnarValue::Scalar(_)));
        let Some(input) = args.args.first() else {
            return plan_err!("sign takes one argument");
        };
        let input = input.to_array(rows)?;
        let result: ArrayRef = match input.data_type() {
            DataType::Decimal128(..) => Arc::new(
                input
                    .as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(i128::signum)
                    .with_precision_and_scale(38, 0)?,
            ) as Arc<Decimal128Array>,
            _ => {
                let floats = cast(&input, &DataType::Float64)?;
                Arc::new(
                    floats
                        .as_primitive::<Float64Type>()
                        .unary::<_, Float64Type>(|v| {
                            if v > 0.0 {
                                1.0
                            } else if v < 0.0 {
                                -1.0
                            } else {
                                v
                            }
                        }),
                ) as Arc<Float64Array>
            }
        };
        super::results::columnar(result, scalar)
    }
}
