//! The OIDs and OID-typed columns of the emulated catalog: PostgreSQL's fixed OIDs, and
//! stable OIDs for the lake's objects.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, Field};

/// The schema name.
pub const PG_CATALOG: &str = "pg_catalog";
/// Field metadata naming the PostgreSQL type a column is sent as, where Arrow has no
/// type of its own (`oid`).
pub const PG_TYPE_METADATA: &str = "lakegate.pg_type";

/// pg_catalog's own OID, as in PostgreSQL.
pub const PG_CATALOG_OID: u32 = 11;
/// pg_class's own OID: the `classoid` of descriptions of relations and their columns.
pub const PG_CLASS_OID: u32 = 1259;
/// information_schema's OID (PostgreSQL assigns one at initdb; this is stable here).
pub const INFORMATION_SCHEMA_OID: u32 = 13_000;
/// First OID of user objects in PostgreSQL.
const FIRST_USER_OID: u32 = 16_384;

/// The owner of every catalog object: the bootstrap superuser.
pub const BOOTSTRAP_SUPERUSER: u32 = 10;

/// An `oid` column: UInt32 values sent as PostgreSQL's `oid`.
pub fn oid_field(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false).with_metadata(HashMap::from([(
        PG_TYPE_METADATA.to_string(),
        "oid".to_string(),
    )]))
}

/// A `regproc` column: UInt32 function OIDs, sent as PostgreSQL's `regproc`, whose text
/// form is the function's name.
pub fn regproc_field(name: &str) -> Field {
    Field::new(name, DataType::UInt32, false).with_metadata(HashMap::from([(
        PG_TYPE_METADATA.to_string(),
        "regproc".to_string(),
    )]))
}

/// The OID of a function of pg_proc (`-`, no function, is 0).
pub fn regproc_oid(name: &str) -> u32 {
    if name == "-" {
        0
    } else {
        stable_oid(&format!("proc:{name}"))
    }
}

/// A stable OID for a user object, from its qualified name: the same name has the same
/// OID in every session and after restarts. FNV-1a, folded into the user OID range.
pub fn stable_oid(qualified_name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in qualified_name.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    FIRST_USER_OID + hash % (i32::MAX as u32 - FIRST_USER_OID)
}

/// The OID of a relation of a lake catalog.
pub fn relation_oid(catalog: &str, schema: &str, table: &str) -> u32 {
    stable_oid(&format!("{catalog}.{schema}.{table}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_oids_are_user_oids_and_repeat() {
        let a = stable_oid("lake.tpch");
        assert!(a >= FIRST_USER_OID);
        assert_eq!(a, stable_oid("lake.tpch"));
        assert_ne!(a, stable_oid("lake.other"));
    }
}
