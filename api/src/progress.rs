//! Progress of long work: a bar redrawn in place on a terminal, plain log lines otherwise
//! (CI logs and pipes would fill up with carriage returns).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: u64,
    started: Instant,
    terminal: bool,
    last_line: Option<Instant>,
}

/// Plain lines at most this often.
const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_WIDTH: usize = 30;

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Self {
        Progress { what, total, started: Instant::now(), terminal: std::io::stderr().is_terminal(), last_line: None }
    }

    pub fn update(&mut self, done: u64) {
        let elapsed = self.started.elapsed();
        let fraction = if self.total == 0 { 1.0 } else { done as f64 / self.total as f64 };
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let eta = if done == 0 { 0.0 } else { (self.total - done.min(self.total)) as f64 / rate };
        if self.terminal {
            let filled = (fraction * BAR_WIDTH as f64).round() as usize;
            let bar = format!("{}{}", "#".repeat(filled), " ".repeat(BAR_WIDTH - filled.min(BAR_WIDTH)));
            eprint!(
                "\r[{bar}] {:>3.0}% {done}/{} {}  {:.0}/s  {:.0}s elapsed, {:.0}s left ",
                fraction * 100.0,
                self.total,
                self.what,
                rate,
                elapsed.as_secs_f64(),
                eta
            );
            let _ = std::io::stderr().flush();
            if done >= self.total {
                eprintln!();
            }
        } else if done >= self.total || self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
            self.last_line = Some(Instant::now());
            tracing::info!(done, total = self.total, per_second = rate.round(), "{}", self.what);
        }
    }
}
