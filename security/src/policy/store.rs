//! The current policy, reloaded when its files change (last good one kept on error).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use super::{DEFAULT_MODEL, DEMO_POLICY, Policy, PolicyLoadError};

/// Where the policy comes from.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// Casbin model file; the shipped model when unset.
    pub model: Option<PathBuf>,
    /// Policy file; the demo policy when unset.
    pub policy: Option<PathBuf>,
}

impl PolicySource {
    async fn read(&self) -> Result<Policy, PolicyLoadError> {
        let model = match &self.model {
            Some(path) => {
                std::fs::read_to_string(path).map_err(|source| PolicyLoadError::Read {
                    what: "model",
                    path: path.clone(),
                    source,
                })?
            }
            None => DEFAULT_MODEL.to_string(),
        };
        let (name, policy) = match &self.policy {
            Some(path) => (
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| PolicyLoadError::Read {
                    what: "policy",
                    path: path.clone(),
                    source,
                })?,
            ),
            None => ("policy.csv (demo)".to_string(), DEMO_POLICY.to_string()),
        };
        Policy::from_text(&model, &name, &policy).await
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        [&self.model, &self.policy]
            .iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .and_then(|m| m.modified().ok())
            })
            .collect()
    }
}

/// Checks a freshly read policy against the deployment (e.g. that named tables exist).
pub type PolicyValidator = Arc<dyn Fn(&Policy) -> Result<(), String> + Send + Sync>;

/// Holds the current policy; readers take a cheap snapshot per statement.
pub struct PolicyStore {
    source: PolicySource,
    validator: Option<PolicyValidator>,
    current: RwLock<Arc<Policy>>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("source", &self.source)
            .finish()
    }
}

impl PolicyStore {
    /// Loads the policy; a bad policy at start-up is an error.
    pub async fn load(source: PolicySource) -> Result<Self, PolicyLoadError> {
        Self::load_validated(source, None).await
    }

    /// Loads the policy and checks it with `validator`, now and on every reload.
    pub async fn load_validated(
        source: PolicySource,
        validator: Option<PolicyValidator>,
    ) -> Result<Self, PolicyLoadError> {
        let policy = source.read().await?;
        if let Some(validate) = &validator {
            validate(&policy).map_err(PolicyLoadError::Rejected)?;
        }
        Ok(Self {
            source,
            validator,
            current: RwLock::new(Arc::new(policy)),
        })
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the files again. On error the last good policy stays and the error is
    /// returned (and logged).
    pub async fn reload(&self) -> Result<(), PolicyLoadError> {
        let read = self
            .source
            .read()
            .await
            .and_then(|policy| match &self.validator {
                Some(validate) => validate(&policy)
                    .map(|()| policy)
                    .map_err(PolicyLoadError::Rejected),
                None => Ok(policy),
            });
        match read {
            Ok(policy) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
                tracing::info!("policy reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "policy reload failed; keeping the last good policy");
                Err(e)
            }
        }
    }

    /// Watches the files' modification times and reloads on change, until the store
    /// is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.source.model.is_none() && self.source.policy.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        let mut seen = self.source.modified();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(store) = weak.upgrade() else { break };
                let now = store.source.modified();
                if now != seen {
                    seen = now;
                    let _ = store.reload().await;
                }
            }
        });
    }
}
