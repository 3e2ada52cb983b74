//! Logging (human-readable lines on stderr, filtered by `TEARSHEET_LOG` or `RUST_LOG`),
//! and, with `--otlp-endpoint`, trace export to an OpenTelemetry collector (`otlp`).

pub mod otlp;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

pub fn init(otlp: Option<otlp::OtlpConfig>) {
    let filter = std::env::var("TEARSHEET_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    // Colours only on a terminal: escape codes in log files and CI output are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).with_filter(filter);
    // Spans of Tearsheet's own code only (requests, root fields, SQL statements), whatever
    // the log level: the exporter's HTTP client must not trace itself.
    let traces = otlp.map(|config| {
        otlp::OtlpLayer::start(config).with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && meta.target().starts_with("tearsheet_api")
        }))
    });
    // `try_init`: tests build the application many times in one process.
    let _ = tracing_subscriber::registry().with(logs).with(traces).try_init();
}
