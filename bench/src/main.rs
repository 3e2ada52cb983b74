//! `tearsheet-bench`: every query pattern through the release server (wrk over HTTP)
//! beside the same SQL through pgbench (the floor), bulk recording through the API beside
//! COPY, and the server's memory. Run it with `bench/run.sh` (builds in release first).

mod bulk;
mod cluster;
mod instructions;
mod literal;
mod live;
mod load;
mod mixed;
mod patterns;
mod server;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use sea_orm::ConnectionTrait as _;
use tearsheet_api::store::seed::SeedSpec;

/// Benchmarks Tearsheet against PostgreSQL itself on a fresh, seeded database.
#[derive(Debug, Parser)]
#[command(name = "tearsheet-bench")]
struct Args {
    /// Runs to seed.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of load per pattern, for the server and for the floor each.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Concurrent connections of both load generators.
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Runs recorded through the API (and copied) for the bulk-recording line; 0 skips it.
    #[arg(long, default_value_t = 100_000)]
    bulk_runs: usize,
    /// Batches of 1000 in flight at once while recording.
    #[arg(long, default_value_t = 1)]
    bulk_concurrency: usize,
    /// Only patterns whose name contains one of these (repeatable).
    #[arg(long)]
    pattern: Vec<String>,
    /// The server binary (default: `tearsheet` beside this one, i.e. the same build).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the cluster, scripts and logs go (default: a new temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the cluster's data (and the temporary directory) when done.
    #[arg(long)]
    keep: bool,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Subscription events to time (one writer, one subscriber; 0 skips it).
    #[arg(long, default_value_t = 200)]
    subscription_events: usize,
    /// The load test instead of the benchmark: every pattern and single-run writes at
    /// once, one wrk each (a quarter of the connections write), for --seconds after a
    /// 10-second warm-up; reports each operation's latencies and errors, and the server's
    /// memory before and after. E.g. `--load --seconds 60 --connections 64`.
    #[arg(long)]
    load: bool,
    /// Instead of timing: count the server's instructions per request under callgrind
    /// (valgrind), over this many requests sent one after another per pattern. Repeatable
    /// to ~1% for the same binary, where req/s moves by ±10%: for A/B comparisons of two
    /// builds (`--server-bin`). Give `--dir` to keep the dumps for `callgrind_annotate`.
    #[arg(long, value_name = "REQUESTS")]
    instructions: Option<usize>,
}

const TOKEN: &str = "bench-write-token-0123456789abcdef";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let server_bin = args
        .server_bin
        .clone()
        .unwrap_or_else(|| std::env::current_exe().expect("current exe").with_file_name("tearsheet"));
    assert!(server_bin.is_file(), "no server binary at {} (build it: cargo build --release)", server_bin.display());
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("tearsheet-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let spec = SeedSpec::new(args.runs, args.seed);
    let bench_db = cluster::start(dir.join("cluster"), args.keep, spec).await;
    let url = bench_db.url();
    let db = &bench_db.db;

    let mut builder = patterns::Builder::new(db, spec).await;
    let patterns = builder.patterns(&args.pattern).await;
    let wrapper = match args.instructions {
        Some(_) => {
            instructions::check_tools();
            instructions::wrapper(&dir)
        }
        None => Vec::new(),
    };
    let server = server::Server::start(&wrapper, &server_bin, &url, TOKEN, &dir.join("server.log")).await;
    if let Some(requests) = args.instructions {
        let rows = instructions::measure(&server, &dir, &patterns, requests).await;
        let report = instructions::report(args.runs, requests, &server_bin, &rows);
        finish(&args, &dir, &report, server, bench_db);
        return;
    }
    let bin_dir = tearsheet_api::embedded_pg::find_bin_dir().expect("PostgreSQL binaries");
    let load = load::Load { connections: args.connections, threads: 2, seconds: args.seconds };
    let client = reqwest::Client::new();
    if args.load {
        let report = load_test(&args, &dir, db, &server, &patterns, bench_db.seed_seconds).await;
        finish(&args, &dir, &report, server, bench_db);
        return;
    }

    let mut rows = Vec::new();
    for pattern in &patterns {
        // Every sample must succeed: a load of errors would be fast and meaningless.
        db.execute_unprepared("SELECT pg_stat_statements_reset()").await.expect("reset");
        for sample in &pattern.samples {
            server.query_ok(&client, &sample.body).await;
        }
        let statements = statements_sent(db).await as f64 / pattern.samples.len() as f64;
        let floor_statements =
            pattern.samples.iter().map(|s| s.floor.len()).sum::<usize>() as f64 / pattern.samples.len() as f64;
        eprintln!("{}: server", pattern.name);
        let served = load::wrk(&dir, &server.base_url, pattern, &load);
        eprintln!("{}: floor", pattern.name);
        let floor = load::pgbench(&dir, &bin_dir, &libpq_url(&url), pattern, &load);
        rows.push((pattern.name, served, floor, statements, floor_statements));
    }
    let (rss_after_reads, _) = server.rss_kib();

    let bulk = if args.bulk_runs > 0 {
        eprintln!("bulk: {} runs through the API", args.bulk_runs);
        let api_runs = bulk::runs(args.seed.wrapping_add(1000), args.bulk_runs);
        let api = bulk::through_api(&server.base_url, TOKEN, &api_runs, args.bulk_concurrency).await;
        eprintln!("bulk: the same number by COPY");
        let copy_runs = bulk::runs(args.seed.wrapping_add(2000), args.bulk_runs);
        let copy = bulk::through_copy(db, &copy_runs).await;
        Some((api, copy))
    } else {
        None
    };
    let delivery = if args.subscription_events > 0 {
        eprintln!("subscription delivery: {} events", args.subscription_events);
        Some(live::measure(&server.base_url, TOKEN, args.subscription_events).await)
    } else {
        None
    };
    let (rss_now, rss_peak) = server.rss_kib();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "{} runs (seeded in {:.0} s), {} connections, {} s per pattern and side, PostgreSQL {}\n",
        args.runs,
        bench_db.seed_seconds,
        args.connections,
        args.seconds,
        server_version(db).await
    );
    let _ = writeln!(
        report,
        "| pattern | server req/s | p50 ms | p99 ms | SQL floor TPS | server/floor | statements/request (server, floor) | errors |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s, floor, statements, floor_statements) in &rows {
        let _ = writeln!(
            report,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0}% | {statements:.1}, {floor_statements:.1} | {} |",
            s.requests_per_second,
            s.p50_ms,
            s.p99_ms,
            floor,
            100.0 * s.requests_per_second / floor,
            s.errors
        );
    }
    if let Some((api, copy)) = bulk {
        let _ = writeln!(
            report,
            "\nBulk recording: {} runs through `recordBacktestRuns` in batches of {} ({} in flight): {api:.0} runs/s; \
             COPY of as many runs: {copy:.0} runs/s ({:.0}%).",
            args.bulk_runs,
            bulk::BATCH,
            args.bulk_concurrency,
            100.0 * api / copy
        );
    }
    if let Some(d) = delivery {
        let _ = writeln!(
            report,
            "\nSubscription delivery ({} single-run writes, one subscriber): mutation response p50 {:.2} ms, p99 {:.2} ms; \
             event p50 {:.2} ms, p99 {:.2} ms after the request was sent.",
            d.events, d.response.0, d.response.1, d.event.0, d.event.1
        );
    }
    let _ = writeln!(
        report,
        "\nServer memory: RSS {:.1} MiB after the read patterns, {:.1} MiB at the end, peak {:.1} MiB.",
        rss_after_reads as f64 / 1024.0,
        rss_now as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    finish(&args, &dir, &report, server, bench_db);
}

/// Prints the report (and writes it to `--out`), then stops the server and the cluster.
fn finish(args: &Args, dir: &std::path::Path, report: &str, server: server::Server, bench_db: cluster::BenchDb) {
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, report).expect("write report");
    }
    drop(server);
    drop(bench_db);
    clean_up(args, dir);
}

/// A directory of our own making goes with the run (the cluster's data is already gone
/// with the cluster); a given one, or `--keep`, stays for a look at the logs.
fn clean_up(args: &Args, dir: &std::path::Path) {
    if args.dir.is_none() && !args.keep {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        eprintln!("scripts, request bodies and the server's log are in {}", dir.display());
    }
}

/// The load test: a warm-up, then the measured run; the table, memory, and whether every
/// acknowledged write is stored.
async fn load_test(
    args: &Args,
    dir: &std::path::Path,
    db: &sea_orm::DatabaseConnection,
    server: &server::Server,
    patterns: &[patterns::Pattern],
    seed_seconds: f64,
) -> String {
    eprintln!("load: 10 s warm-up");
    mixed::run(dir, &server.base_url, TOKEN, patterns, args.connections, 10, 1);
    let before_rows = count_runs(db).await;
    let (rss_before, _) = server.rss_kib();
    eprintln!("load: {} s at {} connections", args.seconds, args.connections);
    let operations = mixed::run(dir, &server.base_url, TOKEN, patterns, args.connections, args.seconds, 2);
    let (rss_after, rss_peak) = server.rss_kib();
    let stored = count_runs(db).await - before_rows;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "{} runs (seeded in {seed_seconds:.0} s), {} connections for {} s after a 10 s warm-up, PostgreSQL {}\n",
        args.runs,
        args.connections,
        args.seconds,
        server_version(db).await
    );
    let _ = writeln!(report, "| operation | requests | req/s | p50 ms | p99 ms | errors |");
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|");
    for op in &operations {
        let _ = writeln!(
            report,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            op.name, op.requests, op.per_second, op.p50_ms, op.p99_ms, op.errors
        );
    }
    let total: u64 = operations.iter().map(|o| o.requests).sum();
    let errors: u64 = operations.iter().map(|o| o.errors).sum();
    let writes = operations.last().map_or(0, |w| w.requests - w.errors);
    // wrk abandons the requests in flight when its time is up: those writes may commit
    // unacknowledged, at most one per writing connection.
    let writers = i64::from((args.connections / 4).max(1));
    let verdict = if stored >= writes as i64 && stored - writes as i64 <= writers {
        "every acknowledged write is stored"
    } else {
        "ACKNOWLEDGED WRITES ARE MISSING"
    };
    let _ = writeln!(
        report,
        "\nAll: {total} requests ({:.0}/s), {errors} errors. Writes acknowledged: {writes}; runs stored: {stored} \
         ({verdict}; the {} more were in flight on the {writers} writing connections when the load stopped).",
        total as f64 / f64::from(args.seconds),
        stored - writes as i64
    );
    let _ = writeln!(
        report,
        "\nServer memory: RSS {:.1} MiB after the warm-up, {:.1} MiB after the run (peak {:.1} MiB).",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    report
}

/// The first column of the one row `sql` returns.
async fn one<T: sea_orm::TryGetable>(db: &sea_orm::DatabaseConnection, sql: &str) -> T {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get_by_index(0).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count_runs(db: &sea_orm::DatabaseConnection) -> i64 {
    one(db, "SELECT count(*) FROM backtest_runs").await
}

/// Statements the server sent since the last reset (pg_stat_statements), not counting the
/// bench's own (top-level statements only: the facts triggers' are not counted).
async fn statements_sent(db: &sea_orm::DatabaseConnection) -> i64 {
    one(
        db,
        "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements \
         WHERE query NOT LIKE '%pg_stat_statements%' \
           AND (query LIKE '%backtest_runs%' OR query LIKE '%performance_metrics%' OR query LIKE '%run_facts%')",
    )
    .await
}

async fn server_version(db: &sea_orm::DatabaseConnection) -> String {
    one(db, "SHOW server_version").await
}

/// The cluster's URL in the form libpq (pgbench) reads: the same, but libpq wants the
/// socket directory unescaped in `host`.
fn libpq_url(url: &str) -> String {
    url.replace("%2F", "/").replace("%2f", "/")
}
