//! `--instructions N`: the server's instructions per request, counted by callgrind.
//!
//! Requests per second on these shared 2-core machines move by ±10% between two runs of
//! the same binary, which hides any change worth less than that. callgrind counts the
//! instructions the server executes in user space (kernel time, system calls and waiting
//! are not in it) and gives the same count for the same binary and requests to within
//! ~1%. The server runs under `valgrind --tool=callgrind`; for each pattern the bench
//! sends every sample once (warm-up, and the check that each succeeds), zeroes the
//! counters (`callgrind_control --zero`), sends N requests one after another on one
//! connection, and dumps the counters (`callgrind_control --dump`): their total over N.
//! The dump files stay in the bench directory for `callgrind_annotate`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::load::slug;
use crate::patterns::Pattern;
use crate::server::Server;

/// Where callgrind writes: `<dir>/callgrind.out`, and each dump as `callgrind.out.<k>`.
pub fn wrapper(dir: &Path) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}", dir.join("callgrind.out").display()),
    ]
}

/// Fails early, with what to install, when valgrind is missing.
pub fn check_tools() {
    for tool in ["valgrind", "callgrind_control"] {
        let found = Command::new(tool).arg("--help").output().is_ok();
        assert!(found, "--instructions needs {tool} (apt-get install valgrind)");
    }
}

/// One row per pattern: (name, instructions per request).
pub async fn measure(server: &Server, dir: &Path, patterns: &[Pattern], requests: usize) -> Vec<(&'static str, f64)> {
    let client = reqwest::Client::new();
    let mut rows = Vec::new();
    for pattern in patterns {
        eprintln!("{}: instructions", pattern.name);
        for sample in &pattern.samples {
            server.query_ok(&client, &sample.body).await;
        }
        control(server.pid(), "--zero");
        for sample in pattern.samples.iter().cycle().take(requests) {
            server.query_ok(&client, &sample.body).await;
        }
        control(server.pid(), &format!("--dump={}", slug(pattern.name)));
        let total = totals(&latest_dump(dir));
        rows.push((pattern.name, total as f64 / requests as f64));
    }
    rows
}

fn control(pid: u32, what: &str) {
    let out = Command::new("callgrind_control").arg(what).arg(pid.to_string()).output().expect("callgrind_control");
    assert!(out.status.success(), "callgrind_control {what}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The dump with the highest number (`callgrind.out.<k>`).
fn latest_dump(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("bench dir")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let k: u32 = path.file_name()?.to_str()?.strip_prefix("callgrind.out.")?.parse().ok()?;
            Some((k, path))
        })
        .max()
        .map(|(_, path)| path)
        .expect("callgrind wrote no dump")
}

/// The `totals:` line of a dump: instructions (the only event counted).
fn totals(dump: &Path) -> u64 {
    let text = std::fs::read_to_string(dump).expect("read dump");
    text.lines()
        .find_map(|l| l.strip_prefix("totals:")?.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no totals in {}", dump.display()))
}

pub fn report(runs: u64, requests: usize, server_bin: &Path, rows: &[(&str, f64)]) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{runs} runs; {} under callgrind: instructions the server executed in user space per request, \
         over {requests} requests sent one after another per pattern (after one warm-up pass)\n",
        server_bin.display()
    );
    let _ = writeln!(report, "| pattern | instructions/request |");
    let _ = writeln!(report, "|---|---:|");
    for (name, per_request) in rows {
        let _ = writeln!(report, "| {name} | {per_request:.0} |");
    }
    report
}
