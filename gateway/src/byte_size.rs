//! Sizes in the configuration: a number of bytes (`1073741824`), a number with a unit
//! (`"512MiB"`, `"8GiB"`, `"2GB"`), or a share of the machine's memory (`"50%"`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ByteSize {
    /// Bytes.
    Bytes(u64),
    /// Percent of the machine's memory (the cgroup's limit where one is set).
    PercentOfMemory(f64),
}

impl ByteSize {
    /// The size in bytes, percentages taken of `memory` bytes.
    pub fn bytes(self, memory: u64) -> u64 {
        match self {
            Self::Bytes(n) => n,
            Self::PercentOfMemory(p) => (memory as f64 * p / 100.0) as u64,
        }
    }

    /// Parses `"512MiB"`, `"8GiB"`, `"2GB"`, `"1048576"` or `"50%"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(percent) = text.strip_suffix('%') {
            return match percent.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Ok(Self::PercentOfMemory(p)),
                _ => Err(format!("{text:?}: a percentage must be in (0, 100]")),
            };
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number.parse().map_err(|_| {
            format!("{text:?} is not a size (e.g. 1073741824, \"512MiB\", \"50%\")")
        })?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB or %)"
                ));
            }
        };
        Ok(Self::Bytes((number * scale as f64) as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(n) => write!(f, "{n}"),
            Self::PercentOfMemory(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bytes(n) => serializer.serialize_u64(*n),
            Self::PercentOfMemory(_) => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(u64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(n) => Ok(Self::Bytes(n)),
            Written::Text(text) => Self::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// The memory this process may use: the machine's, or its cgroup's limit if lower.
pub fn machine_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(8 << 30);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    cgroup.map_or(total, |limit| limit.min(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_percentages() {
        assert_eq!(ByteSize::parse("512MiB"), Ok(ByteSize::Bytes(512 << 20)));
        assert_eq!(ByteSize::parse("2 GB"), Ok(ByteSize::Bytes(2_000_000_000)));
        assert_eq!(ByteSize::parse("1.5GiB"), Ok(ByteSize::Bytes(3 << 29)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize::Bytes(4096)));
        assert_eq!(ByteSize::parse("50%"), Ok(ByteSize::PercentOfMemory(50.0)));
        assert_eq!(ByteSize::PercentOfMemory(25.0).bytes(1000), 250);
        assert!(ByteSize::parse("150%").is_err());
        assert!(matches!(
            ByteSize::parse("12 parsecs"),
            Err(message) if message.contains("unknown unit")
        ));
        assert!(ByteSize::parse("lots").is_err());
        assert!(machine_memory() > 0);
    }
}
