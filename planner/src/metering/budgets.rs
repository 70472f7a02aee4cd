//! Daily and monthly cost budgets per user and per role, from `[[finops.budgets]]`.
//!
//! The ledger sums the cost of finished queries per subject (the user, and each role
//! the user held) and per UTC day and month. It is rebuilt from the query history at
//! start-up, so consumption survives a restart. A hard budget refuses a query when the
//! budget is spent or when the query's estimate would overspend it; a soft budget lets
//! it run and warns with a NOTICE once it is over.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::SharedStore;

/// The period a budget covers, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    /// From midnight UTC.
    Day,
    /// From the first of the month, UTC.
    Month,
}

/// What happens when the budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetMode {
    /// Queries run; the client is warned with a NOTICE.
    Soft,
    /// Queries are refused (53400) before they run.
    Hard,
}

/// One budget line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// A user name, or `role:NAME` for the role's users together.
    pub subject: String,
    /// `day` or `month`.
    pub period: BudgetPeriod,
    /// In the price list's unit.
    pub limit: f64,
    /// `soft` or `hard`.
    pub mode: BudgetMode,
}

/// The start of the period containing `at`, as a key.
fn period_key(period: BudgetPeriod, at: DateTime<Utc>) -> String {
    match period {
        BudgetPeriod::Day => at.format("%Y-%m-%d").to_string(),
        BudgetPeriod::Month => format!("{:04}-{:02}", at.year(), at.month()),
    }
}

/// Spending per subject and period.
#[derive(Debug, Default)]
pub struct BudgetLedger {
    budgets: Vec<Budget>,
    spent: Mutex<HashMap<(String, String), f64>>,
    /// The spending of every replica, when replicas share a store.
    shared: std::sync::OnceLock<SharedStore>,
}

/// A budget that refuses a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    pub budget: Budget,
    pub spent: f64,
}

impl BudgetLedger {
    /// A ledger for these budgets, with nothing spent.
    pub fn new(budgets: Vec<Budget>) -> Self {
        Self {
            budgets,
            spent: Mutex::new(HashMap::new()),
            shared: std::sync::OnceLock::new(),
        }
    }

    /// Shares spending with the other replicas through `store`.
    pub fn share(&self, store: SharedStore) {
        let _ = self.shared.set(store);
    }

    /// Brings the totals of the budgets that apply to this user up to what every
    /// replica has spent (a no-op without a shared store); a store that cannot be read
    /// leaves this replica's own figures, with a warning.
    pub(crate) async fn refresh(&self, user: &str, roles: &[String], at: DateTime<Utc>) {
        let Some(shared) = self.shared.get() else {
            return;
        };
        let keys: Vec<(String, String)> = self
            .applying(user, roles)
            .map(|b| (b.subject.clone(), period_key(b.period, at)))
            .collect();
        if keys.is_empty() {
            return;
        }
        match shared.spent(&keys).await {
            Ok(totals) => {
                let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
                for (key, total) in keys.into_iter().zip(totals) {
                    let local = spent.entry(key).or_insert(0.0);
                    // This replica's latest costs may not be written yet.
                    *local = local.max(total);
                }
            }
            Err(e) => tracing::warn!(error = %e, "the shared budget store cannot be read"),
        }
    }

    /// Whether any budget is configured.
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }

    fn applying<'a>(
        &'a self,
        user: &'a str,
        roles: &'a [String],
    ) -> impl Iterator<Item = &'a Budget> + 'a {
        self.budgets
            .iter()
            .filter(move |b| b.subject == user || roles.contains(&b.subject))
    }

    /// Whether a hard budget applies to this user.
    pub(crate) fn has_hard(&self, user: &str, roles: &[String]) -> bool {
        self.applying(user, roles)
            .any(|b| b.mode == BudgetMode::Hard)
    }

    /// What the subject has spent in the period containing `at`.
    pub fn spent(&self, subject: &str, period: BudgetPeriod, at: DateTime<Utc>) -> f64 {
        let spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        spent
            .get(&(subject.to_string(), period_key(period, at)))
            .copied()
            .unwrap_or(0.0)
    }

    /// The first hard budget that is spent, or that `estimate` more would overspend.
    pub(crate) fn refusal(
        &self,
        user: &str,
        roles: &[String],
        estimate: f64,
        at: DateTime<Utc>,
    ) -> Option<Refusal> {
        self.applying(user, roles)
            .filter(|b| b.mode == BudgetMode::Hard)
            .find_map(|b| {
                let spent = self.spent(&b.subject, b.period, at);
                (spent >= b.limit || spent + estimate > b.limit).then(|| Refusal {
                    budget: b.clone(),
                    spent,
                })
            })
    }

    /// Soft budgets this user is over, with what was spent.
    pub(crate) fn soft_overruns(
        &self,
        user: &str,
        roles: &[String],
        at: DateTime<Utc>,
    ) -> Vec<(Budget, f64)> {
        self.applying(user, roles)
            .filter(|b| b.mode == BudgetMode::Soft)
            .filter_map(|b| {
                let spent = self.spent(&b.subject, b.period, at);
                (spent > b.limit).then(|| (b.clone(), spent))
            })
            .collect()
    }

    /// Adds a cost read back from the query history at start (already counted in the
    /// shared store, if there is one, when it was spent).
    pub fn add_recovered(&self, user: &str, roles: &[String], cost: f64, at: DateTime<Utc>) {
        if cost <= 0.0 {
            return;
        }
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        for subject in std::iter::once(user).chain(roles.iter().map(String::as_str)) {
            for period in [BudgetPeriod::Day, BudgetPeriod::Month] {
                *spent
                    .entry((subject.to_string(), period_key(period, at)))
                    .or_insert(0.0) += cost;
            }
        }
    }

    /// Adds a finished query's cost to its user and each of its roles (and to the
    /// shared store).
    pub fn add(&self, user: &str, roles: &[String], cost: f64, at: DateTime<Utc>) {
        if cost <= 0.0 {
            return;
        }
        let mut keys = Vec::new();
        {
            let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
            for subject in std::iter::once(user).chain(roles.iter().map(String::as_str)) {
                for period in [BudgetPeriod::Day, BudgetPeriod::Month] {
                    let key = (subject.to_string(), period_key(period, at));
                    *spent.entry(key.clone()).or_insert(0.0) += cost;
                    // Only subjects some budget names are shared.
                    if self.budgets.iter().any(|b| b.subject == subject) {
                        keys.push(key);
                    }
                }
            }
        }
        if let (Some(shared), false) = (self.shared.get(), keys.is_empty()) {
            let shared = shared.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if let Err(e) = shared.add(&keys, cost).await {
                            tracing::warn!(error = %e, "a cost could not be added to the shared budget store");
                        }
                    });
                }
                Err(_) => tracing::warn!("no runtime to write the shared budget store"),
            }
        }
    }
}

/// The message of a refusal.
pub(crate) fn refusal_message(refusal: &Refusal, estimate: f64, unit: &str) -> String {
    let b = &refusal.budget;
    let period = match b.period {
        BudgetPeriod::Day => "daily",
        BudgetPeriod::Month => "monthly",
    };
    format!(
        "{period} budget of {} {unit} for {} is spent: {:.8} {unit} used, and this query \
         is estimated at {estimate:.8} {unit}",
        b.limit, b.subject, refusal.spent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(subject: &str, period: BudgetPeriod, limit: f64, mode: BudgetMode) -> Budget {
        Budget {
            subject: subject.into(),
            period,
            limit,
            mode,
        }
    }

    #[test]
    fn hard_budgets_refuse_and_soft_ones_warn() {
        let ledger = BudgetLedger::new(vec![
            budget("role:analyst", BudgetPeriod::Day, 10.0, BudgetMode::Hard),
            budget("ann", BudgetPeriod::Month, 1.0, BudgetMode::Soft),
        ]);
        let roles = vec!["role:analyst".to_string()];
        let now = Utc::now();
        assert!(ledger.refusal("ann", &roles, 5.0, now).is_none());
        ledger.add("ann", &roles, 6.0, now);
        // Another analyst shares the role's budget.
        let refusal = ledger.refusal("bob", &roles, 5.0, now).expect("overspends");
        assert_eq!(refusal.spent, 6.0);
        assert!(ledger.refusal("bob", &roles, 3.0, now).is_none());
        assert_eq!(ledger.soft_overruns("ann", &roles, now).len(), 1);
        assert!(ledger.soft_overruns("bob", &roles, now).is_empty());
        // Yesterday's spending is not today's.
        let tomorrow = now + chrono::Duration::days(1);
        assert!(ledger.refusal("bob", &roles, 5.0, tomorrow).is_none());
    }
}
