//! Synthetic but realistic runs, deterministic for a seed: the demo data of `serve --demo`.
//!
//! Several strategies (skewed: a few are run far more often), instruments, ~93% success /
//! 5% failed / 2% interrupted, metrics for successful runs only (a few with NULL fields),
//! and ~3% re-runs of an earlier run with the same config.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tearsheet_entity::RunStatus;
use uuid::Uuid;

use crate::store::record::{NewMetrics, NewRun};

/// (name, type, relative weight)
pub const STRATEGIES: [(&str, &str, u32); 8] = [
    ("SMA Crossover", "trend_following", 30),
    ("EMA Crossover", "trend_following", 20),
    ("RSI Mean Reversion", "mean_reversion", 15),
    ("Bollinger Breakout", "breakout", 12),
    ("MACD Momentum", "momentum", 10),
    ("Donchian Channel", "trend_following", 6),
    ("VWAP Reversion", "mean_reversion", 4),
    ("Pairs Trading", "statistical_arbitrage", 3),
];

pub const INSTRUMENTS: [&str; 50] = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "BRK.B", "JPM", "V", "JNJ", "WMT", "PG", "MA", "UNH",
    "HD", "DIS", "BAC", "XOM", "KO", "PEP", "CSCO", "ORCL", "INTC", "AMD", "NFLX", "ADBE", "CRM", "NKE", "MCD", "SPY",
    "QQQ", "IWM", "DIA", "GLD", "SLV", "TLT", "EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "BTCUSD", "ETHUSD", "ES", "NQ",
    "CL", "GC", "ZN", "VIX", "EEM",
];

pub const DATA_SOURCES: [&str; 4] = ["polygon", "yahoo", "interactive_brokers", "local_csv"];

/// SplitMix64: tiny, fast, and good enough for synthetic data; no dependency for it.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Normal(mean, sd), Box–Muller.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// A version-4 UUID from this generator's bits.
    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// For config values: JSON numbers, not the strings a `Decimal` serializes to.
fn round(x: f64, dp: i32) -> f64 {
    let f = 10f64.powi(dp);
    (x * f).round() / f
}

fn dec(x: f64, dp: u32) -> Decimal {
    Decimal::from_f64_retain(x).unwrap_or_default().round_dp(dp)
}

/// Generates `count` runs with `created_at` spread over the `span` before `end`, oldest
/// first. Re-runs point only at runs generated before them.
pub fn runs(seed: u64, count: usize, end: DateTime<Utc>, span: Duration) -> Vec<NewRun> {
    let mut rng = Rng::new(seed);
    let total_weight: u32 = STRATEGIES.iter().map(|s| s.2).sum();
    let step = span.num_seconds().max(1) / count.max(1) as i64;
    let start = end - span;
    let mut out: Vec<NewRun> = Vec::with_capacity(count);
    for i in 0..count {
        let created_at = start + Duration::seconds(step * i as i64 + rng.range(0, step.max(1) - 1));
        let rerun_of = (i > 10 && rng.unit() < 0.03).then(|| out[rng.range(0, i as i64 - 1) as usize].clone());
        let (name, kind) = weighted_strategy(&mut rng, total_weight);
        let symbol = *rng.pick(&INSTRUMENTS);
        let (strategy_name, strategy_type, instrument_symbol, config, date_range_start, date_range_end) =
            match &rerun_of {
                Some(orig) => (
                    orig.strategy_name.clone(),
                    orig.strategy_type.clone(),
                    orig.instrument_symbol.clone(),
                    orig.config.clone(),
                    orig.date_range_start,
                    orig.date_range_end,
                ),
                None => {
                    let fast = rng.range(5, 50);
                    let config = json!({
                        "fast_period": fast,
                        "slow_period": fast + rng.range(10, 150),
                        "signal_threshold": round(rng.unit() * 0.05, 4),
                        "risk_management": {
                            "stop_loss": round(0.01 + rng.unit() * 0.04, 3),
                            "take_profit": round(0.02 + rng.unit() * 0.1, 3),
                            "max_position_size": rng.range(1, 50) * 100,
                        },
                        "instruments": [symbol],
                        "timeframe": rng.pick(&["1m", "5m", "1h", "1d"]),
                        "commission": 0.001,
                        "seed": rng.range(1, 5),
                    });
                    let year = rng.range(2015, 2022) as i32;
                    let start = NaiveDate::from_ymd_opt(year, rng.range(1, 12) as u32, 1).unwrap_or_default();
                    let end = start + Duration::days(rng.range(180, 1500));
                    (name.to_owned(), kind.to_owned(), symbol.to_owned(), config.into(), start, end)
                }
            };
        let roll = rng.unit();
        let status = if roll < 0.93 {
            RunStatus::Success
        } else if roll < 0.98 {
            RunStatus::Failed
        } else {
            RunStatus::Interrupted
        };
        let duration = rng.range(2, 3600) as i32;
        let metrics = (status == RunStatus::Success).then(|| metrics(&mut rng));
        out.push(NewRun {
            id: rng.uuid(),
            created_at,
            created_at_given: true,
            completed_at: Some(created_at + Duration::seconds(i64::from(duration))),
            duration_seconds: Some(duration),
            status,
            strategy_name,
            strategy_type,
            instrument_symbol,
            date_range_start,
            date_range_end,
            initial_capital: Decimal::from(*rng.pick(&[10_000i64, 50_000, 100_000, 250_000, 1_000_000])),
            data_source: (*rng.pick(&DATA_SOURCES)).to_owned(),
            config,
            error_message: match status {
                RunStatus::Failed => Some(
                    (*rng.pick(&[
                        "data feed returned no bars for the requested range",
                        "division by zero in position sizing",
                        "broker simulator rejected order: insufficient margin",
                    ]))
                    .to_owned(),
                ),
                RunStatus::Interrupted => Some("interrupted by user".to_owned()),
                RunStatus::Success => None,
            },
            original_run_id: rerun_of.map(|o| o.id),
            metrics,
        });
    }
    out
}

fn weighted_strategy(rng: &mut Rng, total_weight: u32) -> (&'static str, &'static str) {
    let mut w = rng.range(0, i64::from(total_weight) - 1) as u32;
    for (name, kind, weight) in STRATEGIES {
        if w < weight {
            return (name, kind);
        }
        w -= weight;
    }
    (STRATEGIES[0].0, STRATEGIES[0].1)
}

fn metrics(rng: &mut Rng) -> NewMetrics {
    let total_trades = rng.range(0, 400) as i32;
    let winning = (f64::from(total_trades) * (0.3 + rng.unit() * 0.4)).round() as i32;
    let losing = total_trades - winning - (rng.range(0, 2) as i32).min(total_trades - winning);
    // Too few trades for a meaningful ratio: engines report no Sharpe/Sortino then.
    let few_trades = total_trades < 5;
    let ret = rng.normal(0.08, 0.3).clamp(-0.95, 5.0);
    NewMetrics {
        total_return: Some(dec(ret, 4)),
        cagr: Some(dec(ret / (1.0 + rng.unit() * 4.0), 4)),
        sharpe_ratio: (!few_trades).then(|| dec(rng.normal(0.8, 0.7).clamp(-5.0, 6.0), 4)),
        sortino_ratio: (!few_trades).then(|| dec(rng.normal(1.1, 0.9).clamp(-5.0, 9.0), 4)),
        max_drawdown: Some(dec(0.02 + rng.unit() * 0.5, 4)),
        volatility: Some(dec(0.05 + rng.unit() * 0.5, 4)),
        total_trades: Some(total_trades),
        winning_trades: Some(winning),
        losing_trades: Some(losing),
        win_rate: (total_trades > 0).then(|| dec(f64::from(winning) / f64::from(total_trades), 4)),
        profit_factor: (losing > 0).then(|| dec(0.5 + rng.unit() * 2.5, 4)),
        avg_win_amount: Some(dec(50.0 + rng.unit() * 2000.0, 2)),
        avg_loss_amount: Some(dec(-(40.0 + rng.unit() * 1500.0), 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_runs() {
        let end = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        let a = runs(7, 200, end, Duration::days(90));
        assert_eq!(a, runs(7, 200, end, Duration::days(90)));
        assert_ne!(a, runs(8, 200, end, Duration::days(90)));
    }

    #[test]
    fn runs_are_varied_and_consistent() {
        let end = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        let all = runs(1, 2000, end, Duration::days(90));
        let strategies: std::collections::HashSet<_> = all.iter().map(|r| &r.strategy_name).collect();
        assert!(strategies.len() >= 6);
        assert!(all.iter().any(|r| r.status == RunStatus::Failed && r.metrics.is_none()));
        assert!(all.iter().any(|r| r.original_run_id.is_some()));
        assert!(all.iter().any(|r| r.metrics.as_ref().is_some_and(|m| m.sharpe_ratio.is_none())));
        for r in &all {
            assert!(r.date_range_end >= r.date_range_start);
            if let Some(m) = &r.metrics {
                let (t, w, l) =
                    (m.total_trades.unwrap_or(0), m.winning_trades.unwrap_or(0), m.losing_trades.unwrap_or(0));
                assert!(w >= 0 && l >= 0 && w + l <= t, "{t} {w} {l}");
            }
            if let Some(orig) = r.original_run_id {
                let o = all.iter().find(|x| x.id == orig).expect("re-runs point at generated runs");
                assert!(o.created_at <= r.created_at);
            }
        }
    }
}
