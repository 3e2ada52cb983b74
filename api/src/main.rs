use std::process::ExitCode;

use clap::Parser as _;
use tearsheet_api::config::Cli;

fn main() -> ExitCode {
    let command = Cli::parse().into_command();
    let otlp = match &command {
        tearsheet_api::config::Command::Serve(args) => args.telemetry.otlp(),
        _ => None,
    };
    tearsheet_api::telemetry::init(otlp);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(tearsheet_api::commands::run(command));
    tearsheet_api::telemetry::otlp::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
