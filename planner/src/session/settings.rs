//! Session parameters that clients SET, RESET and SHOW, with PostgreSQL's names.
//!
//! The gateway emulates PostgreSQL 16: drivers branch on `server_version`, and 16 is
//! the oldest version every current driver treats as fully featured.

use std::collections::BTreeMap;

use crate::{ErrorKind, QueryError, Result};

use lakegate_pg_compat::{SERVER_VERSION, SERVER_VERSION_NUM};

/// One known parameter: its canonical name, default and whether clients may change it.
struct Known {
    name: &'static str,
    default: &'static str,
    settable: bool,
    description: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        name: "gateway.cache",
        default: "on",
        settable: true,
        description: "Serves results from the results cache, and keeps them there (off: every query runs).",
    },
    Known {
        name: "gateway.distributed",
        default: "auto",
        settable: true,
        description: "Where queries run when distributed workers are configured: auto (on the \
                      workers when the estimate reaches [distributed] threshold_bytes), on \
                      (on the workers whenever the plan can be shipped), off (on this gateway).",
    },
    Known {
        name: "gateway.dry_run",
        default: "off",
        settable: true,
        description: "Returns each query's estimate (bytes and files to scan) instead of its rows.",
    },
    Known {
        name: "gateway.show_cost",
        default: "off",
        settable: true,
        description: "Sends each query's metered cost to the client as a NOTICE.",
    },
    Known {
        name: "application_name",
        default: "",
        settable: true,
        description: "Sets the application name to be reported in statistics and logs.",
    },
    Known {
        name: "client_encoding",
        default: "UTF8",
        settable: true,
        description: "Sets the client's character set encoding (only UTF8 is supported).",
    },
    Known {
        name: "DateStyle",
        default: "ISO, MDY",
        settable: true,
        description: "Sets the display format for date and time values.",
    },
    Known {
        name: "default_transaction_isolation",
        default: "read committed",
        settable: true,
        description: "Sets the transaction isolation level of each new transaction.",
    },
    Known {
        name: "default_transaction_read_only",
        default: "off",
        settable: false,
        description: "Off: INSERT and CREATE TABLE [AS] write into Iceberg tables, each \
                      committing when its statement ends.",
    },
    Known {
        name: "extra_float_digits",
        default: "1",
        settable: true,
        description: "Sets the number of digits displayed for floating-point values.",
    },
    Known {
        name: "integer_datetimes",
        default: "on",
        settable: false,
        description: "Datetimes are integer based.",
    },
    Known {
        name: "IntervalStyle",
        default: "postgres",
        settable: true,
        description: "Sets the display format for interval values.",
    },
    Known {
        name: "is_superuser",
        default: "off",
        settable: false,
        description: "Whether the current user is a superuser.",
    },
    Known {
        name: "max_identifier_length",
        default: "63",
        settable: false,
        description: "Shows the maximum identifier length.",
    },
    Known {
        name: "search_path",
        default: "",
        settable: true,
        description: "Sets the schema search order: schema or catalog.schema entries.",
    },
    Known {
        name: "server_encoding",
        default: "UTF8",
        settable: false,
        description: "Shows the server (database) character set encoding.",
    },
    Known {
        name: "server_version",
        default: SERVER_VERSION,
        settable: false,
        description: "Shows the server version.",
    },
    Known {
        name: "server_version_num",
        default: SERVER_VERSION_NUM,
        settable: false,
        description: "Shows the server version as an integer.",
    },
    Known {
        name: "standard_conforming_strings",
        default: "on",
        settable: true,
        description: "Causes '...' strings to treat backslashes literally.",
    },
    Known {
        name: "statement_timeout",
        default: "0",
        settable: true,
        description: "Sets the maximum allowed duration of any statement.",
    },
    Known {
        name: "TimeZone",
        default: "UTC",
        settable: true,
        description: "Sets the time zone for displaying and interpreting time stamps.",
    },
    Known {
        name: "transaction_isolation",
        default: "read committed",
        settable: true,
        description: "Sets the current transaction's isolation level.",
    },
    Known {
        name: "transaction_read_only",
        default: "off",
        settable: false,
        description: "Off: INSERT and CREATE TABLE [AS] write into Iceberg tables, each \
                      committing when its statement ends.",
    },
];

fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}

/// The current values of a session's parameters.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    values: BTreeMap<&'static str, String>,
    /// Custom two-part parameters (`myapp.x`), as PostgreSQL allows.
    custom: BTreeMap<String, String>,
    defaults: BTreeMap<&'static str, String>,
    /// Changes with every change of any value, unique in the process: what planned
    /// statements remember the settings they were planned under by.
    generation: u64,
}

/// The source of settings generations.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Settings {
    /// The generation of the current values: equal generations, equal values.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn new(search_path: &str) -> Self {
        let mut defaults: BTreeMap<&'static str, String> = KNOWN
            .iter()
            .map(|k| (k.name, k.default.to_string()))
            .collect();
        defaults.insert("search_path", search_path.to_string());
        Self {
            values: defaults.clone(),
            custom: BTreeMap::new(),
            defaults,
            generation: next_generation(),
        }
    }

    /// The value of a parameter, by any capitalisation.
    pub(crate) fn get(&self, name: &str) -> Result<String> {
        if let Some(k) = known(name) {
            return Ok(self.values.get(k.name).cloned().unwrap_or_default());
        }
        self.custom
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| unrecognized(name))
    }

    /// The canonical spelling of a known parameter (for SHOW's column name).
    pub(crate) fn canonical(name: &str) -> String {
        known(name)
            .map(|k| k.name.to_ascii_lowercase())
            .unwrap_or_else(|| name.to_ascii_lowercase())
    }

    /// Sets a parameter after validating its value.
    pub(crate) fn set(&mut self, name: &str, value: String) -> Result<()> {
        let Some(k) = known(name) else {
            if name.contains('.') {
                self.custom.insert(name.to_ascii_lowercase(), value);
                self.generation = next_generation();
                return Ok(());
            }
            return Err(unrecognized(name));
        };
        if !k.settable {
            return Err(QueryError::new(
                ErrorKind::FeatureNotSupported,
                format!("parameter \"{}\" cannot be changed", k.name),
            ));
        }
        let value = validate(k.name, value)?;
        self.values.insert(k.name, value);
        self.generation = next_generation();
        Ok(())
    }

    /// Resets one parameter to its default.
    pub(crate) fn reset(&mut self, name: &str) -> Result<()> {
        self.generation = next_generation();
        match known(name) {
            Some(k) => {
                let default = self.defaults.get(k.name).cloned().unwrap_or_default();
                self.values.insert(k.name, default);
                Ok(())
            }
            None if self.custom.remove(&name.to_ascii_lowercase()).is_some() => Ok(()),
            None if name.contains('.') => Ok(()),
            None => Err(unrecognized(name)),
        }
    }

    /// Resets everything (RESET ALL, DISCARD ALL).
    pub(crate) fn reset_all(&mut self) {
        self.values = self.defaults.clone();
        self.custom.clear();
        self.generation = next_generation();
    }

    /// Every parameter with its value and description, for SHOW ALL.
    pub(crate) fn all(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<_> = KNOWN
            .iter()
            .map(|k| {
                (
                    k.name.to_string(),
                    self.values.get(k.name).cloned().unwrap_or_default(),
                    k.description.to_string(),
                )
            })
            .collect();
        rows.extend(
            self.custom
                .iter()
                .map(|(k, v)| (k.clone(), v.clone(), String::new())),
        );
        rows
    }
}

fn unrecognized(name: &str) -> QueryError {
    QueryError::new(
        ErrorKind::UndefinedObject,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

fn invalid(name: &str, value: &str, expected: &str) -> QueryError {
    QueryError::new(
        ErrorKind::InvalidParameterValue,
        format!("invalid value for parameter \"{name}\": \"{value}\" ({expected})"),
    )
}

fn validate(name: &'static str, value: String) -> Result<String> {
    match name {
        "client_encoding" => {
            let v = value.to_ascii_uppercase().replace('-', "");
            if v == "UTF8" || v == "UNICODE" {
                Ok("UTF8".into())
            } else {
                Err(invalid(name, &value, "only UTF8 is supported"))
            }
        }
        "gateway.show_cost" | "gateway.dry_run" | "gateway.cache" => {
            match value.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Ok("on".into()),
                "off" | "false" | "no" | "0" => Ok("off".into()),
                _ => Err(invalid(name, &value, "on or off")),
            }
        }
        "gateway.distributed" => match value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok("on".into()),
            "off" | "false" | "no" | "0" => Ok("off".into()),
            "auto" => Ok("auto".into()),
            _ => Err(invalid(name, &value, "on, off or auto")),
        },
        "extra_float_digits" => match value.parse::<i32>() {
            Ok(v) if (-15..=3).contains(&v) => Ok(v.to_string()),
            _ => Err(invalid(name, &value, "an integer from -15 to 3")),
        },
        "standard_conforming_strings" => match value.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => Ok("on".into()),
            _ => Err(invalid(name, &value, "only on is supported")),
        },
        "statement_timeout" => parse_duration_ms(&value)
            .map(|ms| ms.to_string())
            .ok_or_else(|| invalid(name, &value, "a duration such as 5000, '5s' or '1min'")),
        "transaction_isolation" | "default_transaction_isolation" => {
            let level = value.trim().to_ascii_lowercase().replace('_', " ");
            match level.as_str() {
                "read uncommitted" | "read committed" | "repeatable read" | "serializable" => {
                    Ok(level)
                }
                _ => Err(invalid(
                    name,
                    &value,
                    "read uncommitted, read committed, repeatable read or serializable",
                )),
            }
        }
        "TimeZone" => {
            if value.eq_ignore_ascii_case("utc")
                || value.eq_ignore_ascii_case("gmt")
                || value.eq_ignore_ascii_case("etc/utc")
                || value == "Z"
            {
                Ok("UTC".into())
            } else {
                Err(invalid(name, &value, "only UTC is supported"))
            }
        }
        _ => Ok(value),
    }
}

/// Parses PostgreSQL duration text (milliseconds by default) into milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset() {
        let mut s = Settings::new("tpch");
        assert_eq!(s.get("SEARCH_PATH").expect("known"), "tpch");
        s.set("datestyle", "ISO, DMY".into()).expect("set");
        assert_eq!(s.get("DateStyle").expect("known"), "ISO, DMY");
        s.reset("DATESTYLE").expect("reset");
        assert_eq!(s.get("datestyle").expect("known"), "ISO, MDY");
        s.set("statement_timeout", "2s".into()).expect("set");
        assert_eq!(s.get("statement_timeout").expect("known"), "2000");
        s.set("myapp.user_id", "7".into()).expect("custom");
        assert_eq!(s.get("MYAPP.USER_ID").expect("custom"), "7");
        s.reset_all();
        assert!(s.get("myapp.user_id").is_err());
    }

    #[test]
    fn rejects_unknown_and_read_only() {
        let mut s = Settings::new("tpch");
        assert_eq!(
            s.set("nope", "1".into()).expect_err("unknown").kind,
            ErrorKind::UndefinedObject
        );
        assert_eq!(
            s.set("server_version", "1".into()).expect_err("ro").kind,
            ErrorKind::FeatureNotSupported
        );
        assert_eq!(
            s.set("client_encoding", "LATIN1".into())
                .expect_err("enc")
                .kind,
            ErrorKind::InvalidParameterValue
        );
    }
}
