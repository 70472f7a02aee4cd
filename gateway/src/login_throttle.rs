//! Login throttling, shared by both front doors: after `max_failures` failed logins
//! within the window for one user, or from one address, further logins for that user
//! or from that address are refused for the lockout period without their password
//! being checked. Every failed or refused login is written to the audit trail.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lakegate_security::audit::{AuditEvent, AuditLog};

use crate::config::LoginConfig;

/// Entries kept per map before expired ones are swept (an attacker inventing user
/// names cannot grow the maps without bound).
const SWEEP_AT: usize = 10_000;

/// Failed logins of one user or one address.
#[derive(Default)]
struct Failures {
    /// Times of the failures inside the window, oldest first.
    times: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

/// One kind of key's failures.
struct Ledger<K> {
    entries: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> Ledger<K> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The time left on `key`'s lockout, if it is locked.
    fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let until = entries.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure; locks `key` once it has `max` failures in the window.
    fn fail(&self, key: &K, now: Instant, max: usize, config: &Limits) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now)
                    || f.times.back().is_some_and(|t| now - *t < config.window)
            });
        }
        let failures = entries.entry(key.clone()).or_default();
        while failures
            .times
            .front()
            .is_some_and(|t| now - *t >= config.window)
        {
            failures.times.pop_front();
        }
        failures.times.push_back(now);
        if failures.times.len() >= max {
            failures.locked_until = Some(now + config.lockout);
            failures.times.clear();
        }
    }

    fn clear(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

struct Limits {
    max_failures: usize,
    max_failures_per_address: usize,
    window: Duration,
    lockout: Duration,
}

/// Failed logins per user and per address, and the audit trail they are written to.
pub struct LoginThrottle {
    limits: Limits,
    users: Ledger<String>,
    addresses: Ledger<IpAddr>,
    audit: Arc<AuditLog>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("max_failures", &self.limits.max_failures)
            .field("window", &self.limits.window)
            .field("lockout", &self.limits.lockout)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    pub fn new(config: &LoginConfig, audit: Arc<AuditLog>) -> Self {
        Self {
            limits: Limits {
                max_failures: config.max_failures as usize,
                max_failures_per_address: config.max_failures_per_address.max(1) as usize,
                window: Duration::from_secs(config.window_seconds),
                lockout: Duration::from_secs(config.lockout_seconds),
            },
            users: Ledger::new(),
            addresses: Ledger::new(),
            audit,
        }
    }

    fn enabled(&self) -> bool {
        self.limits.max_failures > 0 && !self.limits.lockout.is_zero()
    }

    /// Whether `user` may try to log in from `address` now; the refusal names the
    /// time left. A refusal is audited.
    pub fn check(&self, user: &str, address: IpAddr, protocol: &str) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        let refusal = match (
            self.users.locked(&user.to_string(), now),
            self.addresses.locked(&address, now),
        ) {
            (Some(left), _) => format!(
                "too many failed logins for user \"{user}\"; try again in {} s",
                left.as_secs() + 1
            ),
            (None, Some(left)) => format!(
                "too many failed logins from {address}; try again in {} s",
                left.as_secs() + 1
            ),
            (None, None) => return Ok(()),
        };
        self.audit_failure(user, address, protocol, &refusal);
        Err(refusal)
    }

    /// Records a failed login (wrong password, unknown user) and audits it.
    pub fn failed(&self, user: &str, address: IpAddr, protocol: &str, reason: &str) {
        self.audit_failure(user, address, protocol, reason);
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let limits = &self.limits;
        self.users
            .fail(&user.to_string(), now, limits.max_failures, limits);
        self.addresses
            .fail(&address, now, limits.max_failures_per_address, limits);
        tracing::info!(user, %address, protocol, reason, "login failed");
    }

    /// A successful login clears the user's and the address's failures.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        if self.enabled() {
            self.users.clear(&user.to_string());
            self.addresses.clear(&address);
        }
    }

    fn audit_failure(&self, user: &str, address: IpAddr, protocol: &str, reason: &str) {
        let event = AuditEvent {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            user: user.to_string(),
            client: address.to_string(),
            protocol: protocol.to_string(),
            decision: "deny".to_string(),
            outcome: "login_failed".to_string(),
            error: Some(reason.to_string()),
            ..AuditEvent::default()
        };
        // The writer thread writes it; a login does not wait for the disk.
        drop(self.audit.submit(&event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_failures: u32) -> LoginThrottle {
        let config = LoginConfig {
            max_failures,
            max_failures_per_address: max_failures + 1,
            window_seconds: 60,
            lockout_seconds: 60,
        };
        LoginThrottle::new(&config, Arc::new(AuditLog::disabled()))
    }

    #[test]
    fn a_user_is_locked_after_repeated_failures_and_a_success_clears_them() {
        let throttle = throttle(3);
        let here: IpAddr = "10.0.0.1".parse().expect("address");
        let there: IpAddr = "10.0.0.2".parse().expect("address");
        throttle.failed("eve", here, "postgres", "wrong password");
        throttle.failed("eve", here, "postgres", "wrong password");
        assert!(throttle.check("eve", here, "postgres").is_ok());
        throttle.succeeded("eve", here);
        throttle.failed("eve", here, "postgres", "wrong password");
        throttle.failed("eve", there, "postgres", "wrong password");
        assert!(throttle.check("eve", there, "postgres").is_ok());
        throttle.failed("eve", there, "postgres", "wrong password");
        let refusal = throttle
            .check("eve", here, "postgres")
            .expect_err("refused");
        assert!(refusal.contains("user \"eve\""), "{refusal}");
        // Another user from an address without three failures logs in.
        assert!(throttle.check("bob", here, "postgres").is_ok());
    }

    #[test]
    fn an_address_is_locked_after_failures_across_users() {
        let throttle = throttle(2);
        let here: IpAddr = "10.0.0.9".parse().expect("address");
        throttle.failed("a", here, "flight-sql", "wrong password");
        throttle.failed("b", here, "flight-sql", "wrong password");
        assert!(throttle.check("c", here, "flight-sql").is_ok());
        throttle.failed("c", here, "flight-sql", "wrong password");
        let refusal = throttle
            .check("c", here, "flight-sql")
            .expect_err("refused");
        assert!(refusal.contains("from 10.0.0.9"), "{refusal}");
    }

    #[test]
    fn zero_failures_disables_throttling() {
        let throttle = throttle(0);
        let here: IpAddr = "10.0.0.3".parse().expect("address");
        for _ in 0..10 {
            throttle.failed("eve", here, "postgres", "wrong password");
        }
        assert!(throttle.check("eve", here, "postgres").is_ok());
    }
}
