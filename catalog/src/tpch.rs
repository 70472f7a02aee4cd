//! The eight TPC-H tables: their Iceberg schemas and a generator of Arrow batches.
//!
//! tpchgen produces rows; its Arrow companion has no release for arrow 58, so rows are
//! rendered in TPC-H's `|`-separated text form one chunk at a time and parsed into
//! batches with arrow-csv against the Iceberg schema. Memory stays at one chunk.

use std::fmt::{Display, Write as _};
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

/// Rows per generated batch.
pub const CHUNK_ROWS: usize = 65_536;

/// The TPC-H tables, in the order they are seeded (small first).
pub const TABLES: [TpchTable; 8] = [
    TpchTable::Region,
    TpchTable::Nation,
    TpchTable::Supplier,
    TpchTable::Customer,
    TpchTable::Part,
    TpchTable::PartSupp,
    TpchTable::Orders,
    TpchTable::LineItem,
];

/// One TPC-H table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TpchTable {
    Region,
    Nation,
    Supplier,
    Customer,
    Part,
    PartSupp,
    Orders,
    LineItem,
}

#[derive(Clone, Copy)]
enum Col {
    Key,
    Int,
    Money,
    Text,
    Date,
}

impl TpchTable {
    /// The table's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            TpchTable::Region => "region",
            TpchTable::Nation => "nation",
            TpchTable::Supplier => "supplier",
            TpchTable::Customer => "customer",
            TpchTable::Part => "part",
            TpchTable::PartSupp => "partsupp",
            TpchTable::Orders => "orders",
            TpchTable::LineItem => "lineitem",
        }
    }

    /// The exact row count for a scale factor (lineitem: the specification's estimate).
    pub fn approx_rows(self, scale_factor: f64) -> u64 {
        let scaled = |base: f64| (base * scale_factor).round().max(1.0) as u64;
        match self {
            TpchTable::Region => 5,
            TpchTable::Nation => 25,
            TpchTable::Supplier => scaled(10_000.0),
            TpchTable::Customer => scaled(150_000.0),
            TpchTable::Part => scaled(200_000.0),
            TpchTable::PartSupp => scaled(800_000.0),
            TpchTable::Orders => scaled(1_500_000.0),
            TpchTable::LineItem => scaled(6_001_215.0),
        }
    }

    /// The columns each data file is sorted by, the date first (so that row groups
    /// hold narrow date ranges and date filters prune them), then a unique key (so that
    /// seeding is deterministic); none for the tables no query filters by date.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            TpchTable::LineItem => &["l_shipdate", "l_orderkey", "l_linenumber"],
            TpchTable::Orders => &["o_orderdate", "o_orderkey"],
            _ => &[],
        }
    }

    fn columns(self) -> &'static [(&'static str, Col)] {
        use Col::*;
        match self {
            TpchTable::Region => &[("r_regionkey", Key), ("r_name", Text), ("r_comment", Text)],
            TpchTable::Nation => &[
                ("n_nationkey", Key),
                ("n_name", Text),
                ("n_regionkey", Key),
                ("n_comment", Text),
            ],
            TpchTable::Supplier => &[
                ("s_suppkey", Key),
                ("s_name", Text),
                ("s_address", Text),
                ("s_nationkey", Key),
                ("s_phone", Text),
                ("s_acctbal", Money),
                ("s_comment", Text),
            ],
            TpchTable::Customer => &[
                ("c_custkey", Key),
                ("c_name", Text),
                ("c_address", Text),
                ("c_nationkey", Key),
                ("c_phone", Text),
                ("c_acctbal", Money),
                ("c_mktsegment", Text),
                ("c_comment", Text),
            ],
            TpchTable::Part => &[
                ("p_partkey", Key),
                ("p_name", Text),
                ("p_mfgr", Text),
                ("p_brand", Text),
                ("p_type", Text),
                ("p_size", Int),
                ("p_container", Text),
                ("p_retailprice", Money),
                ("p_comment", Text),
            ],
            TpchTable::PartSupp => &[
                ("ps_partkey", Key),
                ("ps_suppkey", Key),
                ("ps_availqty", Int),
                ("ps_supplycost", Money),
                ("ps_comment", Text),
            ],
            TpchTable::Orders => &[
                ("o_orderkey", Key),
                ("o_custkey", Key),
                ("o_orderstatus", Text),
                ("o_totalprice", Money),
                ("o_orderdate", Date),
                ("o_orderpriority", Text),
                ("o_clerk", Text),
                ("o_shippriority", Int),
                ("o_comment", Text),
            ],
            TpchTable::LineItem => &[
                ("l_orderkey", Key),
                ("l_partkey", Key),
                ("l_suppkey", Key),
                ("l_linenumber", Int),
                ("l_quantity", Money),
                ("l_extendedprice", Money),
                ("l_discount", Money),
                ("l_tax", Money),
                ("l_returnflag", Text),
                ("l_linestatus", Text),
                ("l_shipdate", Date),
                ("l_commitdate", Date),
                ("l_receiptdate", Date),
                ("l_shipinstruct", Text),
                ("l_shipmode", Text),
                ("l_comment", Text),
            ],
        }
    }

    /// The Iceberg schema: every column required, decimals as decimal(15,2).
    pub fn iceberg_schema(self) -> iceberg::Result<Schema> {
        let fields = self
            .columns()
            .iter()
            .enumerate()
            .map(|(i, (name, col))| {
                let ty = match col {
                    Col::Key => PrimitiveType::Long,
                    Col::Int => PrimitiveType::Int,
                    Col::Money => PrimitiveType::Decimal {
                        precision: 15,
                        scale: 2,
                    },
                    Col::Text => PrimitiveType::String,
                    Col::Date => PrimitiveType::Date,
                };
                Arc::new(NestedField::required(
                    i as i32 + 1,
                    *name,
                    Type::Primitive(ty),
                ))
            })
            .collect::<Vec<_>>();
        Schema::builder().with_fields(fields).build()
    }

    /// Generates the table's rows as Arrow batches of at most [`CHUNK_ROWS`] rows with
    /// `schema` (the Iceberg schema in Arrow form), calling `sink` for each batch.
    /// Returns when all rows are produced or `sink` returns an error.
    pub fn generate(
        self,
        scale_factor: f64,
        schema: SchemaRef,
        sink: &mut dyn FnMut(RecordBatch) -> DFResult<()>,
    ) -> DFResult<()> {
        let mut chunker = Chunker::new(schema)?;
        match self {
            TpchTable::Region => chunker.run(RegionGenerator::new(scale_factor, 1, 1).iter(), sink),
            TpchTable::Nation => chunker.run(NationGenerator::new(scale_factor, 1, 1).iter(), sink),
            TpchTable::Supplier => {
                chunker.run(SupplierGenerator::new(scale_factor, 1, 1).iter(), sink)
            }
            TpchTable::Customer => {
                chunker.run(CustomerGenerator::new(scale_factor, 1, 1).iter(), sink)
            }
            TpchTable::Part => chunker.run(PartGenerator::new(scale_factor, 1, 1).iter(), sink),
            TpchTable::PartSupp => {
                chunker.run(PartSuppGenerator::new(scale_factor, 1, 1).iter(), sink)
            }
            TpchTable::Orders => chunker.run(OrderGenerator::new(scale_factor, 1, 1).iter(), sink),
            TpchTable::LineItem => {
                chunker.run(LineItemGenerator::new(scale_factor, 1, 1).iter(), sink)
            }
        }
    }
}

/// Renders rows into `|`-separated text and parses each chunk into one batch.
struct Chunker {
    schema: SchemaRef,
    /// The text schema: the table's columns plus the empty column after the trailing `|`.
    text_schema: SchemaRef,
    buffer: String,
}

impl Chunker {
    fn new(schema: SchemaRef) -> DFResult<Self> {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("__trailing", DataType::Utf8, true));
        Ok(Self {
            schema,
            text_schema: Arc::new(ArrowSchema::new(fields)),
            buffer: String::with_capacity(CHUNK_ROWS * 160),
        })
    }

    fn run<R: Display>(
        &mut self,
        rows: impl Iterator<Item = R>,
        sink: &mut dyn FnMut(RecordBatch) -> DFResult<()>,
    ) -> DFResult<()> {
        let mut in_chunk = 0;
        for row in rows {
            // Writing to a String cannot fail.
            let _ = writeln!(self.buffer, "{row}");
            in_chunk += 1;
            if in_chunk == CHUNK_ROWS {
                sink(self.flush(in_chunk)?)?;
                in_chunk = 0;
            }
        }
        if in_chunk > 0 {
            sink(self.flush(in_chunk)?)?;
        }
        Ok(())
    }

    fn flush(&mut self, rows: usize) -> DFResult<RecordBatch> {
        let reader = arrow_csv::ReaderBuilder::new(self.text_schema.clone())
            .with_delimiter(b'|')
            .with_header(false)
            // TPC-H text never quotes; 0x01 never occurs in it.
            .with_quote(0x01)
            .with_batch_size(rows)
            .build(Cursor::new(self.buffer.as_bytes()))?;
        let mut batches = Vec::with_capacity(1);
        for batch in reader {
            batches.push(batch?);
        }
        self.buffer.clear();
        let batch = match batches.len() {
            1 => batches.remove(0),
            _ => arrow::compute::concat_batches(&self.text_schema, &batches)?,
        };
        let keep: Vec<usize> = (0..self.schema.fields().len()).collect();
        let projected = batch.project(&keep)?;
        RecordBatch::try_new(self.schema.clone(), projected.columns().to_vec())
            .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_typed_batches() {
        let schema = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(
                &TpchTable::Nation.iceberg_schema().expect("schema"),
            )
            .expect("arrow schema"),
        );
        let mut rows = 0;
        let mut first_name = None;
        TpchTable::Nation
            .generate(0.01, schema.clone(), &mut |batch| {
                assert_eq!(batch.schema(), schema);
                rows += batch.num_rows();
                if first_name.is_none() {
                    let names = batch
                        .column(1)
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>()
                        .expect("utf8");
                    first_name = Some(names.value(0).to_string());
                }
                Ok(())
            })
            .expect("generate");
        assert_eq!(rows, 25);
        assert_eq!(first_name.as_deref(), Some("ALGERIA"));
    }

    #[test]
    fn lineitem_money_columns_are_decimals() {
        let schema = Arc::new(
            iceberg::arrow::schema_to_arrow_schema(
                &TpchTable::LineItem.iceberg_schema().expect("schema"),
            )
            .expect("arrow schema"),
        );
        assert_eq!(
            schema
                .field_with_name("l_quantity")
                .expect("col")
                .data_type(),
            &DataType::Decimal128(15, 2)
        );
        let mut total = 0;
        TpchTable::LineItem
            .generate(0.001, schema, &mut |batch| {
                total += batch.num_rows();
                Ok(())
            })
            .expect("generate");
        assert!(total > 5_000, "{total}");
    }
}
