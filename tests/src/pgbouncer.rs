//! Debian's PgBouncer in transaction-pooling mode, in front of the test server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PgBouncer; stopped when dropped.
pub struct PgBouncer {
    pub port: u16,
    user: String,
    child: Child,
    dir: PathBuf,
}

/// Server connections per (database, user): fewer than a Tearsheet pool opens, so that
/// clients share server connections as they do in production.
pub const POOL_SIZE: u32 = 3;

fn binary() -> PathBuf {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("pgbouncer is not installed (scripts/test.sh installs Debian's package)"))
}

/// Host (a socket directory or a name) and port of a postgres URL.
fn host_and_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, query) = rest.split_once('/').map_or((rest, ""), |(a, q)| (a, q));
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = hostport.rsplit_once(':').map_or((hostport, 5432), |(h, p)| (h, p.parse().unwrap_or(5432)));
    let socket = query.split_once('?').map(|(_, q)| q).unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("host="));
    let host = socket.map(percent_decode).unwrap_or_else(|| host.to_owned());
    (host, port)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn user_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.split_once('@').map_or("postgres", |(u, _)| u.split(':').next().unwrap_or("postgres")).to_owned()
}

impl PgBouncer {
    /// PgBouncer in front of the server of `url` (a test database's URL), forwarding every
    /// database name, in transaction mode, as a deployment would configure it for
    /// Tearsheet (docs/deploy.md).
    pub fn start(url: &str) -> Self {
        let (host, server_port) = host_and_port(url);
        let user = user_of(url);
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = std::env::temp_dir().join(format!("tearsheet-pgbouncer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("pgbouncer dir");
        // PgBouncer refuses to run as root: it runs as `postgres`, which must write here.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
        let ini = format!(
            "[databases]\n\
             * = host={host} port={server_port} user={user}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = any\n\
             pool_mode = transaction\n\
             default_pool_size = {POOL_SIZE}\n\
             max_client_conn = 500\n\
             ignore_startup_parameters = extra_float_digits\n\
             logfile = {log}\n\
             pidfile = {pid}\n",
            log = dir.join("pgbouncer.log").display(),
            pid = dir.join("pgbouncer.pid").display(),
        );
        let ini_path = dir.join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).expect("pgbouncer.ini");
        let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
        let mut command = if is_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(binary());
            c
        } else {
            Command::new(binary())
        };
        let child = command
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgbouncer");
        let bouncer = PgBouncer { port, user, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pgbouncer did not start; its log:\n{}", bouncer.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// The URL of `database` through PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{database}", self.user, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // runuser passes SIGTERM on to PgBouncer.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_host_port_and_user_of_socket_and_tcp_urls() {
        let socket = "postgres://tearsheet@localhost:5432/db?host=%2Ftmp%2Fx%20y";
        assert_eq!(host_and_port(socket), ("/tmp/x y".to_owned(), 5432));
        assert_eq!(user_of(socket), "tearsheet");
        assert_eq!(host_and_port("postgres://u:p@db.example:6543/x"), ("db.example".to_owned(), 6543));
        assert_eq!(user_of("postgres://u:p@db.example:6543/x"), "u");
    }
}
