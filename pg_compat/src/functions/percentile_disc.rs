//! `percentile_disc(fraction) WITHIN GROUP (ORDER BY x)`: PostgreSQL's discrete
//! percentile, the first value (in the group's order) whose position reaches the
//! fraction of the non-NULL values; of `x`'s type. DataFusion has only the continuous
//! form. A fraction outside [0, 1] is PostgreSQL's 22003.

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{SortOptions, concat, filter, is_not_null, sort_to_indices};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};

use crate::OUT_OF_RANGE;

/// The aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct PercentileDisc {
    signature: Signature,
}

impl PercentileDisc {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for PercentileDisc {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "percentile_disc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    // WITHIN GROUP puts the ordered value first, then the fraction.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, _fraction] = arg_types else {
            return plan_err!(
                "percentile_disc takes one fraction and WITHIN GROUP (ORDER BY one value)"
            );
        };
        Ok(vec![value.clone(), DataType::Float64])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value = args.input_fields[0].data_type().clone();
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            DataType::List(Arc::new(Field::new_list_field(value, true))),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(fraction) = args.exprs.get(1) else {
            return plan_err!("percentile_disc needs a fraction");
        };
        let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
        let fraction = match fraction.evaluate(&empty)? {
            ColumnarValue::Scalar(scalar) => scalar,
            ColumnarValue::Array(_) => {
                return plan_err!("the fraction of percentile_disc must be a constant");
            }
        };
        let fraction = match fraction {
            ScalarValue::Float64(Some(f)) => f,
            ScalarValue::Float64(None) => f64::NAN,
            other => return plan_err!("percentile_disc's fraction is {other:?}, not a number"),
        };
        if !(0.0..=1.0).contains(&fraction) {
            return Err(DataFusionError::Execution(format!(
                "{OUT_OF_RANGE} percentile value {fraction} is not between 0 and 1"
            )));
        }
        let options = args
            .order_bys
            .first()
            .map(|sort| sort.options)
            .unwrap_or_default();
        Ok(Box::new(PercentileDiscAccumulator {
            data_type: args.expr_fields[0].data_type().clone(),
            fraction,
            options,
            values: Vec::new(),
        }))
    }
}

/// The group's non-NULL values, sorted when the percentile is asked for.
#[derive(Debug)]
struct PercentileDiscAccumulator {
    data_type: DataType,
    fraction: f64,
    options: SortOptions,
    values: Vec<ArrayRef>,
}

impl PercentileDiscAccumulator {
    fn all_values(&self) -> Result<ArrayRef> {
        if self.values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&self.data_type));
        }
        let parts = self.values.iter().map(|a| a.as_ref()).collect::<Vec<_>>();
        Ok(concat(&parts)?)
    }
}

impl Accumulator for PercentileDiscAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else {
            return exec_err!("percentile_disc got no values");
        };
        let present = if values.null_count() == 0 {
            values.clone()
        } else {
            filter(values, &is_not_null(values)?)?
        };
        if !present.is_empty() {
            self.values.push(present);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first() else {
            return exec_err!("percentile_disc got no state");
        };
        let lists = lists.as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                self.update_batch(&[lists.value(row)])?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = self.all_values()?;
        Ok(vec![
            SingleRowListArrayBuilder::new(values).build_list_scalar(),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.all_values()?;
        if values.is_empty() {
            return ScalarValue::try_from(&self.data_type);
        }
        let order = sort_to_indices(&values, Some(self.options), None)?;
        // PostgreSQL's row number: ceil(fraction × count), at least the first.
        let count = values.len();
        let position = ((self.fraction * count as f64).ceil() as usize).clamp(1, count);
        ScalarValue::try_from_array(&values, order.value(position - 1) as usize)
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .values
                .iter()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}
