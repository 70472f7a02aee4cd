//! One statement's run, stage by stage: admit → plan → estimate → execute → finish.

pub(crate) mod cancel_points;
pub(crate) mod completion;
pub(crate) mod deadline;
pub(crate) mod estimate;
pub(crate) mod executor;
pub(crate) mod finish;
pub(crate) mod result_schema;
