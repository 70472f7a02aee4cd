//! `pg_typeof(x)`: the PostgreSQL type of an expression, as `regtype`, from the same
//! type map that names result columns on the wire.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::catalog::PG_TYPE_METADATA;
use crate::catalog::type_map::field_type_oid;

/// PostgreSQL's `pg_typeof`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgTypeof {
    signature: Signature,
    aliases: Vec<String>,
}

impl PgTypeof {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
            aliases: vec!["pg_catalog.pg_typeof".into()],
        }
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn return_field_from_args(&self, _: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(
            Field::new(self.name(), DataType::UInt32, false).with_metadata(HashMap::from([(
                PG_TYPE_METADATA.to_string(),
                "regtype".to_string(),
            )])),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(field) = args.arg_fields.first() else {
            return exec_err!("pg_typeof takes one argument");
        };
        // An untyped NULL is PostgreSQL's `unknown` (705); everything else maps as the
        // wire does.
        let oid = match field.data_type() {
            DataType::Null => 705,
            _ => field_type_oid(field),
        };
        Ok(ColumnarValue::Scalar(ScalarValue::UInt32(Some(oid))))
    }
}
