//! The analyzer rule that secures every table scan of a resolved plan: table grants,
//! row filters above the scan, column masks directly above the filter.
//!
//! It runs on the resolved logical plan, after views and CTEs are inlined and inside
//! subqueries, so SQL text never matters: aliases, quoting, search_path and nesting all
//! arrive here as the same `TableScan`.

use std::sync::{Arc, Mutex};

use datafusion::catalog::TableProvider;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::datasource::{DefaultTableSource, provider_as_source};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{
    DmlStatement, Expr, Extension, Filter, LogicalPlan, Projection, TableScan, WriteOp,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::analyzer::type_coercion::TypeCoercion;
use datafusion::prelude::SessionContext;

use super::PermissionDenied;
use super::barrier::PolicyBarrier;
use super::expressions::{parser, policy_error};
use super::filtered_source::RowFilteredTable;
use super::masks::mask_expr;
use crate::Principal;
use crate::policy::{ColumnAction, PolicyStore, StatisticsMode, TableAccess};

/// What the rule applied while planning one statement, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessReport {
    /// Tables scanned, `catalog.schema.table`.
    pub tables: Vec<String>,
    /// Columns scanned, `catalog.schema.table.column`.
    pub columns: Vec<String>,
    /// Row filters applied, by policy id.
    pub filters: Vec<String>,
    /// Masks applied, by policy id.
    pub masks: Vec<String>,
    /// The object a denial named, if any.
    pub denied: Option<String>,
}

/// Secures every `TableScan` for one principal.
pub struct SecureScans {
    pub(super) principal: Principal,
    pub(super) policy: Arc<PolicyStore>,
    pub(super) parser: Arc<SessionContext>,
    report: Arc<Mutex<AccessReport>>,
    /// Row filters that look other tables up, planned for the current statement, by
    /// rule id (see `lookup_filters.rs`).
    pub(super) lookups:
        Mutex<std::collections::HashMap<String, super::lookup_filters::PlannedLookup>>,
    /// Whether user predicates that cannot fail may prune a row-filtered table.
    statistics: StatisticsMode,
    /// Tables whose row filter stays a plan node above the scan, because a later rule
    /// must find their scan as it is (federated tables: see filtered_source.rs).
    keeps_plan_node: fn(&dyn TableProvider) -> bool,
}

impl std::fmt::Debug for SecureScans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureScans")
            .field("user", &self.principal.user)
            .finish()
    }
}

impl SecureScans {
    /// A rule for one principal; `report` collects what it applied.
    pub fn new(
        principal: Principal,
        policy: Arc<PolicyStore>,
        report: Arc<Mutex<AccessReport>>,
    ) -> Self {
        Self {
            principal,
            policy,
            parser: parser(),
            report,
            lookups: Mutex::new(Default::default()),
            statistics: StatisticsMode::default(),
            keeps_plan_node: |_| false,
        }
    }

    /// The rule with the statistics mode (whether user predicates that cannot fail
    /// prune row-filtered tables) and the tables whose row filter must stay a plan
    /// node above their scan.
    pub fn with_sources(
        mut self,
        statistics: StatisticsMode,
        keeps_plan_node: fn(&dyn TableProvider) -> bool,
    ) -> Self {
        self.statistics = statistics;
        self.keeps_plan_node = keeps_plan_node;
        self
    }

    /// A row filter over a table scan as the scan of a [`RowFilteredTable`], when the
    /// filter has no subquery left and the table is an ordinary one: the optimizer then
    /// plans one node where it would plan three (see filtered_source.rs).
    fn filtered_source(&self, plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(None);
        };
        let LogicalPlan::TableScan(scan) = filter.input.as_ref() else {
            return Ok(None);
        };
        if !scan.filters.is_empty() || scan.fetch.is_some() {
            return Ok(None);
        }
        let planned_later = filter.predicate.exists(|e| {
            Ok(matches!(
                e,
                Expr::InSubquery(_)
                    | Expr::Exists(_)
                    | Expr::ScalarSubquery(_)
                    | Expr::OuterReferenceColumn(..)
                    | Expr::Placeholder(_)
            ))
        })?;
        if planned_later {
            return Ok(None);
        }
        let Some(source) = scan.source.as_any().downcast_ref::<DefaultTableSource>() else {
            return Ok(None);
        };
        let provider = source.table_provider.clone();
        if provider.get_logical_plan().is_some() || (self.keeps_plan_node)(provider.as_ref()) {
            return Ok(None);
        }
        let qualified = Arc::new(DFSchema::try_from_qualified_schema(
            scan.table_name.clone(),
            &provider.schema(),
        )?);
        let filtered = RowFilteredTable::new(
            provider,
            unnormalize_col(filter.predicate.clone()),
            qualified,
            self.statistics == StatisticsMode::Performance,
        );
        let mut scan = scan.clone();
        scan.source = provider_as_source(Arc::new(filtered));
        Ok(Some(LogicalPlan::TableScan(scan)))
    }

    fn secure(&self, scan: TableScan, config: &ConfigOptions) -> Result<Transformed<LogicalPlan>> {
        let resolved = scan.table_name.clone().resolve(
            &config.catalog.default_catalog,
            &config.catalog.default_schema,
        );
        if matches!(
            resolved.schema.as_ref(),
            "information_schema" | "pg_catalog"
        ) {
            // Catalog views are built from the principal-filtered catalog.
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        }
        // `orders$snapshot=…` (time travel) and `orders$files` (metadata) are
        // governed as `orders`.
        let (base, metadata) = crate::policy::governed_table(&resolved.table);
        let table = format!("{}.{}.{base}", resolved.catalog, resolved.schema);
        let policy = self.policy.current();
        let user = &self.principal.user;
        let access = policy.table_access(&self.principal, &table);
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        if access == TableAccess::Denied {
            report.denied = Some(table.clone());
            return Err(DataFusionError::External(Box::new(PermissionDenied {
                message: format!("permission denied for table {table}"),
            })));
        }
        if metadata {
            // File statistics carry column bounds and row counts: whoever may see only
            // some rows or columns must not read them.
            if access != TableAccess::AllRows
                || policy.has_column_rules(&policy.subjects(&self.principal), &table)
            {
                report.denied = Some(resolved.table.to_string());
                return Err(DataFusionError::External(Box::new(PermissionDenied {
                    message: format!(
                        "permission denied for metadata table {}: row filters or column \
                         rules apply to {table} for {user}",
                        resolved.table
                    ),
                })));
            }
            report
                .tables
                .push(format!("{table}${}", &resolved.table[base.len() + 1..]));
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        }
        report.tables.push(table.clone());
        let schema = scan.projected_schema.clone();
        let qualifier = scan.table_name.clone();
        for field in schema.fields() {
            report.columns.push(format!("{table}.{}", field.name()));
        }

        let mut plan = LogicalPlan::TableScan(scan);
        let filtered = matches!(access, TableAccess::Filtered(_));
        if let TableAccess::Filtered(rules) = &access {
            let mut predicate: Option<Expr> = None;
            for rule in rules {
                let expr = self.rule_expr(rule, &table, &qualifier, &schema, &mut report, 0)?;
                predicate = Some(match predicate {
                    Some(p) => p.or(expr),
                    None => expr,
                });
                report.filters.push(rule.id.clone());
            }
            if let Some(predicate) = predicate {
                let filtered = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(plan))?);
                // Type-check here so a bad filter names its rule.
                let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
                plan = TypeCoercion::new().analyze(filtered, config).map_err(|e| {
                    policy_error(format!(
                        "row filter {} on {table} does not type-check: {e}",
                        ids.join(", ")
                    ))
                })?;
            }
        }

        let mut masked_columns = Vec::new();
        let subjects = policy.subjects(&self.principal);
        let mut exprs = Vec::with_capacity(schema.fields().len());
        for (qualifier, field) in schema.iter() {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            match policy.column_rule_for(&subjects, &table, field.name()) {
                None => exprs.push(column),
                Some(rule) => match &rule.action {
                    ColumnAction::Deny => {
                        // The catalog view hides denied columns; reaching one means the
                        // table came from elsewhere. Fail closed.
                        report.denied = Some(format!("{table}.{}", field.name()));
                        return Err(DataFusionError::External(Box::new(PermissionDenied {
                            message: format!(
                                "permission denied for column {} of table {table}",
                                field.name()
                            ),
                        })));
                    }
                    ColumnAction::Mask(kind) => {
                        let expr = mask_expr(
                            &self.parser,
                            kind,
                            field.name(),
                            field.data_type(),
                            &schema,
                            &bound_attributes(&self.principal),
                            &rule.id,
                        )?;
                        exprs.push(expr.alias_qualified(qualifier.cloned(), field.name()));
                        report.masks.push(rule.id.clone());
                        masked_columns.push(field.name().clone());
                    }
                },
            }
        }
        if !masked_columns.is_empty() {
            let projection = LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(plan))?);
            plan = TypeCoercion::new()
                .analyze(projection, config)
                .map_err(|e| policy_error(format!("mask on {table} does not type-check: {e}")))?;
        }
        if filtered
            && masked_columns.is_empty()
            && let Some(scan) = self.filtered_source(&plan)?
        {
            return Ok(Transformed::yes(scan));
        }
        if filtered {
            plan = LogicalPlan::Extension(Extension {
                node: Arc::new(PolicyBarrier::new(plan, masked_columns)),
            });
        }
        Ok(Transformed::yes(plan))
    }
}

impl SecureScans {
    /// A write needs `insert` on its target table.
    fn check_write(&self, dml: &DmlStatement, config: &ConfigOptions) -> Result<()> {
        let resolved = dml.table_name.clone().resolve(
            &config.catalog.default_catalog,
            &config.catalog.default_schema,
        );
        let table = format!(
            "{}.{}.{}",
            resolved.catalog, resolved.schema, resolved.table
        );
        let action = match dml.op {
            WriteOp::Insert(_) => "insert",
            // Other writes are refused by the planner before they get here.
            _ => "admin",
        };
        if self
            .policy
            .current()
            .allows(&self.principal, &table, action)
        {
            return Ok(());
        }
        self.report.lock().unwrap_or_else(|e| e.into_inner()).denied = Some(table.clone());
        Err(DataFusionError::External(Box::new(PermissionDenied {
            message: format!("permission denied for table {table} ({action})"),
        })))
    }
}

impl AnalyzerRule for SecureScans {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = AccessReport::default();
        let result = plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan) => self.secure(scan, config),
            LogicalPlan::Dml(dml) => {
                self.check_write(&dml, config)?;
                Ok(Transformed::no(LogicalPlan::Dml(dml)))
            }
            other => Ok(Transformed::no(other)),
        })?;
        Ok(result.data)
    }

    fn name(&self) -> &str {
        "secure_scans"
    }
}

/// The attributes policy expressions may bind: the user's configured ones, and `name`,
/// the login name (unless configured otherwise), so that `user_name = ${user.name}`
/// limits a table to the user's own rows.
pub(super) fn bound_attributes(
    principal: &crate::Principal,
) -> std::collections::BTreeMap<String, String> {
    let mut attributes = principal.attributes.clone();
    attributes
        .entry("name".into())
        .or_insert_with(|| principal.user.clone());
    attributes
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;
    use crate::test_session::secured_context;

    const POLICY: &str = "g, ann, role:a\n\
        p, role:a, lake.s.*, select, allow\n\
        p2, role:a, lake.s.t, \"region = ${user.region}\"\n\
        p3, role:a, lake.s.t.phone, mask, show-last-4\n\
        p3, role:a, lake.s.t.secret, deny\n";

    async fn context(user: &str) -> SessionContext {
        let principal = Principal {
            user: user.into(),
            roles: vec![],
            attributes: BTreeMap::from([("region".into(), "EU".into())]),
            identity_roles: vec![],
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("phone", DataType::Utf8, true),
            Field::new("secret", DataType::Int64, true),
        ]));
        let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
        secured_context(POLICY, principal, "t", table, StatisticsMode::Protected).await
    }

    /// A session over a one-row table `lake.s.people` whose columns each carry one mask.
    async fn masked_people() -> SessionContext {
        use datafusion::arrow::array::{Date32Array, Int64Array, RecordBatch, StringArray};
        let policy = "g, ann, role:a\n\
            p, role:a, lake.s.*, select, allow\n\
            p3, role:a, lake.s.people.redacted, mask, redact\n\
            p3, role:a, lake.s.people.nulled, mask, null\n\
            p3, role:a, lake.s.people.hashed, mask, hash\n\
            p3, role:a, lake.s.people.last4, mask, show-last-4\n\
            p3, role:a, lake.s.people.first4, mask, show-first-4\n\
            p3, role:a, lake.s.people.email, mask, email\n\
            p3, role:a, lake.s.people.born, mask, date-to-year\n\
            p3, role:a, lake.s.people.amount, mask, redact\n\
            p3, role:a, lake.s.people.custom, mask, \"sql:upper(custom)\"\n";
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let schema = Arc::new(Schema::new(vec![
            text("redacted"),
            text("nulled"),
            text("hashed"),
            text("last4"),
            text("first4"),
            text("email"),
            Field::new("born", DataType::Date32, true),
            Field::new("amount", DataType::Int64, true),
            text("custom"),
            text("plain"),
        ]));
        let one = |v: &str| Arc::new(StringArray::from(vec![Some(v)])) as _;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                one("secret"),
                one("secret"),
                one("abc"),
                one("4111-1111-1111-1234"),
                one("4111-1111-1111-1234"),
                one("jane.doe@example.com"),
                // 1990-06-15
                Arc::new(Date32Array::from(vec![Some(7470)])),
                Arc::new(Int64Array::from(vec![Some(1234)])),
                one("quiet"),
                one("visible"),
            ],
        )
        .expect("batch");
        let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
        secured_context(
            policy,
            Principal::new("ann"),
            "people",
            table,
            StatisticsMode::Protected,
        )
        .await
    }

    #[tokio::test]
    async fn every_built_in_mask_keeps_name_and_type() {
        use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
        let ctx = masked_people().await;
        let frame = ctx.sql("SELECT * FROM people").await.expect("plan");
        let batches = frame.collect().await.expect("run");
        let batch = &batches[0];
        let value = |name: &str| {
            let column = batch.column_by_name(name).expect(name);
            ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                .expect("format")
                .value(0)
                .to_string()
        };
        assert_eq!(value("redacted"), "****");
        assert_eq!(value("nulled"), "");
        assert!(batch.column_by_name("nulled").expect("nulled").is_null(0));
        // SHA-256("abc")
        assert_eq!(
            value("hashed"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(value("last4"), "XXXXXXXXXXXXXXX1234");
        assert_eq!(value("first4"), "4111XXXXXXXXXXXXXXX");
        assert_eq!(value("email"), "j****@example.com");
        assert_eq!(value("born"), "1990-01-01");
        assert_eq!(value("amount"), "0");
        assert_eq!(value("custom"), "QUIET");
        assert_eq!(value("plain"), "visible");
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("born").expect("born").data_type(),
            &DataType::Date32
        );
        assert_eq!(
            schema
                .field_with_name("amount")
                .expect("amount")
                .data_type(),
            &DataType::Int64
        );
    }

    async fn analyzed(ctx: &SessionContext, sql: &str) -> Result<String> {
        let plan = ctx.state().create_logical_plan(sql).await?;
        let analyzed = ctx.state().analyzer().execute_and_check(
            plan,
            ctx.state().config_options(),
            |_, _| {},
        )?;
        Ok(analyzed.display_indent().to_string())
    }

    #[tokio::test]
    async fn filter_mask_and_barrier_wrap_the_scan() {
        let ctx = context("ann").await;
        let plan = analyzed(&ctx, "SELECT * FROM t WHERE phone LIKE '1%'")
            .await
            .expect("plan");
        let expected = "Projection: t.id, t.region, t.phone\
            \n  Filter: t.phone LIKE Utf8(\"1%\")\
            \n    PolicyBarrier\
            \n      Projection: t.id, t.region, CAST(CASE WHEN t.phone IS NULL THEN CAST(NULL AS Utf8) ELSE concat(repeat(Utf8(\"X\"), greatest(CAST(character_length(t.phone) AS Int64) - Int64(4), Int64(0))), right(t.phone, Int64(4))) END AS Utf8) AS phone\
            \n        Filter: t.region = Utf8(\"EU\")\
            \n          TableScan: t";
        assert_eq!(plan, expected);
    }

    #[tokio::test]
    async fn subqueries_and_unions_are_secured_too() {
        let ctx = context("ann").await;
        let plan = analyzed(
            &ctx,
            "SELECT id FROM t WHERE id IN (SELECT id FROM lake.s.t) UNION ALL SELECT id FROM s.t",
        )
        .await
        .expect("plan");
        assert_eq!(plan.matches("region = Utf8(\"EU\")").count(), 3, "{plan}");
        assert_eq!(plan.matches("PolicyBarrier").count(), 3, "{plan}");
    }

    #[tokio::test]
    async fn denied_columns_are_absent_and_other_users_are_refused() {
        let ctx = context("ann").await;
        let plan = analyzed(&ctx, "SELECT * FROM t").await.expect("plan");
        assert!(!plan.contains("secret"), "{plan}");
        let stranger = context("bob").await;
        let err = analyzed(&stranger, "SELECT id FROM t")
            .await
            .expect_err("denied");
        assert!(
            err.to_string()
                .contains("permission denied for table lake.s.t"),
            "{err}"
        );
    }
}
