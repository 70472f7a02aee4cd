//! Stage 1, admit: the statement's limits (parameters, timeout, scan and budget
//! limits), its meter, its entry in the registry of running queries, and its slot at
//! every concurrency gate that applies.

use std::sync::Arc;
use std::time::Duration;

use datafusion::scalar::ScalarValue;

use crate::metering::{QueryMeter, Slots};
use crate::pipeline::engine::Engine;
use crate::pipeline::plan::{Planned, Rows};
use crate::pipeline::query_run::QueryRun;
use crate::query_registry::{QueryIdentity, QueryState, Registration, RunningQuery};
use crate::session::Session;
use crate::statements::prepared::Prepared;
use crate::{ErrorKind, QueryError, Result};

/// A statement admitted to run: listed (and killable) until its result is dropped.
pub(crate) struct Admitted {
    /// The registry's entry; dropping it unlists the query.
    pub(crate) registration: Registration,
    /// Bytes one query may scan, with the user or role the limit is for.
    pub(crate) scan_limit: Option<(u64, String)>,
    /// Whether a hard budget applies (the query is then estimated before it runs).
    pub(crate) hard_budget: bool,
}

impl Admitted {
    /// The query's entry in `system.runtime.queries`.
    pub(crate) fn entry(&self) -> &Arc<RunningQuery> {
        &self.registration.query
    }
}

/// Checks the parameters, sets the run's deadline and meter, and lists the query.
pub(crate) fn register(
    engine: &Engine,
    session: &Session,
    run: &mut QueryRun,
    prepared: &Prepared,
    params: &[ScalarValue],
) -> Result<Admitted> {
    let expected_params = prepared.param_types.len();
    if params.len() != expected_params {
        return Err(QueryError::new(
            ErrorKind::ProtocolViolation,
            format!(
                "statement requires {expected_params} parameters, {} given",
                params.len()
            ),
        ));
    }
    let user = &session.principal.user;
    let roles = &session.principal.roles;
    // The session's statement_timeout, or the limit's if that is shorter.
    let limit = crate::metering::statement_timeout_ms(&engine.config.limits, user, roles)
        .map(Duration::from_millis);
    let timeout = match (statement_timeout(session)?, limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    run.deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
    run.meter = match engine.config.metering {
        true => Some(Arc::new(QueryMeter::new(
            &engine.runtime,
            &engine.registry.object_stores(),
            engine.config.memory.per_query_memory_limit,
        )?)),
        false => None,
    };
    // The catalog's tables find the storage counters in the session config when the
    // plan's scans are built. With metering off none is ever set.
    if let Some(meter) = &run.meter {
        session
            .ctx
            .state_ref()
            .write()
            .config_mut()
            .set_extension(meter.scan());
    }
    Ok(Admitted {
        registration: listed(engine, session, run, &prepared.sql),
        scan_limit: crate::metering::max_scan_bytes(&engine.config.limits, user, roles)
            .map(|(bytes, subject)| (bytes, subject.to_string())),
        hard_budget: engine.recorder.budgets.has_hard(user, roles),
    })
}

/// Waits for a slot at every concurrency gate that applies, in its queue (the caller
/// bounds the wait by the deadline and the cancel token).
pub(crate) async fn wait_for_slots(
    engine: &Engine,
    session: &Session,
    run: &QueryRun,
    admitted: &Admitted,
) -> Result<Slots> {
    let (held, queued) = engine
        .admission
        .admit(&session.principal.user, &session.principal.roles)
        .await?;
    if let Some(meter) = &run.meter {
        meter.add_queued(queued);
    }
    admitted.entry().add_queued(queued);
    admitted.entry().set_state(QueryState::Planning);
    Ok(held)
}

/// Waits for the memory grant of a planned query whose plan reserves memory, in the
/// gateway's memory queue (the caller bounds the wait by the deadline and the cancel
/// token); the grant is held with the query's slots until it ends.
pub(crate) async fn wait_for_memory(
    engine: &Engine,
    run: &QueryRun,
    planned: &Planned,
    admitted: &Admitted,
    slots: &mut Slots,
) -> Result<()> {
    let (Rows::Run { physical, .. }, Some(share)) =
        (&planned.rows, engine.admission.memory_share())
    else {
        return Ok(());
    };
    let entry = admitted.entry();
    let (need, read) = crate::metering::memory_need(physical, share, entry.estimated_bytes()).await;
    if let Some(read) = read {
        entry.set_estimate(read);
    }
    if need == 0 {
        return Ok(());
    }
    let held = run
        .meter
        .as_ref()
        .map(|meter| meter.memory_held())
        .unwrap_or_default();
    admitted.entry().queue_again();
    let (grant, waited) = engine.admission.grant_memory(need, &held).await?;
    if let Some(meter) = &run.meter {
        meter.add_queued(waited);
    }
    admitted.entry().add_queued(waited);
    admitted.entry().set_state(QueryState::Planning);
    slots.hold(grant);
    Ok(())
}

/// Lists the run in the registry of running queries.
fn listed(engine: &Engine, session: &Session, run: &QueryRun, sql: &str) -> Registration {
    let who = QueryIdentity {
        id: run.id.clone(),
        session_id: session.id,
        user: session.principal.user.clone(),
        roles: session.principal.roles.clone(),
        protocol: session.client.protocol.to_string(),
        client: session.client.address.clone(),
        sql: engine.recorder.logged_sql(sql),
    };
    engine
        .queries
        .register(who, run.meter.clone(), run.cancel.clone())
}

/// The session's `statement_timeout`, if one is set.
pub(crate) fn statement_timeout(session: &Session) -> Result<Option<Duration>> {
    let ms: u64 = session
        .settings
        .get("statement_timeout")?
        .parse()
        .unwrap_or(0);
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}
