//! Real client programs (Python, Java, ODBC) against a test gateway.

pub(crate) mod drivers;
