//! The load test (`bench/run.sh --load`): every read pattern and single-run writes at
//! once, one wrk per operation so that each gets its own latencies, all sharing the
//! server. A response counts as an error when it is not 2xx, the socket failed or timed
//! out, or its body has GraphQL `errors`.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::patterns::Pattern;

pub struct Operation {
    pub name: String,
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// Shared by both scripts: GraphQL errors counted per thread, summed in `done`.
const COMMON: &str = r#"
local threads = {}
function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end
function init(args)
  gql_errors = 0
  sent = 0
end
function response(status, headers, body)
  if status == 200 and string.find(body, '"errors"', 1, true) then gql_errors = gql_errors + 1 end
end
function done(summary, latency, requests)
  local g = 0
  for _, t in ipairs(threads) do g = g + t:get("gql_errors") end
  local e = summary.errors
  io.write(string.format("LOAD %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout + g))
end
"#;

/// Reads: a random sample body per request.
const READS: &str = r#"
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  return wrk.format(nil, "/graphql", nil, bodies[math.random(#bodies)])
end
"#;

/// Writes: `recordBacktestRun` with a new id per request: the writer's prefix, the
/// thread and a counter make it unique.
const WRITES: &str = r#"
local template = os.getenv("BENCH_WRITE_TEMPLATE")
local prefix = tonumber(os.getenv("BENCH_WRITE_PREFIX"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
function request()
  sent = sent + 1
  local id = string.format("%08x-%04x-7000-8000-%012x", prefix, thread_no, sent)
  return wrk.format(nil, "/graphql", nil, (string.gsub(template, "__ID__", id)))
end
"#;

fn write_template() -> String {
    let config = json!({
        "fast_period": 12, "slow_period": 48, "signal": "sma_cross",
        "risk_management": { "stop_loss": 0.02, "take_profit": 0.06, "max_position": 0.25 },
        "instruments": ["AAPL", "MSFT"],
        "padding": "x".repeat(1500),
    });
    let input = json!({
        "id": "__ID__", "status": "SUCCESS", "strategyName": "Load Test", "strategyType": "trend_following",
        "instrumentSymbol": "AAPL", "dateRangeStart": "2021-01-01", "dateRangeEnd": "2023-12-31",
        "initialCapital": "100000.00", "dataSource": "polygon", "config": config,
        "metrics": { "totalReturn": 0.1834, "sharpeRatio": 1.42, "maxDrawdown": 0.12, "totalTrades": 120,
                     "winningTrades": 70, "losingTrades": 50 },
    });
    json!({
        "query": "mutation Record($input: RecordBacktestRunInput!) { recordBacktestRun(input: $input) { id } }",
        "variables": { "input": input },
    })
    .to_string()
}

fn spawn(dir: &Path, base_url: &str, script: &str, connections: u32, seconds: u32, envs: &[(&str, String)]) -> Child {
    let path = dir.join(format!("mixed-{}.lua", envs.first().map(|(_, v)| slug(v)).unwrap_or_default()));
    std::fs::write(&path, format!("{COMMON}\n{script}")).expect("write wrk script");
    Command::new("wrk")
        .args(["-c", &connections.to_string(), "-t", "1", "-d", &format!("{seconds}s"), "--timeout", "5s", "-s"])
        .arg(&path)
        .arg(base_url)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running wrk (apt-get install wrk)")
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// Runs every pattern and the writes at once for `seconds`, `connections` in all: a
/// quarter for writes, the rest shared by the patterns. `write_prefix` keeps the ids of
/// separate runs apart. Returns one line per operation, writes last.
pub fn run(
    dir: &Path,
    base_url: &str,
    token: &str,
    patterns: &[Pattern],
    connections: u32,
    seconds: u32,
    write_prefix: u32,
) -> Vec<Operation> {
    let write_connections = (connections / 4).max(1);
    let per_pattern = ((connections - write_connections) / patterns.len().max(1) as u32).max(1);
    let mut children = Vec::new();
    for pattern in patterns {
        let bodies = dir.join(format!("mixed-{}.bodies", slug(pattern.name)));
        let lines: Vec<&str> = pattern.samples.iter().map(|s| s.body.as_str()).collect();
        std::fs::write(&bodies, lines.join("\n") + "\n").expect("write bodies");
        let envs = [("BENCH_NAME", pattern.name.to_owned()), ("BENCH_BODIES", bodies.display().to_string())];
        children.push((pattern.name.to_owned(), spawn(dir, base_url, READS, per_pattern, seconds, &envs)));
    }
    let envs = [
        ("BENCH_NAME", "record run".to_owned()),
        ("BENCH_WRITE_TEMPLATE", write_template()),
        ("BENCH_WRITE_PREFIX", write_prefix.to_string()),
        ("BENCH_TOKEN", token.to_owned()),
    ];
    children.push(("recordBacktestRun".to_owned(), spawn(dir, base_url, WRITES, write_connections, seconds, &envs)));
    children
        .into_iter()
        .map(|(name, child)| {
            let out = child.wait_with_output().expect("wrk");
            let (requests, result) = crate::load::summary(&out, "LOAD", &name);
            Operation {
                name,
                requests,
                per_second: result.requests_per_second,
                p50_ms: result.p50_ms,
                p99_ms: result.p99_ms,
                errors: result.errors,
            }
        })
        .collect()
}
