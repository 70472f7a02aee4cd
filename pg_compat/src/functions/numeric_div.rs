//! `numeric / numeric` as PostgreSQL divides: the quotient rounded (half away from
//! zero) to at least 16 significant digits, more when an operand shows more decimals
//! (PostgreSQL's `select_div_scale`). DataFusion keeps only the dividend's scale plus 4
//! and truncates: `1.0 / 3` was `0.33333` where PostgreSQL says `0.33333333333333333333`.
//!
//! PostgreSQL chooses the scale per value; an Arrow column has one. The result is a
//! `numeric` of scale 20, each value rounded at PostgreSQL's scale for it and so equal
//! to PostgreSQL's, shown with trailing zeros up to the column's scale (a value that
//! PostgreSQL writes with more than 20 decimals is rounded at 20). The column is a
//! 128-bit decimal when the operand types bound the quotient to 18 integer digits, a
//! 256-bit one otherwise (sums are `numeric(38, s)`: `sum(a) / sum(b)` is wide). A
//! quotient that does not fit is "numeric field overflow" (22003), never wrapped.

use std::any::Any;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Decimal128Array, Decimal256Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, FieldRef, i256};
use datafusion::arrow::error::ArrowError;
use datafusion::common::exec_err;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::OUT_OF_RANGE;

/// PostgreSQL's least number of significant digits in a quotient.
const MIN_SIGNIFICANT_DIGITS: i32 = 16;
/// The scale of the result column when the operand types allow it.
const RESULT_SCALE: i8 = 20;

/// The division of two decimals of given types: planned for its operands' types, or
/// (on a distributed worker, which resolves it by name) taking them from its arguments,
/// which are the same types.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct NumericDiv {
    signature: Signature,
    /// (precision, scale) of dividend and divisor, when planned for them.
    operands: Option<((u8, i8), (u8, i8))>,
}

/// Whether the quotient of these operand types needs a 256-bit result (more than 18
/// integer digits possible).
fn is_wide(left: (u8, i8), right: (u8, i8)) -> bool {
    // The quotient's integer digits are at most the dividend's plus the divisor's
    // fraction digits.
    let integer_digits = (i32::from(left.0) - i32::from(left.1)) + i32::from(right.1);
    integer_digits > 38 - i32::from(RESULT_SCALE)
}

fn result_type(wide: bool) -> DataType {
    if wide {
        DataType::Decimal256(76, RESULT_SCALE)
    } else {
        DataType::Decimal128(38, RESULT_SCALE)
    }
}

impl NumericDiv {
    pub(super) fn new(left: (u8, i8), right: (u8, i8)) -> Self {
        Self {
            signature: Signature::exact(
                vec![
                    DataType::Decimal128(left.0, left.1),
                    DataType::Decimal128(right.0, right.1),
                ],
                Volatility::Immutable,
            ),
            operands: Some((left, right)),
        }
    }

    /// The division of whatever two 128-bit decimals it is called with.
    pub(crate) fn for_any_operands() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            operands: None,
        }
    }

    /// The operands' (precision, scale), from the plan or from `types`.
    fn operands<'a>(
        &self,
        mut types: impl Iterator<Item = &'a DataType>,
    ) -> Result<((u8, i8), (u8, i8))> {
        if let Some(operands) = self.operands {
            return Ok(operands);
        }
        match (types.next(), types.next()) {
            (Some(DataType::Decimal128(p1, s1)), Some(DataType::Decimal128(p2, s2))) => {
                Ok(((*p1, *s1), (*p2, *s2)))
            }
            other => exec_err!("numeric_div takes two numerics, not {other:?}"),
        }
    }
}

impl ScalarUDFImpl for NumericDiv {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "numeric_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        let (left, right) = self.operands(types.iter())?;
        Ok(result_type(is_wide(left, right)))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let (left, right) = self.operands(args.arg_fields.iter().map(|f| f.data_type()))?;
        Ok(super::results::nullable_as_arguments(
            self.name(),
            result_type(is_wide(left, right)),
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (left_type, right_type) =
            self.operands(args.arg_fields.iter().map(|f| f.data_type()))?;
        let wide = is_wide(left_type, right_type);
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [left, right] = arrays.as_slice() else {
            return exec_err!("numeric_div takes two numerics");
        };
        let (left, right) = (
            left.as_primitive::<Decimal128Type>(),
            right.as_primitive::<Decimal128Type>(),
        );
        let (s1, s2) = (i32::from(left_type.1), i32::from(right_type.1));
        let target = i32::from(RESULT_SCALE);
        let pairs = left.iter().zip(right.iter());
        let quotients: ArrayRef = if wide {
            Arc::new(
                pairs
                    .map(|pair| match pair {
                        (Some(a), Some(b)) => divide_wide(a, s1, b, s2, target).map(Some),
                        _ => Ok(None),
                    })
                    .collect::<Result<Decimal256Array>>()?
                    .with_precision_and_scale(76, RESULT_SCALE)?,
            )
        } else {
            Arc::new(
                pairs
                    .map(|pair| match pair {
                        (Some(a), Some(b)) => divide(a, s1, b, s2, target).map(Some),
                        _ => Ok(None),
                    })
                    .collect::<Result<Decimal128Array>>()?
                    .with_precision_and_scale(38, RESULT_SCALE)?,
            )
        };
        super::results::columnar(quotients, scalars)
    }
}

/// The scale of a quotient column: 20, or what 38 digits leave beside the integer
/// digits a dividend of `Decimal128(p1, s1)` over a divisor of scale `s2` can have (at
/// least 6).
pub(super) fn quotient_scale(p1: u8, s1: i8, s2: i8) -> i8 {
    let integer_digits = (i32::from(p1) - i32::from(s1)) + i32::from(s2);
    (38 - integer_digits).clamp(6, i32::from(RESULT_SCALE)) as i8
}

/// `(a / 10^s1) / (b / 10^s2)` rounded at PostgreSQL's scale, as a 128-bit decimal of
/// scale `target`.
pub(super) fn divide(a: i128, s1: i32, b: i128, s2: i32, target: i32) -> Result<i128> {
    let overflow = || DataFusionError::Execution(format!("{OUT_OF_RANGE} numeric field overflow"));
    let value = divide_wide(a, s1, b, s2, target)?
        .to_i128()
        .ok_or_else(overflow)?;
    if value.unsigned_abs() >= 10u128.pow(38) {
        return Err(overflow());
    }
    Ok(value)
}

/// The same quotient as a 256-bit decimal (at most 76 digits).
fn divide_wide(a: i128, s1: i32, b: i128, s2: i32, target: i32) -> Result<i256> {
    if b == 0 {
        return Err(DataFusionError::ArrowError(
            Box::new(ArrowError::DivideByZero),
            None,
        ));
    }
    let overflow = || DataFusionError::Execution(format!("{OUT_OF_RANGE} numeric field overflow"));
    let scale = postgres_scale(a, s1, b, s2).min(target);
    // a × 10^(s2 + scale) / (b × 10^s1), in 256 bits so that nothing overflows.
    let ten = i256::from_i128(10);
    let power = |exp: i32| -> Result<i256> {
        ten.checked_pow(u32::try_from(exp).map_err(|_| overflow())?)
            .ok_or_else(overflow)
    };
    let (mut numerator, mut denominator) = (i256::from_i128(a), i256::from_i128(b));
    let shift = s2 + scale - s1;
    if shift >= 0 {
        numerator = numerator.checked_mul(power(shift)?).ok_or_else(overflow)?;
    } else {
        denominator = denominator
            .checked_mul(power(-shift)?)
            .ok_or_else(overflow)?;
    }
    let quotient = numerator.checked_div(denominator).ok_or_else(overflow)?;
    let rest = numerator.checked_rem(denominator).ok_or_else(overflow)?;
    // Half away from zero: compare twice the remainder with the divisor.
    let twice = rest
        .wrapping_abs()
        .checked_mul(i256::from_i128(2))
        .ok_or_else(overflow)?;
    let rounded = if twice >= denominator.wrapping_abs() {
        let away = if (a < 0) != (b < 0) {
            i256::from_i128(-1)
        } else {
            i256::from_i128(1)
        };
        quotient.checked_add(away).ok_or_else(overflow)?
    } else {
        quotient
    };
    let value = rounded
        .checked_mul(power(target - scale)?)
        .ok_or_else(overflow)?;
    if value.wrapping_abs() >= power(76)? {
        return Err(overflow());
    }
    Ok(value)
}

/// PostgreSQL's `select_div_scale`: 16 significant digits for the estimated quotient,
/// or more if an operand has more decimals.
fn postgres_scale(a: i128, s1: i32, b: i128, s2: i32) -> i32 {
    let (w1, d1) = leading_base10000_digit(a, s1);
    let (w2, d2) = leading_base10000_digit(b, s2);
    let mut qweight = w1 - w2;
    if d1 <= d2 {
        qweight -= 1;
    }
    (MIN_SIGNIFICANT_DIGITS - qweight * 4)
        .max(s1)
        .max(s2)
        .max(0)
}

/// The weight and value of the first nonzero base-10000 digit of `v / 10^scale`, as
/// PostgreSQL stores numerics ((0, 0) for zero).
fn leading_base10000_digit(v: i128, scale: i32) -> (i32, u128) {
    let magnitude = v.unsigned_abs();
    if magnitude == 0 {
        return (0, 0);
    }
    let digits = magnitude.ilog10() as i32 + 1;
    // The power of ten of the leading decimal digit, and its base-10000 group.
    let exponent = digits - 1 - scale;
    let weight = exponent.div_euclid(4);
    let shift = scale + 4 * weight;
    let first = if shift >= 0 {
        magnitude / 10u128.pow(shift as u32)
    } else {
        magnitude * 10u128.pow((-shift) as u32)
    };
    (weight, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotients_as_postgres_writes_them() {
        // 1.0 / 3 = 0.33333333333333333333 (scale 20)
        assert_eq!(
            divide(10, 1, 3, 0, 20).expect("divides"),
            33_333_333_333_333_333_333
        );
        // 100000.0 / 3 = 33333.333333333333 (scale 12), shown at scale 20
        assert_eq!(
            divide(1_000_000, 1, 3, 0, 20).expect("divides"),
            3_333_333_333_333_333_300_000_000
        );
        // -2 / 3 = -0.66666666666666666667: rounded away from zero
        assert_eq!(
            divide(-2, 0, 3, 0, 20).expect("divides"),
            -66_666_666_666_666_666_667
        );
        // 12.50 / 0.25 = 50.0000000000000000
        assert_eq!(
            divide(1250, 2, 25, 2, 20).expect("divides"),
            50 * 10i128.pow(20)
        );
        assert!(divide(1, 0, 0, 0, 20).is_err());
    }

    #[test]
    fn leading_digits_in_base_10000() {
        assert_eq!(leading_base10000_digit(5, 2), (-1, 500)); // 0.05
        assert_eq!(leading_base10000_digit(12345, 0), (1, 1)); // 1 2345
        assert_eq!(leading_base10000_digit(10, 1), (0, 1)); // 1.0
        assert_eq!(leading_base10000_digit(0, 3), (0, 0));
    }
}
