//! `PerformanceMetrics`, and its input.

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, Enum, InputObject, Object};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use tearsheet_entity::performance_metrics;

use super::direct::{self, Direct};
use crate::error::{ApiError, Result};
use crate::store::metrics::{Metric, MetricRange};
use crate::store::record::NewMetrics;

/// A metric that filters, groups and objectives can name.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MetricField {
    TotalReturn,
    Cagr,
    SharpeRatio,
    SortinoRatio,
    MaxDrawdown,
    Volatility,
    WinRate,
    ProfitFactor,
}

impl From<MetricField> for Metric {
    fn from(field: MetricField) -> Self {
        match field {
            MetricField::TotalReturn => Metric::TotalReturn,
            MetricField::Cagr => Metric::Cagr,
            MetricField::SharpeRatio => Metric::SharpeRatio,
            MetricField::SortinoRatio => Metric::SortinoRatio,
            MetricField::MaxDrawdown => Metric::MaxDrawdown,
            MetricField::Volatility => Metric::Volatility,
            MetricField::WinRate => Metric::WinRate,
            MetricField::ProfitFactor => Metric::ProfitFactor,
        }
    }
}

impl From<Metric> for MetricField {
    fn from(metric: Metric) -> Self {
        match metric {
            Metric::TotalReturn => MetricField::TotalReturn,
            Metric::Cagr => MetricField::Cagr,
            Metric::SharpeRatio => MetricField::SharpeRatio,
            Metric::SortinoRatio => MetricField::SortinoRatio,
            Metric::MaxDrawdown => MetricField::MaxDrawdown,
            Metric::Volatility => MetricField::Volatility,
            Metric::WinRate => MetricField::WinRate,
            Metric::ProfitFactor => MetricField::ProfitFactor,
        }
    }
}

/// Both bounds inclusive; a run without the metric never matches.
#[derive(InputObject, Clone, Copy, Debug)]
#[graphql(name = "MetricRange")]
pub struct MetricRangeInput {
    pub metric: MetricField,
    pub gte: Option<f64>,
    pub lte: Option<f64>,
}

impl From<MetricRangeInput> for MetricRange {
    fn from(range: MetricRangeInput) -> Self {
        MetricRange { metric: range.metric.into(), gte: range.gte, lte: range.lte }
    }
}

pub struct PerformanceMetrics(pub performance_metrics::Model);

fn float(d: Option<Decimal>) -> Option<f64> {
    d.and_then(|d| d.to_f64())
}

#[Object]
impl PerformanceMetrics {
    async fn total_return(&self) -> Option<f64> {
        float(self.0.total_return)
    }
    async fn cagr(&self) -> Option<f64> {
        float(self.0.cagr)
    }
    async fn sharpe_ratio(&self) -> Option<f64> {
        float(self.0.sharpe_ratio)
    }
    async fn sortino_ratio(&self) -> Option<f64> {
        float(self.0.sortino_ratio)
    }
    async fn max_drawdown(&self) -> Option<f64> {
        float(self.0.max_drawdown)
    }
    async fn volatility(&self) -> Option<f64> {
        float(self.0.volatility)
    }
    async fn total_trades(&self) -> Option<i32> {
        self.0.total_trades
    }
    async fn winning_trades(&self) -> Option<i32> {
        self.0.winning_trades
    }
    async fn losing_trades(&self) -> Option<i32> {
        self.0.losing_trades
    }
    async fn win_rate(&self) -> Option<f64> {
        float(self.0.win_rate)
    }
    async fn profit_factor(&self) -> Option<f64> {
        float(self.0.profit_factor)
    }
    async fn avg_win_amount(&self) -> Option<Decimal> {
        self.0.avg_win_amount
    }
    async fn avg_loss_amount(&self) -> Option<Decimal> {
        self.0.avg_loss_amount
    }
}

impl Direct for performance_metrics::Model {
    const TYPE_NAME: &'static str = "PerformanceMetrics";

    fn write_field(&self, _: &ContextSelectionSet<'_>, field: &Field, out: &mut Vec<u8>) -> bool {
        let m = self;
        match field.name.node.as_str() {
            "totalReturn" => direct::number(out, float(m.total_return)),
            "cagr" => direct::number(out, float(m.cagr)),
            "sharpeRatio" => direct::number(out, float(m.sharpe_ratio)),
            "sortinoRatio" => direct::number(out, float(m.sortino_ratio)),
            "maxDrawdown" => direct::number(out, float(m.max_drawdown)),
            "volatility" => direct::number(out, float(m.volatility)),
            "totalTrades" => direct::number(out, m.total_trades),
            "winningTrades" => direct::number(out, m.winning_trades),
            "losingTrades" => direct::number(out, m.losing_trades),
            "winRate" => direct::number(out, float(m.win_rate)),
            "profitFactor" => direct::number(out, float(m.profit_factor)),
            "avgWinAmount" => direct::optional_string(out, m.avg_win_amount.map(|d| d.to_string()).as_deref()),
            "avgLossAmount" => direct::optional_string(out, m.avg_loss_amount.map(|d| d.to_string()).as_deref()),
            _ => return false,
        }
        true
    }
}

/// Metrics of a run. Floats are stored in their column's precision: rounded to 4 decimals
/// (half away from zero), and refused when out of the column's range. The two amounts are
/// exact decimals and are refused with more than 2 decimals (money is never rounded).
/// NaN and infinities are refused.
#[derive(InputObject, Clone, Debug, Default)]
pub struct PerformanceMetricsInput {
    /// NUMERIC(10,4): |x| < 1,000,000.
    pub total_return: Option<f64>,
    /// NUMERIC(10,4): |x| < 1,000,000.
    pub cagr: Option<f64>,
    /// NUMERIC(8,4): |x| < 10,000.
    pub sharpe_ratio: Option<f64>,
    /// NUMERIC(8,4): |x| < 10,000.
    pub sortino_ratio: Option<f64>,
    /// NUMERIC(10,4): |x| < 1,000,000.
    pub max_drawdown: Option<f64>,
    /// NUMERIC(10,4): |x| < 1,000,000.
    pub volatility: Option<f64>,
    /// Zero or more.
    pub total_trades: Option<i32>,
    /// Zero or more; winningTrades + losingTrades <= totalTrades.
    pub winning_trades: Option<i32>,
    /// Zero or more.
    pub losing_trades: Option<i32>,
    /// In [0, 1].
    pub win_rate: Option<f64>,
    /// NUMERIC(10,4): |x| < 1,000,000.
    pub profit_factor: Option<f64>,
    /// NUMERIC(20,2): at most 2 decimals, |x| < 10^18.
    pub avg_win_amount: Option<Decimal>,
    /// NUMERIC(20,2): at most 2 decimals, |x| < 10^18.
    pub avg_loss_amount: Option<Decimal>,
}

/// Whether `d` fits NUMERIC(precision, scale) as it is: at most `scale` decimals and
/// fewer than `precision - scale` integer digits. Exact values are never rounded.
pub fn decimal_in_column(field: &str, d: Decimal, precision: u32, scale: u32) -> Result<Decimal> {
    let d = d.normalize();
    if d.scale() > scale {
        return Err(ApiError::bad_input(field, format!("{field} must have at most {scale} decimals, got {d}")));
    }
    if d.abs() >= Decimal::from(10u64.pow(precision - scale)) {
        return Err(ApiError::bad_input(
            field,
            format!("{field} must be less than 10^{} in absolute value, got {d}", precision - scale),
        ));
    }
    Ok(d)
}

/// A float as the NUMERIC(precision, 4) column will hold it: rounded to 4 decimals half
/// away from zero (as PostgreSQL rounds), or refused when not finite or out of range.
fn float_in_column(field: &str, f: f64, precision: u32) -> Result<Decimal> {
    let limit = 10f64.powi((precision - 4) as i32);
    if !f.is_finite() {
        return Err(ApiError::bad_input(field, format!("{field} must be a finite number")));
    }
    let out_of_range =
        || ApiError::bad_input(field, format!("{field} must be less than {limit} in absolute value, got {f}"));
    if f.abs() >= limit {
        return Err(out_of_range());
    }
    let d = if f.abs() < 0.00005 {
        Decimal::ZERO
    } else {
        Decimal::from_f64_retain(f)
            .ok_or_else(out_of_range)?
            .round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    };
    // Rounding can carry into the next power of ten (9999.99996 → 10000.0000).
    if d.abs() >= Decimal::from(10u64.pow(precision - 4)) {
        return Err(out_of_range());
    }
    Ok(d.normalize())
}

impl PerformanceMetricsInput {
    pub fn validate(&self) -> Result<NewMetrics> {
        let float = |name: &str, v: Option<f64>, precision: u32| {
            v.map(|f| float_in_column(&format!("metrics.{name}"), f, precision)).transpose()
        };
        let amount = |name: &str, v: Option<Decimal>| {
            v.map(|d| decimal_in_column(&format!("metrics.{name}"), d, 20, 2)).transpose()
        };
        for (name, count) in [
            ("totalTrades", self.total_trades),
            ("winningTrades", self.winning_trades),
            ("losingTrades", self.losing_trades),
        ] {
            if count.is_some_and(|n| n < 0) {
                return Err(ApiError::bad_input(
                    format!("metrics.{name}"),
                    format!("metrics.{name} must not be negative"),
                ));
            }
        }
        if let (Some(total), Some(won), Some(lost)) = (self.total_trades, self.winning_trades, self.losing_trades)
            && i64::from(won) + i64::from(lost) > i64::from(total)
        {
            return Err(ApiError::bad_input(
                "metrics.winningTrades",
                format!("metrics: winningTrades + losingTrades ({won} + {lost}) must not exceed totalTrades ({total})"),
            ));
        }
        let win_rate = float("winRate", self.win_rate, 5)?;
        if win_rate.is_some_and(|w| w < Decimal::ZERO || w > Decimal::ONE) {
            return Err(ApiError::bad_input("metrics.winRate", "metrics.winRate must be between 0 and 1"));
        }
        Ok(NewMetrics {
            total_return: float("totalReturn", self.total_return, 10)?,
            cagr: float("cagr", self.cagr, 10)?,
            sharpe_ratio: float("sharpeRatio", self.sharpe_ratio, 8)?,
            sortino_ratio: float("sortinoRatio", self.sortino_ratio, 8)?,
            max_drawdown: float("maxDrawdown", self.max_drawdown, 10)?,
            volatility: float("volatility", self.volatility, 10)?,
            total_trades: self.total_trades,
            winning_trades: self.winning_trades,
            losing_trades: self.losing_trades,
            win_rate,
            profit_factor: float("profitFactor", self.profit_factor, 10)?,
            avg_win_amount: amount("avgWinAmount", self.avg_win_amount)?,
            avg_loss_amount: amount("avgLossAmount", self.avg_loss_amount)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn floats_round_to_four_decimals_half_away_from_zero_within_range() {
        assert_eq!(float_in_column("x", 1.23456, 8).expect("ok"), dec("1.2346"));
        assert_eq!(float_in_column("x", -1.23455, 8).expect("ok"), dec("-1.2346"));
        assert_eq!(float_in_column("x", 0.1, 10).expect("ok"), dec("0.1"));
        assert_eq!(float_in_column("x", 1e-30, 10).expect("ok"), Decimal::ZERO);
        assert_eq!(float_in_column("x", 9999.9999, 8).expect("ok"), dec("9999.9999"));
        for bad in [10_000.0, 9999.99996, -1e300, f64::NAN, f64::INFINITY] {
            assert_eq!(float_in_column("x", bad, 8).expect_err("refused").code(), "BAD_USER_INPUT", "{bad}");
        }
    }

    #[test]
    fn exact_decimals_are_refused_rather_than_rounded() {
        assert_eq!(decimal_in_column("a", dec("512.250"), 20, 2).expect("trailing zeros are fine"), dec("512.25"));
        assert!(decimal_in_column("a", dec("512.255"), 20, 2).is_err());
        assert!(decimal_in_column("a", dec("999999999999999999.99"), 20, 2).is_ok());
        assert!(decimal_in_column("a", dec("1000000000000000000"), 20, 2).is_err());
    }
}
