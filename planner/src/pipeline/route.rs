//! Stage 3b, route: whether a planned query runs on this gateway or on the distributed
//! workers. With workers configured, `gateway.distributed = auto` (the default) sends a
//! query whose estimate reaches `[distributed] threshold_bytes`, `on` sends every query
//! whose plan can be shipped, and `off` keeps every query here. The plan that travels
//! is the secured one (policy barriers, masks, counted scans pinned to their
//! snapshots); a plan that cannot travel whole runs here, never without its policy.

use crate::Result;
use crate::pipeline::admit::Admitted;
use crate::pipeline::engine::Engine;
use crate::pipeline::plan::{Planned, Rows};
use crate::session::Session;

/// The session's choice: `on`, `off` or `auto`.
fn mode(session: &Session) -> String {
    session
        .settings
        .get("gateway.distributed")
        .unwrap_or_else(|_| "auto".into())
}

/// Replaces the planned query's plan by its stages on the workers when it goes there.
pub(crate) async fn route(
    engine: &Engine,
    session: &Session,
    planned: &mut Planned,
    admitted: &Admitted,
) -> Result<()> {
    let Some(distribution) = &engine.distributed else {
        return Ok(());
    };
    if planned.is_explain {
        return Ok(());
    }
    let Rows::Run { physical, .. } = &mut planned.rows else {
        return Ok(());
    };
    match mode(session).as_str() {
        "off" => return Ok(()),
        "on" => {}
        _ => {
            let bytes = match admitted.entry().estimated_bytes() {
                Some(bytes) => bytes,
                None => {
                    let estimate = lakegate_catalog::estimate::estimate_plan(physical).await?;
                    admitted.entry().set_estimate(estimate.bytes());
                    estimate.bytes()
                }
            };
            if bytes < distribution.threshold_bytes {
                return Ok(());
            }
        }
    }
    if distribution.workers.urls().is_empty() {
        tracing::debug!("no distributed worker is live; the query runs on the gateway");
        return Ok(());
    }
    let config = session.ctx.state_ref().read().config_options().clone();
    let plan = physical.clone();
    let staged = engine
        .executor
        .run(move || crate::distributed::distribute(&plan, &config))
        .await??;
    engine.recorder.metrics.distributed(staged.is_some());
    if let Some(staged) = staged {
        tracing::debug!(query_id = %admitted.entry().who.id, "the query runs on the distributed workers");
        *physical = staged;
    }
    Ok(())
}
