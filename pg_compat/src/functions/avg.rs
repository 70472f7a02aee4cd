//! `avg` of a `numeric` as PostgreSQL computes it: the exact sum divided by the count
//! with PostgreSQL's division (at least 16 significant digits, rounded; see
//! numeric_div.rs). DataFusion's keeps the input's scale plus 4 and truncates: TPC-H
//! Q1's `avg(l_quantity)` was `25.537587` where PostgreSQL says `25.5375871168549970`.
//! Averages of other types are DataFusion's (`avg` of integers becomes a numeric
//! average in arithmetic.rs, as in PostgreSQL).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, UInt64Type};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature,
};

use super::numeric_div::{divide, quotient_scale};
use crate::OUT_OF_RANGE;

/// `avg`, with PostgreSQL's numeric average.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct PostgresAvg {
    inner: AggregateUDF,
}

impl PostgresAvg {
    pub(super) fn new() -> Self {
        Self {
            inner: datafusion::functions_aggregate::average::avg_udaf()
                .as_ref()
                .clone(),
        }
    }
}

/// The input scale and the result scale of an average of `Decimal128(p, s)`: its
/// integer digits are at most the input's.
fn scales(data_type: &DataType) -> Option<(i8, i8)> {
    match data_type {
        DataType::Decimal128(p, s) => Some((*s, quotient_scale(*p, *s, 0))),
        _ => None,
    }
}

impl AggregateUDFImpl for PostgresAvg {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "avg"
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
        match arg_types.first().and_then(scales) {
            Some((_, scale)) => Ok(DataType::Decimal128(38, scale)),
            None => self.inner.return_type(arg_types),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // DISTINCT averages are DataFusion's (at PostgreSQL's result type).
        let Some((input_scale, _)) =
            scales(args.input_fields[0].data_type()).filter(|_| !args.is_distinct)
        else {
            return self.inner.state_fields(args);
        };
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[sum]", args.name),
                DataType::Decimal128(38, input_scale),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[count]", args.name),
                DataType::UInt64,
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match scales(args.expr_fields[0].data_type()) {
            Some((input, result)) if !args.is_distinct => {
                Ok(Box::new(NumericAvg::new(input, result)))
            }
            _ => self.inner.accumulator(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        match scales(args.expr_fields[0].data_type()) {
            Some(_) => !args.is_distinct,
            None => self.inner.groups_accumulator_supported(args),
        }
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match scales(args.expr_fields[0].data_type()) {
            Some((input, result)) => Ok(Box::new(NumericAvg::new(input, result))),
            None => self.inner.create_groups_accumulator(args),
        }
    }
}

/// Sums and counts per group (one group for the row-wise accumulator).
#[derive(Debug)]
struct NumericAvg {
    input_scale: i8,
    result_scale: i8,
    sums: Vec<i128>,
    counts: Vec<u64>,
    overflow: bool,
}

impl NumericAvg {
    fn new(input_scale: i8, result_scale: i8) -> Self {
        Self {
            input_scale,
            result_scale,
            sums: Vec::new(),
            counts: Vec::new(),
            overflow: false,
        }
    }

    fn add(&mut self, group: usize, sum: i128, count: u64) {
        match self.sums[group].checked_add(sum) {
            Some(total) => self.sums[group] = total,
            None => self.overflow = true,
        }
        self.counts[group] += count;
    }

    fn grow(&mut self, groups: usize) {
        if self.sums.len() < groups {
            self.sums.resize(groups, 0);
            self.counts.resize(groups, 0);
        }
    }

    /// The sums and counts of the groups `emit_to` names, taken out.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<i128>, Vec<u64>) {
        (
            emit_to.take_needed(&mut self.sums),
            emit_to.take_needed(&mut self.counts),
        )
    }

    fn check(&self) -> Result<()> {
        if self.overflow {
            return Err(DataFusionError::Execution(format!(
                "{OUT_OF_RANGE} numeric field overflow in avg"
            )));
        }
        Ok(())
    }

    fn averages(&self, sums: &[i128], counts: &[u64]) -> Result<Decimal128Array> {
        self.check()?;
        let (input, result) = (i32::from(self.input_scale), i32::from(self.result_scale));
        sums.iter()
            .zip(counts)
            .map(|(sum, count)| match count {
                0 => Ok(None),
                n => divide(*sum, input, i128::from(*n), 0, result).map(Some),
            })
            .collect::<Result<Decimal128Array>>()?
            .with_precision_and_scale(38, self.result_scale)
            .map_err(Into::into)
    }

    fn states(&self, sums: Vec<i128>, counts: Vec<u64>) -> Result<Vec<ArrayRef>> {
        self.check()?;
        Ok(vec![
            Arc::new(Decimal128Array::from(sums).with_precision_and_scale(38, self.input_scale)?),
            Arc::new(UInt64Array::from(counts)),
        ])
    }

    /// Adds partial sums and counts (states of other accumulators) to groups.
    fn merge(
        &mut self,
        states: &[ArrayRef],
        groups: impl Iterator<Item = Option<usize>>,
    ) -> Result<()> {
        let [sums, counts] = states else {
            return exec_err!("avg's state is a sum and a count");
        };
        let sums = sums.as_primitive::<Decimal128Type>();
        let counts = counts.as_primitive::<UInt64Type>();
        for (row, group) in groups.enumerate() {
            if let Some(group) = group
                && sums.is_valid(row)
                && counts.is_valid(row)
            {
                self.add(group, sums.value(row), counts.value(row));
            }
        }
        Ok(())
    }
}

impl GroupsAccumulator for NumericAvg {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let values = values[0].as_primitive::<Decimal128Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if selected && values.is_valid(row) {
                self.add(group, values.value(row), 1);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (sums, counts) = self.take(emit_to);
        Ok(Arc::new(self.averages(&sums, &counts)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts) = self.take(emit_to);
        self.states(sums, counts)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let groups = group_indices.iter().enumerate().map(|(row, group)| {
            opt_filter
                .is_none_or(|f| f.is_valid(row) && f.value(row))
                .then_some(*group)
        });
        self.merge(values, groups)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.sums.capacity() * 16 + self.counts.capacity() * 8
    }
}

impl Accumulator for NumericAvg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.grow(1);
        let values = values[0].as_primitive::<Decimal128Type>();
        let mut sum = 0i128;
        for value in values.iter().flatten() {
            match sum.checked_add(value) {
                Some(total) => sum = total,
                None => self.overflow = true,
            }
        }
        let count = (values.len() - values.null_count()) as u64;
        self.add(0, sum, count);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.grow(1);
        let rows = states.first().map_or(0, |s| s.len());
        self.merge(states, std::iter::repeat_n(Some(0), rows))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.grow(1);
        let arrays = self.states(vec![self.sums[0]], vec![self.counts[0]])?;
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.grow(1);
        let averages = self.averages(&self.sums[..1], &self.counts[..1])?;
        ScalarValue::try_from_array(&averages, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.sums.capacity() * 16 + self.counts.capacity() * 8
    }
}
