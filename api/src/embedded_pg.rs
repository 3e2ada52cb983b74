//! The embedded default: a PostgreSQL cluster that Tearsheet starts and owns.
//!
//! With no `DATABASE_URL`, `tearsheet serve` runs its own cluster from the machine's
//! PostgreSQL server binaries, with its data in `<data-dir>/postgres`. The cluster listens
//! on a Unix socket only (no TCP port is taken, so it never collides with a system
//! PostgreSQL), with `trust` authentication limited to that socket, whose directory is
//! private (mode 0700) to the user running the cluster.
//!
//! No maintained crate fits: the embedded-PostgreSQL crates on crates.io download server
//! builds at run time, which the machines this runs on cannot do, and none of them handle
//! running as root. This module drives `initdb` and `pg_ctl` directly.
//!
//! Sharp edges handled here:
//! - PostgreSQL refuses to run as root. As root, every server command runs as the
//!   `postgres` system user (`runuser`), which must own the data directory and be able to
//!   reach it (a checkout under `/root` is not reachable: we say so).
//! - Unix socket paths are limited to ~107 bytes: a long data-dir path gets a short socket
//!   directory under the system temp dir instead.
//! - `pg_ctl start` without `-l` keeps the server attached to our stdout, and a caller
//!   capturing output then waits forever: the server always logs to a file.
//! - A crash of the previous run leaves a stale `postmaster.pid` or a still-running
//!   server: both are detected and cleaned up at start.
//! - A watchdog process stops the cluster if Tearsheet dies without shutting down (SIGKILL,
//!   panic=abort), so no stray postgres is left behind.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The port number only names the socket file (`.s.PGSQL.<port>`); no TCP port is opened.
const SOCKET_PORT: u16 = 5432;
/// The cluster's superuser. Fixed, so the connection URL does not depend on who ran initdb.
pub const SUPERUSER: &str = "tearsheet";
/// `sun_path` is 108 bytes on Linux, 104 on macOS; keep a margin for the file name.
const MAX_SOCKET_DIR_LEN: usize = 80;
const UNPRIVILEGED_USER: &str = "postgres";
/// The database `tearsheet serve` uses on its embedded cluster (created on first start).
pub const DEFAULT_DATABASE: &str = "tearsheet";

/// Why the embedded cluster could not be used. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, under \
         /usr/lib/postgresql/<version>/bin, or in PG_BIN_DIR.\n\
         Install them, then run again:\n  \
         Debian/Ubuntu: sudo apt-get install postgresql\n  \
         macOS:         brew install postgresql@16   (then PG_BIN_DIR=$(brew --prefix postgresql@16)/bin)\n\
         Or point Tearsheet at an existing server with DATABASE_URL=postgres://user:pass@host/db"
    )]
    BinariesNotFound,
    #[error(
        "running as root, and PostgreSQL refuses to run as root; the unprivileged '{UNPRIVILEGED_USER}' \
         user that Tearsheet would run it as does not exist. Create it (e.g. `useradd --system postgres`), \
         run Tearsheet as a normal user, or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error(
        "running as root, so the embedded PostgreSQL runs as the '{UNPRIVILEGED_USER}' user, which cannot \
         reach {path} (a directory on the way, such as /root, is private to root). \
         Use a data dir it can reach, e.g. --data-dir /var/lib/tearsheet (env TEARSHEET_DATA_DIR), \
         or set DATABASE_URL"
    )]
    Unreachable { path: PathBuf },
    #[error("another Tearsheet (pid {pid}) is using the data dir {data_dir}; stop it or use another --data-dir")]
    InUse { pid: u32, data_dir: PathBuf },
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = EmbeddedPgError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let context = context.into();
    move |source| EmbeddedPgError::Io { context, source }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
pub fn find_bin_dir() -> Result<PathBuf> {
    let has_all = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = std::env::var_os("PG_BIN_DIR").map(PathBuf::from) {
        return if has_all(&dir) { Ok(dir) } else { Err(EmbeddedPgError::BinariesNotFound) };
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_all(d))
    {
        return Ok(dir);
    }
    // Debian and Ubuntu keep server binaries off PATH, one directory per major version.
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_all(dir))
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, dir)| dir).ok_or(EmbeddedPgError::BinariesNotFound)
}

/// Who runs the server processes: ourselves, or (when we are root) the `postgres` user.
#[derive(Clone, Debug)]
enum RunAs {
    Me,
    User { name: &'static str, uid: u32, gid: u32 },
}

impl RunAs {
    fn detect() -> Result<Self> {
        if command_stdout(Command::new("id").arg("-u"))?.trim() != "0" {
            return Ok(RunAs::Me);
        }
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, UNPRIVILEGED_USER]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        match (id("-u"), id("-g")) {
            (Some(uid), Some(gid)) => Ok(RunAs::User { name: UNPRIVILEGED_USER, uid, gid }),
            _ => Err(EmbeddedPgError::NoUnprivilegedUser),
        }
    }

    /// A command for `program`, run as the cluster's user.
    fn command(&self, program: &Path) -> Command {
        match self {
            RunAs::Me => Command::new(program),
            RunAs::User { name, .. } => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", name, "--"]).arg(program);
                cmd
            }
        }
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if let RunAs::User { uid, gid, .. } = self {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .map_err(io_err(format!("chown {}", path.display())))?;
        }
        Ok(())
    }

    /// Whether the cluster's user can enter `dir` (every ancestor must be searchable).
    fn can_reach(&self, dir: &Path) -> bool {
        match self {
            RunAs::Me => true,
            RunAs::User { name, .. } => Command::new("runuser")
                .args(["-u", name, "--", "test", "-x"])
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        }
    }
}

/// Where a cluster lives and how it is run.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The cluster's PGDATA.
    pub pgdata: PathBuf,
    /// The file the server logs to.
    pub log_file: PathBuf,
    /// Extra `postgresql.conf` settings, e.g. for test clusters.
    pub settings: Vec<(String, String)>,
    /// Throwaway cluster: once stopped (by `stop` or by the watchdog), its data is deleted.
    pub ephemeral: bool,
}

impl ClusterSpec {
    /// The layout of `tearsheet serve`'s data dir: `<data-dir>/postgres` and a log beside it.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        ClusterSpec {
            pgdata: data_dir.join("postgres"),
            log_file: data_dir.join("postgres").join("tearsheet-server.log"),
            settings: Vec::new(),
            ephemeral: false,
        }
    }
}

/// How [`Cluster::stop_server`] stops the server (`pg_ctl stop --mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    Fast,
    Immediate,
}

/// A running cluster. Dropping it (or calling [`Cluster::stop`]) stops the server.
#[derive(Debug)]
pub struct Cluster {
    spec: ClusterSpec,
    bin_dir: PathBuf,
    run_as: RunAs,
    socket_dir: PathBuf,
    watchdog: Option<Child>,
    stopped: bool,
}

impl Cluster {
    /// Initialises the cluster if needed, cleans up after a crashed previous run, starts the
    /// server and waits until it accepts connections.
    pub fn start(spec: ClusterSpec) -> Result<Self> {
        let bin_dir = find_bin_dir()?;
        let run_as = RunAs::detect()?;
        let pgdata = absolute(&spec.pgdata)?;
        let parent = pgdata.parent().unwrap_or(Path::new("/")).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io_err(format!("creating {}", parent.display())))?;
        if !run_as.can_reach(&parent) {
            return Err(EmbeddedPgError::Unreachable { path: parent });
        }
        if let RunAs::User { name, .. } = &run_as {
            tracing::info!(user = name, "running as root: the embedded PostgreSQL runs as the '{name}' user");
        }
        let spec = ClusterSpec { pgdata, ..spec };
        let socket_dir = socket_dir_for(&spec.pgdata);
        let mut cluster = Cluster { spec, bin_dir, run_as, socket_dir, watchdog: None, stopped: false };
        cluster.init_if_needed()?;
        cluster.clean_up_previous_run()?;
        cluster.write_settings()?;
        cluster.pg_ctl_start()?;
        cluster.watchdog = cluster.spawn_watchdog();
        Ok(cluster)
    }

    /// A connection URL for `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        // sqlx reads a `host` parameter that starts with '/' as a socket directory.
        format!(
            "postgres://{SUPERUSER}@localhost:{SOCKET_PORT}/{database}?host={}",
            percent_encode(&self.socket_dir.to_string_lossy())
        )
    }

    fn pg_ctl(&self) -> Command {
        self.run_as.command(&self.bin_dir.join("pg_ctl"))
    }

    fn init_if_needed(&self) -> Result<()> {
        let pgdata = &self.spec.pgdata;
        if pgdata.join("PG_VERSION").is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(pgdata).map_err(io_err(format!("creating {}", pgdata.display())))?;
        self.run_as.chown(pgdata)?;
        set_mode(pgdata, 0o700)?;
        tracing::info!(pgdata = %pgdata.display(), "initialising a new PostgreSQL cluster");
        let mut initdb = self.run_as.command(&self.bin_dir.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(pgdata)
            .args(["--username", SUPERUSER, "--auth", "trust", "--encoding", "UTF8"])
            .args(["--locale", "C", "--no-instructions"]);
        run(&mut initdb, "initdb")?;
        // Our settings live in a file of their own, rewritten at every start (the socket
        // directory depends on where the data dir is now).
        let conf = pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io_err("reading postgresql.conf"))?;
        text.push_str("\ninclude_if_exists = 'tearsheet.conf'\n");
        std::fs::write(&conf, text).map_err(io_err("writing postgresql.conf"))?;
        Ok(())
    }

    /// A previous Tearsheet that crashed may have left its server running (if its watchdog
    /// died too) or a stale `postmaster.pid`. A live Tearsheet on the same data dir is an
    /// error, not something to take over.
    fn clean_up_previous_run(&self) -> Result<()> {
        let owner_file = self.owner_file();
        if let Some(pid) = std::fs::read_to_string(&owner_file).ok().and_then(|s| s.trim().parse::<u32>().ok())
            && pid != std::process::id()
            && process_alive(pid)
        {
            return Err(EmbeddedPgError::InUse { pid, data_dir: self.spec.pgdata.clone() });
        }
        if self.server_running() {
            tracing::warn!("a PostgreSQL left running by a previous run was found: stopping it");
            self.pg_ctl_stop("fast")?;
        } else if self.spec.pgdata.join("postmaster.pid").exists() {
            // No server answers for this pid file: a crash left it. PostgreSQL removes a
            // stale lock itself unless its pid now belongs to another process; remove it so
            // that case cannot block the start.
            tracing::warn!("removing a stale postmaster.pid left by a previous run");
            std::fs::remove_file(self.spec.pgdata.join("postmaster.pid"))
                .map_err(io_err("removing stale postmaster.pid"))?;
        }
        std::fs::write(&owner_file, std::process::id().to_string())
            .map_err(io_err(format!("writing {}", owner_file.display())))?;
        Ok(())
    }

    /// What an ephemeral cluster deletes: its PGDATA's parent, which it was given alone.
    fn remove_after_stop(&self) -> PathBuf {
        self.spec.pgdata.parent().map_or_else(|| self.spec.pgdata.clone(), Path::to_path_buf)
    }

    fn owner_file(&self) -> PathBuf {
        let name = self.spec.pgdata.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.spec.pgdata.with_file_name(format!("{name}.owner.pid"))
    }

    fn write_settings(&self) -> Result<()> {
        if self.socket_dir != self.spec.pgdata {
            std::fs::create_dir_all(&self.socket_dir)
                .map_err(io_err(format!("creating {}", self.socket_dir.display())))?;
            self.run_as.chown(&self.socket_dir)?;
            set_mode(&self.socket_dir, 0o700)?;
        }
        let mut conf = String::from("# Written by Tearsheet at every start; edits here are lost.\n");
        let mut put = |k: &str, v: &str| {
            let _ = writeln!(conf, "{k} = '{}'", v.replace('\'', "''"));
        };
        put("listen_addresses", "");
        put("port", &SOCKET_PORT.to_string());
        put("unix_socket_directories", &self.socket_dir.to_string_lossy());
        put("unix_socket_permissions", "0700");
        for (k, v) in &self.spec.settings {
            put(k, v);
        }
        let path = self.spec.pgdata.join("tearsheet.conf");
        std::fs::write(&path, conf).map_err(io_err("writing tearsheet.conf"))?;
        self.run_as.chown(&path)
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let mut cmd = self.pg_ctl();
        cmd.arg("start").arg("--pgdata").arg(&self.spec.pgdata).arg("--log").arg(&self.spec.log_file).args([
            "--wait",
            "--timeout",
            "120",
            "--silent",
        ]);
        run(&mut cmd, "pg_ctl start").map_err(|e| match e {
            EmbeddedPgError::Command { what, detail } => EmbeddedPgError::Command {
                what,
                detail: format!(
                    "{detail}\nlast lines of {}:\n{}",
                    self.spec.log_file.display(),
                    tail(&self.spec.log_file, 15)
                ),
            },
            other => other,
        })?;
        tracing::info!(pgdata = %self.spec.pgdata.display(), socket_dir = %self.socket_dir.display(), "embedded PostgreSQL started");
        Ok(())
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<()> {
        let mut cmd = self.pg_ctl();
        cmd.arg("stop").arg("--pgdata").arg(&self.spec.pgdata).args(["--mode", mode, "--wait", "--silent"]);
        run(&mut cmd, "pg_ctl stop")
    }

    fn server_running(&self) -> bool {
        let mut cmd = self.pg_ctl();
        cmd.arg("status").arg("--pgdata").arg(&self.spec.pgdata).stdout(Stdio::null()).stderr(Stdio::null());
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        cmd.status().is_ok_and(|s| s.success())
    }

    /// A small shell process, in its own process group (so a terminal's Ctrl-C does not
    /// reach it), that waits for this process to exit and then stops the cluster. It covers
    /// the exits that run no destructor: SIGKILL, an abort, a test binary's `exit`.
    fn spawn_watchdog(&self) -> Option<Child> {
        use std::os::unix::process::CommandExt as _;
        let stop = self.pg_ctl();
        let mut argv: Vec<OsString> = vec![stop.get_program().to_owned()];
        argv.extend(stop.get_args().map(ToOwned::to_owned));
        argv.extend(["stop", "--pgdata"].map(OsString::from));
        argv.push(self.spec.pgdata.clone().into_os_string());
        argv.extend(["--mode", "fast", "--silent"].map(OsString::from));
        let script = r#"p=$1; shift; while kill -0 "$p" 2>/dev/null; do sleep 1; done; "$@"
            [ -n "$TEARSHEET_RM_AFTER" ] && rm -rf "$TEARSHEET_RM_AFTER""#;
        let mut cmd = Command::new("sh");
        if self.spec.ephemeral {
            cmd.env("TEARSHEET_RM_AFTER", self.remove_after_stop());
        }
        cmd.args(["-c", script, "tearsheet-pg-watchdog"])
            .arg(std::process::id().to_string())
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .inspect_err(|e| tracing::warn!(error = %e, "could not start the PostgreSQL watchdog"))
            .ok()
    }

    /// Stops the server but keeps the cluster, to start it again with [`Cluster::start_server`]:
    /// fault tests use it for PostgreSQL going away under load (`StopMode::Immediate` is a
    /// crash as far as clients can tell: no checkpoint, recovery at the next start).
    pub fn stop_server(&self, mode: StopMode) -> Result<()> {
        self.pg_ctl_stop(match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        })
    }

    /// Copies this running cluster into `pgdata` as a streaming replica of it
    /// (`pg_basebackup -R`: `standby.signal` and `primary_conninfo` written): start it with
    /// [`Cluster::start`] on a spec with that `pgdata`. For tests of read replicas.
    pub fn base_backup(&self, pgdata: &Path) -> Result<()> {
        let pgdata = absolute(pgdata)?;
        let parent = pgdata.parent().unwrap_or(Path::new("/")).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io_err(format!("creating {}", parent.display())))?;
        self.run_as.chown(&parent)?;
        // Beside the server binaries when they are there (a directory of links to initdb,
        // pg_ctl and postgres may hold nothing else), else the client's.
        let beside = self.bin_dir.join("pg_basebackup");
        let program = if beside.is_file() { beside } else { PathBuf::from("pg_basebackup") };
        let mut cmd = self.run_as.command(&program);
        cmd.arg("--pgdata")
            .arg(&pgdata)
            .args(["--write-recovery-conf", "--wal-method", "stream", "--checkpoint", "fast", "--no-sync"])
            .arg("--host")
            .arg(&self.socket_dir)
            .args(["--port", &SOCKET_PORT.to_string(), "--username", SUPERUSER]);
        run(&mut cmd, "pg_basebackup")?;
        // The primary's socket lives in its data directory: the backup copied its lock
        // file (and the primary's log), which would stop the copy from starting.
        let lock = pgdata.join(format!(".s.PGSQL.{SOCKET_PORT}.lock"));
        let _ = std::fs::remove_file(lock);
        let _ = std::fs::remove_file(pgdata.join("tearsheet-server.log"));
        Ok(())
    }

    /// The file in which the running postmaster writes its pid (see [`postmaster_running`]).
    pub fn pid_file(&self) -> PathBuf {
        self.spec.pgdata.join("postmaster.pid")
    }

    /// Starts the server of a cluster stopped with [`Cluster::stop_server`].
    pub fn start_server(&self) -> Result<()> {
        self.pg_ctl_start()
    }

    /// Stops the server (fast mode: open sessions are ended, then a clean shutdown).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let result = if self.server_running() { self.pg_ctl_stop("fast") } else { Ok(()) };
        let _ = std::fs::remove_file(self.owner_file());
        if self.spec.ephemeral && result.is_ok() {
            let _ = std::fs::remove_dir_all(self.remove_after_stop());
        }
        if result.is_ok() {
            tracing::info!("embedded PostgreSQL stopped");
        }
        result
    }
}

/// Whether the postmaster of `pid_file` is alive: cheap enough for every metrics scrape
/// (a file read and a `/proc` lookup, where `pg_ctl status` is a process).
pub fn postmaster_running(pid_file: &Path) -> bool {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "stopping the embedded PostgreSQL failed");
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(io_err(format!("resolving {}", path.display())))
}

/// The socket goes inside PGDATA (private to the cluster's user) unless that path is too
/// long for a Unix socket; then into a short per-cluster directory in the temp dir.
fn socket_dir_for(pgdata: &Path) -> PathBuf {
    if pgdata.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return pgdata.to_path_buf();
    }
    let tmp = if Path::new("/tmp").is_dir() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    tmp.join(format!("tearsheet-pg-{:016x}", fnv1a(pgdata.as_os_str().as_encoded_bytes())))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("chmod {}", path.display())))
}

fn process_alive(pid: u32) -> bool {
    Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("running {what} ({})", cmd.get_program().to_string_lossy())))?;
    if out.status.success() {
        return Ok(());
    }
    let detail = format!(
        "{}{}{}",
        out.status,
        if out.stderr.is_empty() { "" } else { "\n" },
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    Err(EmbeddedPgError::Command { what: what.to_owned(), detail })
}

fn command_stdout(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(io_err(format!("running {}", cmd.get_program().to_string_lossy())))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_dirs_get_a_short_socket_dir() {
        let long = PathBuf::from(format!("/{}", "x".repeat(120)));
        let dir = socket_dir_for(&long);
        assert!(dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN, "{}", dir.display());
        assert_eq!(dir, socket_dir_for(&long), "the same data dir always gets the same socket dir");
        assert_eq!(socket_dir_for(Path::new("/srv/ts/postgres")), PathBuf::from("/srv/ts/postgres"));
    }

    #[test]
    fn socket_dirs_are_percent_encoded_in_urls() {
        assert_eq!(percent_encode("/tmp/a b"), "/tmp/a%20b");
    }
}
