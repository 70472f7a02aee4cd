//! The gateway's optimizer rules: semi-join reduction, join ordering, limit pushdown,
//! and fixes of DataFusion answers found by the differential test.

pub(crate) mod grand_total;
pub(crate) mod group_by_constant;
pub(crate) mod join_estimates;
pub(crate) mod join_order;
pub(crate) mod leave_aggregates;
pub(crate) mod limit_pushdown;
pub(crate) mod plan_nodes;
pub(crate) mod semi_join_reduction;
#[cfg(test)]
pub(crate) mod sized_table;
