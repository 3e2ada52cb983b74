//! Shared helpers: inputs for `recordBacktestRun`.

use serde_json::{Value, json};
use tearsheet_tests::TestApp;

pub const RECORD: &str = "mutation Record($input: RecordBacktestRunInput!) {
    recordBacktestRun(input: $input) { id createdAt }
}";

/// A valid input; tests override what they look at.
pub fn run_input(overrides: Value) -> Value {
    let mut input = json!({
        "status": "SUCCESS",
        "strategyName": "SMA Crossover",
        "strategyType": "trend_following",
        "instrumentSymbol": "AAPL",
        "dateRangeStart": "2020-01-01",
        "dateRangeEnd": "2023-12-31",
        "initialCapital": "100000.00",
        "dataSource": "polygon",
        "config": { "fast_period": 10, "slow_period": 50 },
    });
    if let (Some(base), Some(extra)) = (input.as_object_mut(), overrides.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    input
}

/// Records a run and returns its id.
pub async fn record(app: &TestApp, overrides: Value) -> String {
    let data = app.data(RECORD, json!({ "input": run_input(overrides) })).await;
    data["recordBacktestRun"]["id"].as_str().expect("id").to_owned()
}
