//! `regtype` and `regproc` values as text: `pg_typeof(1)::text` is `integer`, as in
//! PostgreSQL, not the OID's digits. The arithmetic rule puts this function under a
//! cast to text of a column whose field says it is `regtype` or `regproc`.

use std::any::Any;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, FieldRef, UInt32Type};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::catalog::{regproc_name, regtype_name};

/// Which names an OID column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OidKind {
    /// Type OIDs, named as `regtype` prints them.
    Regtype,
    /// Function OIDs, named as `regproc` prints them.
    Regproc,
}

impl OidKind {
    /// The kind a field's PostgreSQL type metadata names, if any.
    pub fn of(metadata_value: &str) -> Option<Self> {
        match metadata_value {
            "regtype" => Some(Self::Regtype),
            "regproc" => Some(Self::Regproc),
            _ => None,
        }
    }
}

/// The name of each OID of a `regtype` or `regproc` column.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OidText {
    kind: OidKind,
    signature: Signature,
}

impl OidText {
    pub fn new(kind: OidKind) -> Self {
        Self {
            kind,
            signature: Signature::exact(vec![DataType::UInt32], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for OidText {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        match self.kind {
            OidKind::Regtype => "regtype_text",
            OidKind::Regproc => "regproc_text",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(super::results::nullable_as_arguments(
            self.name(),
            DataType::Utf8,
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows)?;
        let Some(oids) = array.as_primitive_opt::<UInt32Type>() else {
            return exec_err!("{} takes an oid, got {}", self.name(), array.data_type());
        };
        let mut out = StringBuilder::with_capacity(oids.len(), oids.len() * 8);
        for oid in oids.iter() {
            match (oid, self.kind) {
                (None, _) => out.append_null(),
                (Some(oid), OidKind::Regtype) => out.append_value(regtype_name(oid)),
                // An OID without a function prints as its number, as in PostgreSQL.
                (Some(oid), OidKind::Regproc) => {
                    out.append_value(regproc_name(oid).unwrap_or_else(|| oid.to_string()))
                }
            }
        }
        super::results::columnar(std::sync::Arc::new(out.finish()), scalar)
    }
}
