//! The server under test: spawned from the release binary on a database of
//! the benchmark's choosing, or one already running. Reads the spawned
//! process's memory and CPU time from /proc.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long a spawned server may take to say where it listens.
const START_PATIENCE: Duration = Duration::from_secs(120);

/// A server the benchmark talks to.
pub struct Server {
    /// `http://host:port`.
    pub url: String,
    /// The process, when the benchmark spawned it (or was told its pid).
    pub pid: Option<u32>,
    child: Option<Child>,
}

impl Server {
    /// A server already running at `url`; `pid` lets its memory and CPU be
    /// read (on this machine).
    pub fn running(url: String, pid: Option<u32>) -> Self {
        Self {
            url,
            pid,
            child: None,
        }
    }

    /// Starts `bin` on `database_url`, with the limits that would throttle
    /// a load test off, logging to `log`; returns it once it reports
    /// SERVING, with how long that took.
    pub async fn spawn(
        bin: &Path,
        database_url: &str,
        log: &Path,
    ) -> anyhow::Result<(Self, Duration)> {
        let started = Instant::now();
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--key-rate-limit",
                "0",
                "--anonymous-write-rate-limit",
                "0",
                "--max-concurrent-requests",
                "100000",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let mut server = Self {
            url: String::new(),
            pid,
            child: Some(child),
        };
        let address = loop {
            let logged = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(address) = listening_address(&logged) {
                break address;
            }
            if let Some(child) = server.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the server exited during start-up ({status}):\n{logged}");
            }
            if started.elapsed() > START_PATIENCE {
                bail!("the server did not start within {START_PATIENCE:?}:\n{logged}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        server.url = format!("http://{address}");
        server.wait_until_serving(started).await?;
        Ok((server, started.elapsed()))
    }

    /// A new connection to the server.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        Endpoint::from_shared(self.url.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", self.url))
    }

    async fn wait_until_serving(&self, started: Instant) -> anyhow::Result<()> {
        loop {
            if let Ok(channel) = self.connect().await {
                let answer = HealthClient::new(channel)
                    .check(HealthCheckRequest::default())
                    .await;
                if answer.is_ok_and(|answer| answer.into_inner().status() == ServingStatus::Serving)
                {
                    return Ok(());
                }
            }
            if started.elapsed() > START_PATIENCE {
                bail!("the server did not report SERVING within {START_PATIENCE:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What the process uses now, when it is known.
    pub fn usage(&self) -> Option<Usage> {
        Usage::of(self.pid?)
    }

    /// Stops a spawned server with SIGTERM and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                // SIGTERM, for the graceful shutdown; kill_on_drop backs it up.
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .context("the server did not stop within 30 s")??;
        }
        Ok(())
    }
}

/// The address in the server's "newsdesk listening on ADDR (...)" line.
fn listening_address(log: &str) -> Option<String> {
    let rest = log.split("newsdesk listening on ").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// A process's resident memory and CPU time so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

impl Usage {
    fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss_kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) in parens.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            rss_bytes: rss_kib * 1024,
            cpu_seconds: ticks as f64 / CLOCK_TICKS_PER_SECOND,
        })
    }
}

/// Linux's USER_HZ, which /proc/<pid>/stat counts CPU time in.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Makes an admin key in `database_url` with `bin keys create`, as an
/// operator would, and returns its token.
pub async fn admin_token(bin: &Path, database_url: &str) -> anyhow::Result<String> {
    let output = Command::new(bin)
        .args([
            "keys",
            "--database-url",
            database_url,
            "create",
            "--name",
            "newsdesk-bench",
            "--role",
            "admin",
        ])
        .output()
        .await
        .with_context(|| format!("cannot run {} keys create", bin.display()))?;
    if !output.status.success() {
        bail!(
            "`newsdesk keys create` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token = String::from_utf8(output.stdout)?.trim().to_owned();
    if !token.starts_with("nd_") {
        bail!("`newsdesk keys create` printed no token");
    }
    Ok(token)
}

/// The server binary next to this one (both built by the same `cargo build
/// --release`), or in the release target directory.
pub fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("newsdesk")))
        .filter(|bin| bin.exists())
        .unwrap_or_else(|| PathBuf::from("target/release/newsdesk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_listening_line() {
        let log = "2026-11-29T05:00:00Z  INFO newsdesk listening on 127.0.0.1:40123 (plaintext) with the sqlite database x\n";
        assert_eq!(listening_address(log).as_deref(), Some("127.0.0.1:40123"));
        assert_eq!(listening_address("starting"), None);
    }
}
