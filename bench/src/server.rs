//! The server under test: the release `tearsheet` binary, in its own process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base_url: String,
}

impl Server {
    /// Starts `bin`, or `wrapper` with `bin` as its program when `wrapper` is not empty
    /// (`valgrind …`: the wrapped program keeps the process id).
    pub async fn start(wrapper: &[String], bin: &Path, database_url: &str, token: &str, log: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let log_file = std::fs::File::create(log).expect("server log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = command
            .args(["serve", "--no-migrate", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database_url)
            .env("TEARSHEET_WRITE_TOKENS", token)
            .env("TEARSHEET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file.try_clone().expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let base_url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{base_url}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not get ready; see {}", log.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server { child, base_url }
    }

    /// POSTs a GraphQL request body; the response must have no errors.
    pub async fn query_ok(&self, client: &reqwest::Client, body: &str) -> serde_json::Value {
        let response: serde_json::Value = client
            .post(format!("{}/graphql", self.base_url))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert!(response.get("errors").is_none(), "{response}\nbody: {body}");
        response
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (current, peak) resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok()).unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
