//! The current policy, reloaded when its files change (last good one kept on error),
//! and every version loaded since the start, so that an admin can see what was in force
//! when and roll back to an earlier one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{DEFAULT_MODEL, DEMO_POLICY, Policy, PolicyLoadError};

/// The texts one policy is built from: its model, its policy file and the tags file
/// beside it.
#[derive(Debug, Clone)]
pub struct PolicyTexts {
    model: String,
    /// The policy file's name, as errors name it.
    name: String,
    policy: String,
    /// The tags file beside the policy, if there is one: its name and text.
    tags: Option<(String, String)>,
}

impl PolicyTexts {
    /// Reads the model (the shipped one when `model` is `None`), the policy file and
    /// the `tags.csv` beside it, if there is one.
    pub fn read(model: Option<&Path>, policy: &Path) -> Result<Self, PolicyLoadError> {
        let tags_file = tags_file_beside(policy);
        let tags = match std::fs::read_to_string(&tags_file) {
            Ok(text) => Some((tags_file.display().to_string(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PolicyLoadError::Read {
                    what: "tags",
                    path: tags_file,
                    source,
                });
            }
        };
        Ok(Self {
            model: read_model(model)?,
            name: policy.display().to_string(),
            policy: read_file("policy", policy)?,
            tags,
        })
    }

    /// The demo policy and tags, with the shipped model or `model`.
    fn demo(model: Option<&Path>) -> Result<Self, PolicyLoadError> {
        Ok(Self {
            model: read_model(model)?,
            name: "policy.csv (demo)".to_string(),
            policy: DEMO_POLICY.to_string(),
            tags: Some(("tags.csv (demo)".to_string(), super::DEMO_TAGS.to_string())),
        })
    }

    /// The policy these texts describe.
    pub async fn build(&self) -> Result<Policy, PolicyLoadError> {
        let tags = self
            .tags
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str()));
        Policy::from_texts(&self.model, &self.name, &self.policy, tags).await
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<String, PolicyLoadError> {
    std::fs::read_to_string(path).map_err(|source| PolicyLoadError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// The model file's text, or the shipped model.
fn read_model(model: Option<&Path>) -> Result<String, PolicyLoadError> {
    match model {
        Some(path) => read_file("model", path),
        None => Ok(DEFAULT_MODEL.to_string()),
    }
}

/// The tags file that goes with a policy file: `tags.csv` in its directory.
pub fn tags_file_beside(policy: &Path) -> PathBuf {
    policy
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("tags.csv")
}

/// One policy the gateway loaded.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    /// 1 for the policy loaded at start, then one more per load.
    pub version: u64,
    /// Hex SHA-256 of the model, the policy and the tags text.
    pub sha256: String,
    /// When it came into force.
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    /// What loaded it: `start`, `file change`, `reload by USER`, `rollback to N by USER`.
    pub loaded_by: String,
    /// The policy file (or the demo policy).
    pub source: String,
    texts: PolicyTexts,
}

/// Versions kept for rollback; the oldest beyond it are dropped.
const KEEP_VERSIONS: usize = 100;

/// Where the policy comes from.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// Casbin model file; the shipped model when unset.
    pub model: Option<PathBuf>,
    /// Policy file; the demo policy when unset.
    pub policy: Option<PathBuf>,
}

impl PolicySource {
    async fn read(&self) -> Result<(Policy, PolicyTexts), PolicyLoadError> {
        let texts = match &self.policy {
            Some(path) => PolicyTexts::read(self.model.as_deref(), path)?,
            None => PolicyTexts::demo(self.model.as_deref())?,
        };
        Ok((texts.build().await?, texts))
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        let tags = self.policy.as_deref().map(tags_file_beside);
        [&self.model, &self.policy, &tags]
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
    versions: RwLock<Vec<Arc<PolicyVersion>>>,
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
        let (policy, texts) = source.read().await?;
        if let Some(validate) = &validator {
            validate(&policy).map_err(PolicyLoadError::Rejected)?;
        }
        let store = Self {
            source,
            validator,
            current: RwLock::new(Arc::new(policy)),
            versions: RwLock::new(Vec::new()),
        };
        store.record(texts, "start".into());
        Ok(store)
    }

    /// Adds a version to the history; returns its number.
    fn record(&self, texts: PolicyTexts, loaded_by: String) -> u64 {
        let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
        let version = versions.last().map_or(1, |v| v.version + 1);
        let digest = Sha256::new()
            .chain_update(texts.model.as_bytes())
            .chain_update([0u8])
            .chain_update(texts.policy.as_bytes())
            .chain_update([0u8])
            .chain_update(texts.tags.as_ref().map_or(&b""[..], |(_, t)| t.as_bytes()))
            .finalize();
        versions.push(Arc::new(PolicyVersion {
            version,
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            loaded_at: chrono::Utc::now(),
            loaded_by,
            source: texts.name.clone(),
            texts,
        }));
        if versions.len() > KEEP_VERSIONS {
            versions.remove(0);
        }
        version
    }

    /// Every version loaded since the start (the last [`KEEP_VERSIONS`]), oldest first.
    pub fn versions(&self) -> Vec<Arc<PolicyVersion>> {
        self.versions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts version `version` back in force (checked as any load), recorded as a new
    /// version; returns its number. It stays in force until the next reload or change
    /// of the files.
    pub async fn rollback(&self, version: u64, by: &str) -> Result<u64, PolicyLoadError> {
        let target = self
            .versions()
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                PolicyLoadError::Rejected(format!("there is no policy version {version}"))
            })?;
        let texts = target.texts.clone();
        let policy = texts.build().await?;
        if let Some(validate) = &self.validator {
            validate(&policy).map_err(PolicyLoadError::Rejected)?;
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
        let new = self.record(texts, format!("rollback to {version} by {by}"));
        tracing::warn!(version, new, by, "policy rolled back");
        Ok(new)
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
        self.reload_by("reload").await
    }

    /// [`PolicyStore::reload`], recording `loaded_by` in the version history.
    pub async fn reload_by(&self, loaded_by: &str) -> Result<(), PolicyLoadError> {
        let read = self
            .source
            .read()
            .await
            .and_then(|(policy, texts)| match &self.validator {
                Some(validate) => validate(&policy)
                    .map(|()| (policy, texts))
                    .map_err(PolicyLoadError::Rejected),
                None => Ok((policy, texts)),
            });
        match read {
            Ok((policy, texts)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
                self.record(texts, loaded_by.to_string());
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
                    let _ = store.reload_by("file change").await;
                }
            }
        });
    }
}
