//! Command line and environment, parsed once at start into typed structs.
//!
//! | variable | flag | default | meaning |
//! |---|---|---|---|
//! | `TEARSHEET_LISTEN` | `--listen` | `127.0.0.1:8000` | address the HTTP server binds |
//! | `DATABASE_URL` | `--database-url` | (none: embedded cluster) | PostgreSQL to use |
//! | `TEARSHEET_DATA_DIR` | `--data-dir` | `.data` | where the embedded cluster keeps its data |
//! | `TEARSHEET_DB_MAX_CONNECTIONS` | `--db-max-connections` | `10` | size of each connection pool |
//! | `TEARSHEET_DB_ACQUIRE_TIMEOUT_MS` | `--db-acquire-timeout-ms` | `5000` | wait for a free connection before failing |
//! | `TEARSHEET_DB_CONNECT_RETRY_SECS` | `--db-connect-retry-secs` | `30` | keep retrying an unreachable database at start for this long |
//! | `TEARSHEET_WRITE_TOKENS` | `--write-token` | (generated, printed) | bearer tokens that may write, comma-separated |
//! | `TEARSHEET_READ_TOKENS` | `--read-token` | (reads open) | bearer tokens that may read, comma-separated |
//! | `TEARSHEET_SHUTDOWN_GRACE_SECS` | `--shutdown-grace-secs` | `30` | how long in-flight requests may finish after SIGTERM |
//! | `TEARSHEET_SUBSCRIPTION_BACKLOG` | `--subscription-backlog` | `1024` | batches a subscriber may lag before it is closed |
//! | `TEARSHEET_CORS_ORIGINS` | `--cors-origin` | (none) | browser origins allowed to call the API, comma-separated; `*` for any |
//! | `TEARSHEET_MAX_DEPTH` | `--max-depth` | `16` | deepest field nesting of a query |
//! | `TEARSHEET_MAX_COMPLEXITY` | `--max-complexity` | `20000` | highest query complexity |
//! | `TEARSHEET_MAX_ALIASES` | `--max-aliases` | `50` | most aliases in a request |
//! | `TEARSHEET_MAX_ROOT_FIELDS` | `--max-root-fields` | `20` | most root fields in an operation |
//! | `TEARSHEET_MAX_BODY_BYTES` | `--max-body-bytes` | `16777216` | largest request body |
//! | `TEARSHEET_STATEMENT_TIMEOUT_MS` | `--statement-timeout-ms` | `5000` | PostgreSQL cancels longer statements |
//! | `TEARSHEET_REQUEST_TIMEOUT_MS` | `--request-timeout-ms` | `15000` | longer requests are answered 503 |
//! | `TEARSHEET_NO_INTROSPECTION` | `--no-introspection` | off | refuse `__schema`/`__type` |
//! | `TEARSHEET_LOG` / `RUST_LOG` | | `info` | log filter (tracing `EnvFilter` syntax) |
//! | `PG_BIN_DIR` | | (searched) | directory of `initdb`/`pg_ctl`/`postgres` for the embedded cluster |

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::auth::Token;

/// Tearsheet: a GraphQL API over trading-strategy backtest runs stored in PostgreSQL.
///
/// With no subcommand, `tearsheet` serves (same as `tearsheet serve`).
#[derive(Debug, Parser)]
#[command(name = "tearsheet", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The subcommand to run; no subcommand means `serve` with the top-level flags.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or_else(|| Command::Serve(Box::new(self.serve)))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default). Runs pending migrations first.
    Serve(Box<ServeArgs>),
    /// Apply, roll back or list schema migrations.
    Migrate(MigrateArgs),
    /// Print the GraphQL schema (SDL) that the server serves; `schema.graphql` is its output.
    Schema,
    /// Fill the database with realistic synthetic runs (for benchmarks and exploring at
    /// scale). Deterministic: the same --runs and --seed give the same rows, ids included;
    /// running it again adds nothing.
    Seed(SeedArgs),
    /// Operator reports and maintenance: index usage, ANALYZE, query plans.
    Admin(AdminArgs),
}

#[derive(Debug, Args, Clone)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(Debug, Subcommand, Clone)]
pub enum AdminAction {
    /// How each index of Tearsheet's tables is used: scans, tuples read and fetched per
    /// scan, size beside its table's, and a status (UNUSED, HIGH READ RATIO, OK).
    Indexes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Refresh the planner's statistics of the tables (ANALYZE), e.g. after a bulk load.
    Analyze {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Rebuild `run_facts`, the narrow copy of each run that `runGroups` reads, where it
    /// differs from the runs and metrics (after writes made with triggers disabled).
    /// Triggers keep it otherwise; rows already right are left alone.
    RefreshFacts {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Print the plan PostgreSQL picks for the SQL the server sends for a query pattern,
    /// with parameters taken from the database.
    Explain {
        /// The query pattern.
        #[arg(value_enum)]
        pattern: crate::admin::explain::Pattern,
        /// Plan only: do not run the statement (EXPLAIN without ANALYZE, BUFFERS).
        #[arg(long)]
        no_analyze: bool,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

impl AdminAction {
    pub fn db(&self) -> &DatabaseArgs {
        match self {
            AdminAction::Indexes { db, .. }
            | AdminAction::Analyze { db }
            | AdminAction::RefreshFacts { db }
            | AdminAction::Explain { db, .. } => db,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct SeedArgs {
    /// How many runs to generate (rows 1..=N of the seed's sequence).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub runs: u64,
    /// Seed of the generator: another seed gives other runs (and other ids).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Re-runs per 1000 runs.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub reruns_per_mille: u16,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TEARSHEET_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Do not run pending migrations at start.
    #[arg(long)]
    pub no_migrate: bool,
    /// When the database holds no runs, fill it with a few hundred synthetic runs first.
    #[arg(long)]
    pub demo: bool,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish (seconds);
    /// new connections are refused at once, and requests still running after this are
    /// dropped.
    #[arg(long, env = "TEARSHEET_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// How many batches of recorded runs a subscriber may fall behind before its
    /// subscription is closed with an error.
    #[arg(long, env = "TEARSHEET_SUBSCRIPTION_BACKLOG", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscription_backlog: u32,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
    #[command(flatten)]
    pub replicas: ReplicaArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Trace export (see `telemetry::otlp`).
#[derive(Debug, Args, Clone, Default)]
pub struct TelemetryArgs {
    /// Export traces to this OpenTelemetry collector over OTLP/HTTP
    /// (`http://collector:4318`); none by default.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the traces carry.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "tearsheet")]
    pub otlp_service_name: String,
}

impl TelemetryArgs {
    pub fn otlp(&self) -> Option<crate::telemetry::otlp::OtlpConfig> {
        self.otlp_endpoint.as_ref().map(|endpoint| crate::telemetry::otlp::OtlpConfig {
            endpoint: endpoint.clone(),
            service_name: self.otlp_service_name.clone(),
        })
    }
}

/// Streaming replicas for reads (see `replicas`).
#[derive(Debug, Args, Clone, Default)]
pub struct ReplicaArgs {
    /// A streaming replica of the database to send queries to (repeat for several; reads
    /// are balanced over them, mutations go to the primary).
    #[arg(long = "replica-url", env = "TEARSHEET_REPLICA_URLS", value_delimiter = ',', hide_env_values = true)]
    pub replica_urls: Vec<DatabaseUrl>,
    /// A replica whose replay lags the primary by more than this is skipped (milliseconds).
    #[arg(long, env = "TEARSHEET_REPLICA_MAX_LAG_MS", default_value_t = 5_000)]
    pub replica_max_lag_ms: u64,
    /// How long a read that sends back `x-tearsheet-lsn` waits for a replica to replay
    /// that far before the primary serves it (milliseconds).
    #[arg(long, env = "TEARSHEET_REPLICA_WAIT_MS", default_value_t = 500)]
    pub replica_wait_ms: u64,
}

/// How much work one request may ask for (see `graphql::limits`). The defaults let every
/// dashboard query and GraphiQL's introspection through.
#[derive(Debug, Args, Clone)]
pub struct LimitsArgs {
    /// Deepest field nesting a query may have.
    #[arg(long, env = "TEARSHEET_MAX_DEPTH", default_value_t = DEFAULT_MAX_DEPTH, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub max_depth: u32,
    /// Highest query complexity: 1 per field, a connection's fields once per item it may
    /// return (first/last, default 20).
    #[arg(long, env = "TEARSHEET_MAX_COMPLEXITY", default_value_t = DEFAULT_MAX_COMPLEXITY,
          value_parser = clap::value_parser!(u32).range(10..))]
    pub max_complexity: u32,
    /// Most aliases in one request.
    #[arg(long, env = "TEARSHEET_MAX_ALIASES", default_value_t = DEFAULT_MAX_ALIASES)]
    pub max_aliases: u32,
    /// Most root fields in one operation.
    #[arg(long, env = "TEARSHEET_MAX_ROOT_FIELDS", default_value_t = DEFAULT_MAX_ROOT_FIELDS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_root_fields: u32,
    /// Largest request body in bytes (default 16 MiB: a batch of 1000 runs with 5 KB
    /// configs); larger bodies get 413.
    #[arg(long, env = "TEARSHEET_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_body_bytes: u64,
    /// PostgreSQL cancels any statement of the server's pools that runs longer
    /// (milliseconds; 0: no limit).
    #[arg(long, env = "TEARSHEET_STATEMENT_TIMEOUT_MS", default_value_t = DEFAULT_STATEMENT_TIMEOUT_MS)]
    pub statement_timeout_ms: u64,
    /// A request that takes longer is answered 503 `TIMEOUT` (milliseconds). Keep it above
    /// the statement timeout, so that a slow statement is cancelled by PostgreSQL first.
    #[arg(long, env = "TEARSHEET_REQUEST_TIMEOUT_MS", default_value_t = DEFAULT_REQUEST_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub request_timeout_ms: u64,
    /// Turn off introspection (`__schema`, `__type`); `_service { sdl }` for a federation
    /// gateway keeps working.
    #[arg(long, env = "TEARSHEET_NO_INTROSPECTION")]
    pub no_introspection: bool,
}

pub const DEFAULT_MAX_DEPTH: u32 = 16;
pub const DEFAULT_MAX_COMPLEXITY: u32 = 20_000;
pub const DEFAULT_MAX_ALIASES: u32 = 50;
pub const DEFAULT_MAX_ROOT_FIELDS: u32 = 20;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 15_000;

impl Default for LimitsArgs {
    fn default() -> Self {
        LimitsArgs {
            max_depth: DEFAULT_MAX_DEPTH,
            max_complexity: DEFAULT_MAX_COMPLEXITY,
            max_aliases: DEFAULT_MAX_ALIASES,
            max_root_fields: DEFAULT_MAX_ROOT_FIELDS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            statement_timeout_ms: DEFAULT_STATEMENT_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            no_introspection: false,
        }
    }
}

impl LimitsArgs {
    pub fn statement_timeout(&self) -> Option<Duration> {
        (self.statement_timeout_ms > 0).then(|| Duration::from_millis(self.statement_timeout_ms))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }

    /// The GraphQL limits these flags set.
    pub fn graphql(&self) -> crate::graphql::limits::Limits {
        let n = |v: u32| v as usize;
        crate::graphql::limits::Limits {
            max_depth: n(self.max_depth),
            max_complexity: n(self.max_complexity),
            max_aliases: n(self.max_aliases),
            max_root_fields: n(self.max_root_fields),
            introspection: !self.no_introspection,
        }
    }
}

/// What the HTTP layer allows beyond the GraphQL endpoint's defaults.
#[derive(Debug, Args, Clone, Default)]
pub struct HttpArgs {
    /// Origin (scheme://host[:port]) of a web app allowed to call the API from a browser
    /// (CORS). Repeat the flag, or separate origins with commas in the variable; `*` allows
    /// any origin. Without any, browsers allow only pages served by Tearsheet itself.
    #[arg(long = "cors-origin", env = "TEARSHEET_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<CorsOrigin>,
    /// Serve Prometheus metrics (`GET /metrics`) on this address only, instead of on the
    /// API's port (keep them off a public port).
    #[arg(long, env = "TEARSHEET_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// An origin a browser sends in `Origin`: `scheme://host[:port]`, or `*` for any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigin {
    Any,
    Exact(String),
}

impl std::str::FromStr for CorsOrigin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "*" {
            return Ok(CorsOrigin::Any);
        }
        let Some((scheme, host)) = s.split_once("://") else {
            return Err(format!(
                "{s:?} is not an origin: expected scheme://host[:port], e.g. https://dash.example.com"
            ));
        };
        let valid_host = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
        if !matches!(scheme, "http" | "https") || !valid_host {
            return Err(format!(
                "{s:?} is not an origin: expected http(s)://host[:port] with no path, e.g. https://dash.example.com"
            ));
        }
        // Browsers send origins in lower case.
        Ok(CorsOrigin::Exact(s.to_ascii_lowercase()))
    }
}

/// Who may read and write (see `auth`).
#[derive(Debug, Args, Clone, Default)]
pub struct AuthArgs {
    /// Bearer token that may record and delete runs. Repeat the flag, or separate tokens
    /// with commas in the variable, to accept several (rotation). Without any, a token is
    /// generated at start and printed once on stderr.
    #[arg(long = "write-token", env = "TEARSHEET_WRITE_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub write_tokens: Vec<Token>,
    /// Bearer token that may read. When any is set, every request needs a read or write
    /// token; without, reads are open.
    #[arg(long = "read-token", env = "TEARSHEET_READ_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub read_tokens: Vec<Token>,
}

/// Its flags are global to its subcommands, so that `tearsheet migrate status
/// --database-url …` reads as it is written (they would otherwise have to come before
/// `status`).
#[derive(Debug, Args, Clone)]
#[command(mut_args(|arg| arg.global(true)))]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
    /// Print the SQL that `up` would run, with the locks each step takes, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Subcommand, Clone, Copy, PartialEq, Eq)]
pub enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Roll back the newest applied migrations.
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        /// Roll back every migration (drops all of Tearsheet's tables and their data).
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// Where the database is and how to talk to it.
#[derive(Debug, Args, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it, Tearsheet runs its own cluster in `--data-dir`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Data directory of the embedded PostgreSQL (used only without a database URL).
    #[arg(long, env = "TEARSHEET_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// Maximum connections in each pool (reads and writes have a pool each).
    #[arg(long, env = "TEARSHEET_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
    /// How long a request waits for a free connection before it fails (milliseconds).
    #[arg(long, env = "TEARSHEET_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000)]
    pub db_acquire_timeout_ms: u64,
    /// At start, how long to keep retrying an unreachable database before giving up (seconds).
    #[arg(long, env = "TEARSHEET_DB_CONNECT_RETRY_SECS", default_value_t = 30)]
    pub db_connect_retry_secs: u64,
    /// Prepared statements kept per connection. 0: no statement is named or kept, and each
    /// runs in a transaction of its own, as PgBouncer before 1.21 in transaction mode needs
    /// (see docs/deploy.md).
    #[arg(long, env = "TEARSHEET_STATEMENT_CACHE_SIZE", default_value_t = DEFAULT_STATEMENT_CACHE_SIZE,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub statement_cache_size: u32,
    /// PostgreSQL itself when `--database-url` goes through a pooler such as PgBouncer: for
    /// what needs a session of its own (LISTEN for live updates, migrations). Defaults to
    /// `--database-url`.
    #[arg(long, env = "TEARSHEET_DIRECT_DATABASE_URL", hide_env_values = true)]
    pub direct_database_url: Option<DatabaseUrl>,
}

/// sqlx's default.
pub const DEFAULT_STATEMENT_CACHE_SIZE: u32 = 100;

impl DatabaseArgs {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }

    pub fn connect_retry(&self) -> Duration {
        Duration::from_secs(self.db_connect_retry_secs)
    }
}

/// A database URL whose password never reaches `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL itself, for the connection pool only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`, for messages.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else { return self.0.clone() };
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
                format!("{scheme}://{masked}@{host}{tail}")
            }
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err("expected a postgres:// or postgresql:// URL".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url = DatabaseUrl::new("postgres://app:s3cret@db.example:5432/tearsheet?sslmode=require");
        assert_eq!(url.redacted(), "postgres://app:***@db.example:5432/tearsheet?sslmode=require");
        assert!(!format!("{url:?}").contains("s3cret"));
        let no_password = DatabaseUrl::new("postgres://app@db/x");
        assert_eq!(no_password.redacted(), "postgres://app@db/x");
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["tearsheet", "--listen", "127.0.0.1:9999"]).expect("parses");
        match cli.into_command() {
            Command::Serve(args) => assert_eq!(args.listen.port(), 9999),
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn cors_origins_are_checked_when_parsed() {
        assert_eq!("*".parse::<CorsOrigin>(), Ok(CorsOrigin::Any));
        assert_eq!(
            "https://Dash.Example.com:8443".parse::<CorsOrigin>(),
            Ok(CorsOrigin::Exact("https://dash.example.com:8443".into()))
        );
        for bad in ["dash.example.com", "https://dash.example.com/app", "ftp://x", "https://", "https://a b"] {
            assert!(bad.parse::<CorsOrigin>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn limit_defaults_are_the_command_lines() {
        let cli = Cli::try_parse_from(["tearsheet", "serve"]).expect("parses");
        let Command::Serve(args) = cli.into_command() else { panic!("serve") };
        let parsed = args.limits;
        let default = LimitsArgs::default();
        assert_eq!(
            (parsed.max_depth, parsed.max_complexity, parsed.max_aliases, parsed.max_root_fields),
            (default.max_depth, default.max_complexity, default.max_aliases, default.max_root_fields)
        );
        assert_eq!(
            (parsed.max_body_bytes, parsed.statement_timeout_ms, parsed.request_timeout_ms, parsed.no_introspection),
            (default.max_body_bytes, default.statement_timeout_ms, default.request_timeout_ms, false)
        );
    }

    #[test]
    fn migrate_flags_go_before_or_after_its_subcommand() {
        let url = "postgres://u@db/x";
        for argv in [
            vec!["tearsheet", "migrate", "status", "--database-url", url],
            vec!["tearsheet", "migrate", "--database-url", url, "status"],
        ] {
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let Command::Migrate(args) = cli.into_command() else { panic!("migrate") };
            assert_eq!(args.action, Some(MigrateAction::Status), "{argv:?}");
            assert_eq!(args.db.database_url.as_ref().map(DatabaseUrl::expose), Some(url), "{argv:?}");
        }
        let cli = Cli::try_parse_from(["tearsheet", "migrate", "down", "--steps", "2", "--database-url", url])
            .expect("parses");
        let Command::Migrate(args) = cli.into_command() else { panic!("migrate") };
        assert_eq!(args.action, Some(MigrateAction::Down { steps: 2, all: false }));
        assert_eq!(args.db.database_url.as_ref().map(DatabaseUrl::expose), Some(url));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
