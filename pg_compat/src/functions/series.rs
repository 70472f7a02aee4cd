//! `generate_series` of integers is `integer` when its bounds are, as in PostgreSQL;
//! DataFusion's series are always `bigint`. Both of DataFusion's forms are wrapped: the
//! list function (which a select list's `generate_series(…)` unnests) and the table
//! function (`FROM generate_series(…)`). Series of bigints, dates and timestamps are
//! DataFusion's own.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

/// The list form: `generate_series(int, int[, int])` is a list of `integer`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct IntegerSeries {
    inner: ScalarUDF,
    signature: Signature,
}

impl IntegerSeries {
    pub(super) fn new() -> Self {
        Self {
            inner: datafusion::functions_nested::range::gen_series_udf()
                .as_ref()
                .clone(),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Every argument an integer of at most 32 bits (PostgreSQL's `smallint` or `integer`).
fn narrow_integers(types: &[DataType]) -> bool {
    !types.is_empty()
        && types.iter().all(|t| {
            matches!(
                t,
                DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::UInt8
                    | DataType::UInt16
            )
        })
}

fn list_of(data_type: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(data_type, true)))
}

impl ScalarUDFImpl for IntegerSeries {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "generate_series"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if narrow_integers(arg_types) {
            return Ok(vec![DataType::Int32; arg_types.len()]);
        }
        let fields = arg_types
            .iter()
            .map(|t| Arc::new(Field::new("argument", t.clone(), true)))
            .collect::<Vec<_>>();
        Ok(fields_with_udf(&fields, &self.inner)?
            .iter()
            .map(|f| f.data_type().clone())
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.iter().all(|t| t == &DataType::Int32) && !arg_types.is_empty() {
            return Ok(list_of(DataType::Int32));
        }
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let narrow = args.return_field.data_type() == &list_of(DataType::Int32);
        if !narrow {
            return self.inner.invoke_with_args(args);
        }
        // DataFusion's series computes in bigints; the list is narrowed after, which
        // cannot fail: every value lies between two `integer` bounds.
        for value in &mut args.args {
            *value = value.cast_to(&DataType::Int64, None)?;
        }
        args.arg_fields = args
            .arg_fields
            .iter()
            .map(|f| Arc::new(f.as_ref().clone().with_data_type(DataType::Int64)))
            .collect();
        args.return_field = Arc::new(Field::new(
            self.name(),
            list_of(DataType::Int64),
            args.return_field.is_nullable(),
        ));
        self.inner
            .invoke_with_args(args)?
            .cast_to(&list_of(DataType::Int32), None)
    }
}

/// The table form: `FROM generate_series(int, int[, int])` has an `integer` column.
#[derive(Debug)]
pub(super) struct IntegerSeriesTable {
    inner: Arc<dyn TableFunctionImpl>,
}

impl IntegerSeriesTable {
    pub(super) fn new(inner: Arc<dyn TableFunctionImpl>) -> Self {
        Self { inner }
    }
}

impl TableFunctionImpl for IntegerSeriesTable {
    fn call(&self, args: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let series = self.inner.call(args)?;
        // Table function arguments are constants, typed by value as PostgreSQL types
        // a literal: an integer that fits 32 bits is an `integer`.
        let narrow = !args.is_empty()
            && args.iter().all(|arg| match arg {
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => i32::try_from(*v).is_ok(),
                _ => false,
            });
        if !narrow {
            return Ok(series);
        }
        let schema = Arc::new(Schema::new(
            series
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_data_type(DataType::Int32))
                .collect::<Vec<_>>(),
        ));
        Ok(Arc::new(NarrowedSeries { series, schema }))
    }
}

/// A series of bigints read as `integer`s.
#[derive(Debug)]
struct NarrowedSeries {
    series: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for NarrowedSeries {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.series.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.series.scan(state, projection, &[], limit).await?;
        let input = plan.schema();
        if input.fields().is_empty() {
            return Ok(plan);
        }
        let columns = input
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field): (usize, &FieldRef)| {
                let column = Arc::new(Column::new(field.name(), i));
                (
                    Arc::new(CastExpr::new(column, DataType::Int32, None)) as _,
                    field.name().clone(),
                )
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(ProjectionExec::try_new(columns, plan)?))
    }
}
