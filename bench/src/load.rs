//! The two load generators: wrk against the server, pgbench against PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::literal;
use crate::patterns::Pattern;

pub struct Load {
    pub connections: u32,
    pub threads: u32,
    pub seconds: u32,
}

pub struct ServerResult {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx responses and socket errors.
    pub errors: u64,
}

/// wrk reads the bodies from a file and sends a random one per request.
const WRK_SCRIPT: &str = r#"
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local token = os.getenv("BENCH_TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
request = function()
  return wrk.format(nil, "/graphql", nil, bodies[math.random(#bodies)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"#;

pub fn wrk(dir: &Path, base_url: &str, pattern: &Pattern, load: &Load) -> ServerResult {
    let script = dir.join("bench.lua");
    std::fs::write(&script, WRK_SCRIPT).expect("write wrk script");
    let bodies = dir.join(format!("{}.bodies", slug(pattern.name)));
    let lines: Vec<&str> = pattern.samples.iter().map(|s| s.body.as_str()).collect();
    std::fs::write(&bodies, lines.join("\n") + "\n").expect("write bodies");
    let out = Command::new("wrk")
        .args(["-c", &load.connections.to_string(), "-t", &load.threads.to_string()])
        .args(["-d", &format!("{}s", load.seconds), "--timeout", "5s", "-s"])
        .arg(&script)
        .arg(base_url)
        .env("BENCH_BODIES", &bodies)
        .output()
        .expect("running wrk (apt-get install wrk)");
    summary(&out, "BENCH", pattern.name).1
}

/// The numbers wrk's `done` callback prints on its `marker` line (requests, duration in
/// µs, p50 and p99 in µs, errors): the request count and the result.
pub fn summary(out: &std::process::Output, marker: &str, what: &str) -> (u64, ServerResult) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{marker} ");
    let line = stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| {
        panic!("wrk ({what}) printed no summary:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
    });
    let n: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse().expect("number")).collect();
    let result = ServerResult {
        requests_per_second: n[0] / (n[1] / 1e6),
        p50_ms: n[2] / 1e3,
        p99_ms: n[3] / 1e3,
        errors: n[4] as u64,
    };
    (n[0] as u64, result)
}

/// pgbench, one script per sample (pgbench picks one at random per transaction), each the
/// statements the server sends for that request. `-M prepared`: each statement is parsed
/// and planned once per connection, as the server's statement cache does.
pub fn pgbench(dir: &Path, bin_dir: &Path, conninfo: &str, pattern: &Pattern, load: &Load) -> f64 {
    let scripts_dir = dir.join(format!("{}.floor", slug(pattern.name)));
    std::fs::create_dir_all(&scripts_dir).expect("scripts dir");
    // Beside the server binaries, or (Debian's wrapper) on PATH.
    let beside = bin_dir.join("pgbench");
    let mut cmd = Command::new(if beside.is_file() { beside } else { PathBuf::from("pgbench") });
    cmd.args(["-n", "-M", "prepared", "-c", &load.connections.to_string(), "-j", &load.threads.to_string()])
        .args(["-T", &load.seconds.to_string()]);
    for (i, sample) in pattern.samples.iter().enumerate() {
        let file: PathBuf = scripts_dir.join(format!("{i}.sql"));
        let statements: Vec<String> = sample.floor.iter().map(|s| format!("{};\n", literal::inline(s))).collect();
        std::fs::write(&file, statements.concat()).expect("write script");
        cmd.arg("-f").arg(&file);
    }
    cmd.arg(conninfo);
    let out = cmd.output().expect("running pgbench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()?.parse().ok()))
        .unwrap_or_else(|| panic!("pgbench printed no tps:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}
