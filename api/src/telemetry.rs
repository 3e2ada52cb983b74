//! Logging: human-readable lines on stderr, filtered by `TEARSHEET_LOG` (or `RUST_LOG`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("TEARSHEET_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    // `try_init`: tests build the application many times in one process.
    // Colours only on a terminal: escape codes in log files and CI output are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
