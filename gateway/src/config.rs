//! Typed, layered configuration: defaults < TOML file < `GATEWAY_*` environment < CLI.
//!
//! Every layer is checked against the same serde structs with unknown keys rejected,
//! so a misspelt key is an error that names the key, never a silently ignored setting.

use std::path::Path;

use lakegate_catalog::{CatalogConfig, CatalogType};
use lakegate_security::UserConfig;
use serde::{Deserialize, Serialize};

/// The demo users (see README): name, SCRAM verifier of a password equal to the name,
/// attributes. Only used when the configuration defines no users.
/// A demo user: name, SCRAM verifier, attributes.
type DemoUser = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const DEMO_USERS: &[DemoUser] = &[
    (
        "demo",
        "SCRAM-SHA-256$4096:1f2xiI5gQS5ts9JWx2fuhg==$GcxqoQPCIZDROcmqIKWjU8bcqna52twBthj2B7ch8vM=:1rVWthNzo7Ooph1hi5ljQtsN6WZU4kPTfZTC8NvIG6k=",
        &[],
    ),
    (
        "admin",
        "SCRAM-SHA-256$4096:CHLg4Qt/DN8+yXssYuCsgg==$qiJsgL8ieHuuDaheWHHLBU5PuVVxVKmhrt8HLXqur68=:FO6uJX2xm3uTXao2GvBqdbCjxSpimOosQJlPVob+BNM=",
        &[],
    ),
    (
        "analyst",
        "SCRAM-SHA-256$4096:sZCjbRrp2EQSDmoGWIK8jg==$AipLlWGs4Fx64VmupTzEdnG86ebBt3gb1pfViSdjTrs=:9MS3U+Gm3Dhvl13Jtg4xU5FLWec+6Mm6vRygSfKX9vo=",
        &[("region", "EUROPE"), ("region_key", "3")],
    ),
    (
        "auditor",
        "SCRAM-SHA-256$4096:U7kVK4aqyWiegDNICuOTbg==$wwP83lU/tdcdGC4CoH5G8NLmlmgQkhUFAvDbABowE+k=:ux1PCYEV3hia3VhtvbXs41cn1J+HjTmvlvJkCqk4L7s=",
        &[],
    ),
];

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the embedded lakehouse (warehouse and SQLite catalog).
    pub data_dir: String,
    /// Catalog that unqualified names resolve in.
    pub default_catalog: String,
    /// Schema that unqualified names resolve in (also the initial `search_path`).
    pub default_schema: String,
    /// Postgres wire listener.
    pub pg: PgConfig,
    /// Arrow Flight SQL listener.
    pub flight: FlightConfig,
    /// Admin HTTP listener.
    pub admin: AdminConfig,
    /// Demo data seeding.
    pub seed: SeedConfig,
    /// Query execution.
    pub query: QueryConfig,
    /// Metering and cost.
    pub finops: FinopsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Catalogs; empty means one embedded Iceberg catalog `lake` under `data_dir`.
    pub catalogs: Vec<CatalogConfig>,
    /// Authorization policy.
    pub security: SecurityConfig,
    /// Audit trail.
    pub audit: AuditSettings,
    /// Login throttling after failed logins (both front doors).
    pub login: LoginConfig,
    /// What may be exposed beyond this machine.
    pub auth: AuthConfig,
    /// Semantic layer.
    pub semantic: SemanticConfig,
    /// Results cache.
    pub cache: CacheConfig,
    /// Distributed execution on workers.
    pub distributed: DistributedConfig,
    /// Users; empty means the demo users (demo, admin, analyst, auditor; each user's
    /// password is its name).
    pub users: Vec<UserConfig>,
}

/// `[login]`: after `max_failures` failed logins within `window_seconds` for one user,
/// or `max_failures_per_address` from one address, logins for that user or from that
/// address are refused for `lockout_seconds` without their password being checked.
/// `max_failures = 0` turns throttling off. Failed and refused logins are audited
/// either way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    pub max_failures: u32,
    /// Higher than the per-user limit: many users may share one address (a NAT, a
    /// BI server).
    pub max_failures_per_address: u32,
    pub window_seconds: u64,
    pub lockout_seconds: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            max_failures_per_address: 50,
            window_seconds: 300,
            lockout_seconds: 60,
        }
    }
}

/// `[auth]`: what the gateway may expose on a listener that is not a loopback address.
/// Refused by default, each with a start-up error that names the listener:
/// the demo accounts (no `[[users]]` configured; their passwords are their names), and
/// a listener that carries passwords without TLS (Postgres wire without a required
/// `[pg.tls]`, Flight SQL without `[flight.tls]`, the admin endpoint, which has none).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Serve the demo accounts on a non-loopback listener.
    pub allow_demo_users: bool,
    /// Serve a non-loopback listener without TLS (e.g. behind a TLS-terminating proxy).
    pub allow_insecure_listeners: bool,
    /// `[auth.jwt]`: logins with tokens of an OIDC identity provider.
    pub jwt: Option<lakegate_security::jwt::JwtConfig>,
    /// `[auth.ldap]`: logins with directory passwords.
    pub ldap: Option<lakegate_security::ldap::LdapConfig>,
}

/// `[audit]`: the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Write the trail.
    pub enabled: bool,
    /// The JSON-lines file; unset means `<data_dir>/audit/audit.jsonl`.
    pub path: Option<String>,
    /// Rotate when the file grows past this many bytes.
    pub max_bytes: u64,
    /// Record the SHA-256 of each statement instead of its text.
    pub hash_sql: bool,
    /// SQL text and error message kept per record, in bytes; longer ones are cut (the
    /// full SQL's SHA-256 is recorded beside it).
    pub max_sql_bytes: usize,
    /// Rotated files are removed this many days after their last write, whatever
    /// their number (0: never).
    pub retention_days: u64,
    /// Sync each write to the disk before the statements it records complete.
    pub fsync: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            max_bytes: 64 * 1024 * 1024,
            hash_sql: false,
            max_sql_bytes: 16 * 1024,
            retention_days: 90,
            fsync: true,
        }
    }
}

/// `[semantic]`: metrics and dimensions defined in model files, served as tables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticConfig {
    /// Serve the models as the tables of schema `semantic`.
    pub enabled: bool,
    /// Directory of model files (`*.yml`, `*.yaml`); unset means the demo models over
    /// the seeded TPC-H tables (`config/semantic/tpch.yml`, built in).
    pub models_dir: Option<String>,
    /// Catalog whose schema `semantic` holds the models; unset means `default_catalog`.
    pub catalog: Option<String>,
    /// How often to check the directory for changes, in seconds (0 disables reload).
    pub reload_seconds: u64,
}

impl Default for SemanticConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: None,
            catalog: None,
            reload_seconds: 2,
        }
    }
}

/// `[cache]`: query results kept in memory and served again for the same secured plan
/// over the same table versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Memory for cached results, in MiB (0 turns the cache off).
    pub results_mb: u64,
    /// The largest result kept, in MiB.
    pub max_result_mb: u64,
    /// How long a result is kept at most, in seconds.
    pub results_seconds: u64,
}

/// `[distributed]`: large queries run on distributed workers (`gateway worker`). The
/// gateway plans and secures each query as always; a query whose estimate reaches
/// `threshold_bytes` (or any query of a session with `SET gateway.distributed = on`)
/// is cut into stages that the workers run. Coordinators and workers sign and check
/// every request with the keys of `[flight] secret_file`, which they must share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DistributedConfig {
    /// Send queries to workers at all.
    pub enabled: bool,
    /// Worker URLs (`http://HOST:PORT`) used besides those that joined through
    /// `[finops] shared_store`.
    pub workers: Vec<String>,
    /// Bytes a query's estimate must reach to run on the workers.
    pub threshold_bytes: u64,
    /// Data files (or byte ranges of a split file) per task of a scanning stage; 0:
    /// as many as the coordinator has cores.
    pub files_per_task: usize,
}

impl Default for DistributedConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            workers: Vec::new(),
            threshold_bytes: 1 << 30,
            files_per_task: 0,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            results_mb: 256,
            max_result_mb: 32,
            results_seconds: 600,
        }
    }
}

/// `[security]`: the Casbin model and policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Casbin model file; unset means the shipped `config/model.conf`.
    pub model: Option<String>,
    /// Policy file (p, p2, p3 and g lines); unset means the demo `config/policy.csv`.
    pub policy: Option<String>,
    /// How often to check the files for changes, in seconds (0 disables hot reload).
    pub reload_seconds: u64,
    /// What figures a principal with a row filter sees: `protected` (none that depend
    /// on hidden rows) or `performance` (user predicates prune filtered tables; every
    /// figure shown). See `lakegate_security::policy::StatisticsMode`.
    pub statistics: lakegate_security::policy::StatisticsMode,
}

/// `[pg]`: the Postgres wire listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// How clients prove their password: `scram-sha-256` (SCRAM-SHA-256-PLUS is offered
    /// too when TLS is on), `md5` (users with an MD5 credential; SCRAM for the others,
    /// as PostgreSQL does) or `password` (cleartext; only sensible over TLS).
    pub auth: AuthMethod,
    /// TLS for this listener. Absent: plain TCP only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// The largest message an authenticated client may send, in bytes; a longer one
    /// is refused from its header (08P01) and the connection closed. Before
    /// authentication the limit is 64 KiB (10,000 bytes for the startup packet).
    pub max_message_bytes: usize,
    /// How long, in milliseconds, a message that has begun may go without another
    /// byte arriving before the connection is closed (08P01).
    pub message_stall_ms: u64,
    /// Connections served at once; beyond it a client is refused with 53300 ("sorry,
    /// too many clients already"), as by PostgreSQL.
    pub max_connections: usize,
    /// Connections one user may hold at once (0: no limit beyond `max_connections`).
    pub max_connections_per_user: usize,
    /// How long a client has to finish startup and authentication, in seconds.
    pub authentication_timeout_seconds: u64,
    /// Close a connection that has sent nothing for this long, in seconds, with 57P05
    /// (0: never, PostgreSQL's default).
    pub idle_session_timeout_seconds: u64,
    /// While a statement runs, check this often, in milliseconds, whether its client is
    /// still connected; a client gone has its query cancelled (0: only notice when a row
    /// is written). PostgreSQL's `client_connection_check_interval`.
    pub client_connection_check_ms: u64,
}

/// Password authentication methods of a listener.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// SCRAM-SHA-256, and SCRAM-SHA-256-PLUS (channel binding) over TLS.
    #[default]
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// MD5 challenge for users with an MD5 credential.
    Md5,
    /// Cleartext password, verified against the stored verifier.
    Password,
}

/// `[pg.tls]`: certificate and key in PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM), server certificate first.
    pub cert: String,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// Refuse clients that do not ask for TLS (`sslmode=disable`).
    #[serde(default = "default_true")]
    pub require: bool,
}

fn default_true() -> bool {
    true
}

/// `[flight]`: the Arrow Flight SQL listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlightConfig {
    /// Serve Flight SQL.
    pub enabled: bool,
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// How long a bearer token from the handshake is valid, in seconds.
    pub token_ttl_seconds: u64,
    /// How long a ticket from GetFlightInfo may be redeemed, in seconds.
    pub ticket_ttl_seconds: u64,
    /// A file holding the secrets that sign tokens and tickets (one per line, at least
    /// 32 bytes each; the first signs, all verify, read again when the file changes),
    /// so that several gateways behind one address accept each other's tokens and
    /// tickets, and keys rotate without a restart. Unset: a random key per start (tokens
    /// end with the process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// Prepared statements kept per user; the least recently used is dropped beyond it.
    pub max_prepared_per_user: usize,
    /// Result streams (DoGet) one user may hold open at once; beyond it a DoGet is
    /// refused with RESOURCE_EXHAUSTED (SQLSTATE 53300). 0: no limit.
    pub max_streams_per_user: usize,
    /// TCP connections served at once; a connection beyond it is closed at accept.
    pub max_connections: usize,
    /// Largest gRPC message a client may send (parameter batches, tickets), in bytes.
    pub max_message_bytes: usize,
    /// TLS for this listener. Absent: plain HTTP/2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<FlightTlsConfig>,
}

/// `[flight.tls]`: certificate and key in PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlightTlsConfig {
    /// Certificate chain (PEM), server certificate first.
    pub cert: String,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

impl Default for FlightConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:50051".into(),
            token_ttl_seconds: 3600,
            ticket_ttl_seconds: 600,
            secret_file: None,
            max_prepared_per_user: 256,
            max_streams_per_user: 32,
            max_connections: 200,
            max_message_bytes: 64 << 20,
            tls: None,
        }
    }
}

/// `[admin]`: the admin HTTP endpoint (health, policy reload).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the endpoint.
    pub enabled: bool,
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:9090".into(),
        }
    }
}

/// `[seed]`: TPC-H demo data written on first start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SeedConfig {
    /// Seed when the tables are missing.
    pub enabled: bool,
    /// TPC-H scale factor.
    pub scale_factor: f64,
    /// Catalog to seed into.
    pub catalog: String,
    /// Schema (Iceberg namespace) to seed into.
    pub schema: String,
}

/// `[query]`: execution settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Partitions per query; 0 means the number of cores.
    pub target_partitions: usize,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Read Iceberg tables with DataFusion's Parquet scan (files split across the
    /// partitions, row-group and page pruning) where it reads them right; off: Iceberg's
    /// own reader everywhere.
    pub native_iceberg_scan: bool,
    /// Join three or more tables in the order estimated to keep intermediate results
    /// smallest (from the tables' row counts and filters); off: in the order written.
    pub join_reordering: bool,
    /// Memory for each cache of immutable metadata (Iceberg metadata files, manifest
    /// lists and manifests; Parquet footers and page indexes), in MiB.
    pub metadata_cache_mb: u64,
    /// Memory all running queries' operators may reserve together (bytes, `"8GiB"`, or
    /// a share of the machine's memory such as `"50%"`).
    pub memory_limit: crate::byte_size::ByteSize,
    /// Memory one query may reserve; beyond it sorts and aggregations spill, and other
    /// operators fail the query with 53200. Unset: a quarter of `memory_limit`.
    pub per_query_memory_limit: Option<crate::byte_size::ByteSize>,
    /// Directory for spill files; unset means `<data_dir>/spill`.
    pub spill_dir: Option<String>,
    /// Bytes all spill files may hold together.
    pub spill_max_bytes: crate::byte_size::ByteSize,
    /// `[query.engine]`: DataFusion options by name (`"datafusion.execution.parquet.
    /// pushdown_filters" = "true"`), set on every session; checked at start. Options the
    /// gateway owns (partitions, batch size, time zone, decimal literals) keep its values.
    pub engine: std::collections::BTreeMap<String, String>,
}

/// `[finops]`: metering and cost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FinopsConfig {
    /// Meter every query; off only to measure what metering costs.
    pub metering: bool,
    /// `[finops.prices]`: what a query's figures cost.
    pub prices: lakegate_planner::PriceList,
    /// `[[finops.limits]]`: per-user and per-role limits on one query.
    pub limits: Vec<lakegate_planner::QueryLimit>,
    /// `[finops.history]`: the durable query history.
    pub history: HistorySettings,
    /// `[[finops.budgets]]`: daily and monthly cost budgets per user and per role.
    pub budgets: Vec<lakegate_planner::Budget>,
    /// Where replicas behind one address share budget spending, `max_concurrent`
    /// slots, running queries and kills: `sqlite:PATH` (`<data_dir>` is replaced by the
    /// data directory), e.g. `sqlite:<data_dir>/system/coordination.db`, or
    /// `postgres://USER:PASSWORD@HOST/DATABASE`. Unset: each gateway counts its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_store: Option<String>,
}

impl Default for FinopsConfig {
    fn default() -> Self {
        Self {
            metering: true,
            prices: Default::default(),
            limits: Vec::new(),
            history: HistorySettings::default(),
            budgets: Vec::new(),
            shared_store: None,
        }
    }
}

/// `[finops.history]`: where and how often finished queries are committed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Keep the history (`system.history.queries`).
    pub enabled: bool,
    /// Directory of the history's Iceberg catalog; unset means `<data_dir>/system`.
    pub dir: Option<String>,
    /// Commit when this many records are waiting.
    pub flush_rows: usize,
    /// Commit waiting records at least this often.
    pub flush_seconds: u64,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            flush_rows: 10_000,
            flush_seconds: 10,
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `lakegate_planner=debug,info`.
    pub filter: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: "./data".into(),
            default_catalog: "lake".into(),
            default_schema: "tpch".into(),
            pg: PgConfig::default(),
            flight: FlightConfig::default(),
            admin: AdminConfig::default(),
            seed: SeedConfig::default(),
            query: QueryConfig::default(),
            finops: FinopsConfig::default(),
            log: LogConfig::default(),
            security: SecurityConfig {
                reload_seconds: 2,
                ..SecurityConfig::default()
            },
            audit: AuditSettings::default(),
            login: LoginConfig::default(),
            auth: AuthConfig::default(),
            semantic: SemanticConfig::default(),
            cache: CacheConfig::default(),
            distributed: DistributedConfig::default(),
            catalogs: Vec::new(),
            users: Vec::new(),
        }
    }
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5433".into(),
            auth: AuthMethod::default(),
            tls: None,
            max_message_bytes: 64 << 20,
            message_stall_ms: 5_000,
            max_connections: 200,
            max_connections_per_user: 0,
            authentication_timeout_seconds: 60,
            idle_session_timeout_seconds: 0,
            client_connection_check_ms: 1_000,
        }
    }
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scale_factor: 0.1,
            catalog: "lake".into(),
            schema: "tpch".into(),
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            target_partitions: 0,
            batch_size: 8192,
            native_iceberg_scan: true,
            join_reordering: true,
            metadata_cache_mb: lakegate_catalog::metadata_cache::DEFAULT_METADATA_CACHE_MB,
            memory_limit: crate::byte_size::ByteSize::PercentOfMemory(50.0),
            per_query_memory_limit: None,
            spill_dir: None,
            spill_max_bytes: crate::byte_size::ByteSize::Bytes(20 << 30),
            engine: Default::default(),
        }
    }
}

impl QueryConfig {
    /// The planner's memory limits: sizes in bytes (shares taken of this machine's
    /// memory), the spill directory under `data_dir` unless set.
    pub fn memory_limits(&self, data_dir: &str) -> lakegate_planner::MemoryLimits {
        let machine = crate::byte_size::machine_memory();
        let limit = self.memory_limit.bytes(machine);
        let per_query = self
            .per_query_memory_limit
            .map_or(limit / 4, |size| size.bytes(machine));
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        lakegate_planner::MemoryLimits {
            memory_limit: as_usize(limit),
            per_query_memory_limit: as_usize(per_query),
            spill_dir: Some(
                self.spill_dir
                    .as_ref()
                    .map_or_else(|| Path::new(data_dir).join("spill"), Into::into),
            ),
            spill_max_bytes: self.spill_max_bytes.bytes(machine),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

impl Config {
    /// Catalogs to open: the configured ones, or the embedded default.
    pub fn effective_catalogs(&self) -> Vec<CatalogConfig> {
        if !self.catalogs.is_empty() {
            return self.catalogs.clone();
        }
        vec![CatalogConfig {
            name: "lake".into(),
            kind: CatalogType::IcebergSql,
            warehouse: Path::new(&self.data_dir)
                .join("warehouse")
                .display()
                .to_string(),
            ..Default::default()
        }]
    }

    /// Where the audit trail goes, if enabled.
    pub fn audit_path(&self) -> Option<std::path::PathBuf> {
        if !self.audit.enabled {
            return None;
        }
        Some(match &self.audit.path {
            Some(path) => path.into(),
            None => Path::new(&self.data_dir).join("audit").join("audit.jsonl"),
        })
    }

    /// Users to accept: the configured ones, or the demo user.
    pub fn effective_users(&self) -> Vec<UserConfig> {
        if !self.users.is_empty() {
            return self.users.clone();
        }
        DEMO_USERS
            .iter()
            .map(|(name, verifier, attributes)| UserConfig {
                name: (*name).into(),
                password: (*verifier).into(),
                // Demo passwords are the names; MD5 listeners accept them too.
                md5: Some(lakegate_security::md5_credential(name, name)),
                attributes: attributes
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            })
            .collect()
    }

    /// Builds the configuration from all layers. `file` is the TOML file (if any),
    /// `env` the process environment, `overrides` CLI flags as `(dotted.key, value)`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(&str, toml::Value)],
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Value::try_from(Config::default())
            .map_err(|e| ConfigError(format!("default configuration: {e}")))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("reading {}: {e}", path.display())))?;
            // Deserialising the file alone reports unknown keys with their line.
            toml::from_str::<Config>(&text)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            let layer: toml::Value = toml::from_str(&text)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            merge(&mut merged, layer);
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("GATEWAY_") else {
                continue;
            };
            if rest == "CONFIG" {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            let dotted = path.join(".");
            set_path(&mut merged, &path, env_value(&value)).map_err(|e| {
                ConfigError(format!("environment variable {key} (key {dotted}): {e}"))
            })?;
            // Validate after each variable so the error names it.
            merged.clone().try_into::<Config>().map_err(|e| {
                ConfigError(format!("environment variable {key} (key {dotted}): {e}"))
            })?;
        }
        for (dotted, value) in overrides {
            let path: Vec<String> = dotted.split('.').map(str::to_string).collect();
            set_path(&mut merged, &path, value.clone())
                .map_err(|e| ConfigError(format!("flag for {dotted}: {e}")))?;
        }
        let config: Config = merged
            .try_into()
            .map_err(|e| ConfigError(format!("configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.query.batch_size == 0 {
            return Err(ConfigError("query.batch_size must be positive".into()));
        }
        if !(1024..=(1 << 30)).contains(&self.pg.max_message_bytes) {
            return Err(ConfigError(format!(
                "pg.max_message_bytes must be between 1024 and 1073741824, got {}",
                self.pg.max_message_bytes
            )));
        }
        if self.pg.max_connections == 0 || self.pg.authentication_timeout_seconds == 0 {
            return Err(ConfigError(
                "pg.max_connections and pg.authentication_timeout_seconds must be positive".into(),
            ));
        }
        if !(1024..=(1 << 30)).contains(&self.flight.max_message_bytes) {
            return Err(ConfigError(format!(
                "flight.max_message_bytes must be between 1024 and 1073741824, got {}",
                self.flight.max_message_bytes
            )));
        }
        if self.flight.max_connections == 0 {
            return Err(ConfigError(
                "flight.max_connections must be positive".into(),
            ));
        }
        if self.pg.message_stall_ms == 0 {
            return Err(ConfigError("pg.message_stall_ms must be positive".into()));
        }
        let memory = self.query.memory_limits(&self.data_dir);
        if memory.memory_limit < (16 << 20) || memory.per_query_memory_limit < (1 << 20) {
            return Err(ConfigError(format!(
                "query.memory_limit must be at least 16 MiB and query.per_query_memory_limit \
                 at least 1 MiB, got {} and {} bytes",
                memory.memory_limit, memory.per_query_memory_limit
            )));
        }
        if memory.per_query_memory_limit > memory.memory_limit {
            return Err(ConfigError(format!(
                "query.per_query_memory_limit ({} bytes) exceeds query.memory_limit ({} bytes)",
                memory.per_query_memory_limit, memory.memory_limit
            )));
        }
        if self.distributed.enabled {
            if self.flight.secret_file.is_none() {
                return Err(ConfigError(
                    "[distributed] needs [flight] secret_file: coordinators and workers sign \
                     and check their requests with the keys it holds"
                        .into(),
                ));
            }
            if self.distributed.workers.is_empty() && self.finops.shared_store.is_none() {
                return Err(ConfigError(
                    "[distributed] needs workers: list them in [distributed] workers, or \
                     name the [finops] shared_store they join"
                        .into(),
                ));
            }
            for url in &self.distributed.workers {
                match url::Url::parse(url) {
                    Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                    _ => {
                        return Err(ConfigError(format!(
                            "[distributed] workers: {url:?} is not an http:// or https:// URL"
                        )));
                    }
                }
            }
        }
        if !(self.seed.scale_factor > 0.0 && self.seed.scale_factor <= 1000.0) {
            return Err(ConfigError(format!(
                "seed.scale_factor must be in (0, 1000], got {}",
                self.seed.scale_factor
            )));
        }
        Ok(())
    }
}

/// A configuration error, naming the layer and the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Environment values are TOML values when they parse as one (numbers, booleans,
/// arrays), and strings otherwise.
fn env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn merge(base: &mut toml::Value, layer: toml::Value) {
    match (base, layer) {
        (toml::Value::Table(base), toml::Value::Table(layer)) => {
            for (key, value) in layer {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, layer) => *base = layer,
    }
}

fn set_path(root: &mut toml::Value, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut node = root;
    for part in parents {
        let table = node
            .as_table_mut()
            .ok_or_else(|| format!("{part} is not a section"))?;
        node = table
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let table = node
        .as_table_mut()
        .ok_or_else(|| format!("{last} is not inside a section"))?;
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_in_order() {
        let dir = std::env::temp_dir().join(format!("gw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("g.toml");
        std::fs::write(
            &file,
            "data_dir = \"/f\"\n[pg]\nlisten = \"0.0.0.0:1\"\n[seed]\nscale_factor = 0.5\n",
        )
        .expect("write");
        let config = Config::load(
            Some(&file),
            env(&[
                ("GATEWAY_PG__LISTEN", "127.0.0.1:2"),
                ("GATEWAY_SEED__ENABLED", "false"),
                ("OTHER", "x"),
            ]),
            &[("data_dir", toml::Value::String("/cli".into()))],
        )
        .expect("loads");
        assert_eq!(config.data_dir, "/cli");
        assert_eq!(config.pg.listen, "127.0.0.1:2");
        assert!(!config.seed.enabled);
        assert_eq!(config.seed.scale_factor, 0.5);
        assert_eq!(config.default_schema, "tpch");
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("gw-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("g.toml");
        std::fs::write(&file, "[pg]\nlisten = \"x\"\nlisten_port = 3\n").expect("write");
        let err = Config::load(Some(&file), env(&[]), &[])
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("listen_port"), "{err}");
        let err = Config::load(None, env(&[("GATEWAY_PG__LISTN", "x")]), &[])
            .expect_err("unknown env key")
            .to_string();
        assert!(
            err.contains("GATEWAY_PG__LISTN") && err.contains("listn"),
            "{err}"
        );
    }

    #[test]
    fn example_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.example.toml");
        Config::load(Some(&example), env(&[]), &[]).expect("example config loads");
    }
}
