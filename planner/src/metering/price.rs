//! The price list that turns a query's figures into cost units.

use serde::{Deserialize, Serialize};

use super::figures::QueryFigures;

/// Prices per unit of work, in a currency or unit the operator chooses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceList {
    /// What cost figures are in (`USD`, `credits`…).
    pub unit: String,
    /// Per terabyte (10^12 bytes) read from storage, data and metadata.
    pub per_tb_scanned: f64,
    /// Per hour of CPU time of the query's operators.
    pub per_cpu_hour: f64,
}

impl Default for PriceList {
    /// Athena's on-demand price per TB scanned, and an on-demand vCPU-hour.
    fn default() -> Self {
        Self {
            unit: "USD".into(),
            per_tb_scanned: 5.0,
            per_cpu_hour: 0.05,
        }
    }
}

impl PriceList {
    /// The cost of a query's figures.
    pub fn cost(&self, figures: &QueryFigures) -> f64 {
        let scanned = (figures.bytes_scanned + figures.metadata_bytes) as f64 / 1e12;
        let cpu_hours = figures.cpu_ms / 3_600_000.0;
        scanned * self.per_tb_scanned + cpu_hours * self.per_cpu_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_adds_scan_and_cpu() {
        let prices = PriceList::default();
        let figures = QueryFigures {
            bytes_scanned: 2_000_000_000_000,
            metadata_bytes: 0,
            cpu_ms: 3_600_000.0,
            ..QueryFigures::default()
        };
        assert!((prices.cost(&figures) - 10.05).abs() < 1e-9);
    }
}
