//! PostgreSQL's meaning for PostgreSQL's function names, where DataFusion's namesake
//! answers differently or is missing: `to_char` and `to_date` with PostgreSQL patterns,
//! `pg_typeof`, `sign`, `variance`, `repeat`/`lpad`/`rpad` within PostgreSQL's length limit, `percentile_disc`, integer series, integer literals
//! typed `integer`, PostgreSQL's date and integer arithmetic, and the statement
//! rewrites that give set-returning functions and timestamp literals their PostgreSQL
//! meaning.

mod arithmetic;
mod avg;
mod dates;
mod datetime_format;
mod interval;
mod length_guard;
mod literals;
mod number_format;
mod numeric_div;
mod oid_text;
mod percentile_disc;
mod pg_typeof;
mod results;
mod series;
mod sign;
mod syntax;
mod timestamp_text;
mod to_char;
mod to_date;
mod trunc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use arithmetic::PostgresArithmetic;
pub use dates::PostgresDates;
pub use literals::IntegerLiterals;
pub use syntax::rewrite_function_syntax;

/// Functions the PostgreSQL rules write into plans rather than register (checked
/// integer arithmetic, numeric division), in forms a distributed worker resolves by
/// name: each gives what the planned instance of its name gives.
pub fn planned_functions() -> Vec<ScalarUDF> {
    let mut functions = arithmetic::checked_functions();
    functions.push(ScalarUDF::new_from_impl(
        numeric_div::NumericDiv::for_any_operands(),
    ));
    functions
}

/// Registers the functions, replacing DataFusion's namesakes.
pub fn register(ctx: &SessionContext) {
    for guarded in length_guard::guarded() {
        ctx.register_udf(guarded.as_ref().clone());
    }
    ctx.register_udf(ScalarUDF::new_from_impl(to_char::ToChar::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(to_date::ToDate::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(pg_typeof::PgTypeof::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(sign::Sign::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(trunc::Trunc::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(interval::Age::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(interval::IntervalScale::new(
        false,
    )));
    ctx.register_udf(ScalarUDF::new_from_impl(interval::IntervalScale::new(true)));
    // `variance` is PostgreSQL's historical name of the sample variance.
    let variance = datafusion::functions_aggregate::variance::var_samp_udaf();
    ctx.register_udaf(AggregateUDF::clone(&variance).with_aliases(["variance"]));
    ctx.register_udaf(AggregateUDF::new_from_impl(
        percentile_disc::PercentileDisc::new(),
    ));
    ctx.register_udaf(AggregateUDF::new_from_impl(avg::PostgresAvg::new()));
    // Series of integers are `integer`, in a select list and in FROM.
    ctx.register_udf(ScalarUDF::new_from_impl(series::IntegerSeries::new()));
    ctx.register_udtf(
        "generate_series",
        std::sync::Arc::new(series::IntegerSeriesTable::new(std::sync::Arc::new(
            datafusion::functions_table::generate_series::GenerateSeriesFunc {},
        ))),
    );
}
