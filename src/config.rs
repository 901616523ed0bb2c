//! The command line: `newsdesk [serve] [OPTIONS]` and `newsdesk keys ...`,
//! every option with an environment-variable fallback.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::store::StoreOptions;

/// newsdesk: a gRPC content-management service for newsrooms.
#[derive(Debug, Parser)]
#[command(
    name = "newsdesk",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options for `serve`, which runs when no subcommand is given.
    #[command(flatten)]
    serve: ServeArgs,
    /// Log lines as text for people, or JSON for log collectors.
    #[arg(long, env = "NEWSDESK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl Cli {
    /// The command to run: `serve` unless another was named.
    pub fn command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(Box::new(self.serve)))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// What newsdesk can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (the default): runs pending migrations, then listens.
    Serve(Box<ServeArgs>),
    /// Manage API keys straight in the database (how the first admin key is
    /// made).
    Keys(KeysArgs),
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` (created if missing) or
    /// `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://newsdesk.db?mode=rwc"
    )]
    pub database_url: String,

    /// Most database connections the server holds open for reads (and, on
    /// PostgreSQL, writes); SQLite's writes have one more of their own. By
    /// default 16 on PostgreSQL, 8 on SQLite.
    #[arg(long, env = "NEWSDESK_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// How long a request waits for a database connection before it fails
    /// with UNAVAILABLE.
    #[arg(long, env = "NEWSDESK_DB_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub db_timeout: Duration,
}

impl DatabaseArgs {
    /// How to reach the database.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.database_url.clone(),
            max_connections: self
                .db_max_connections
                .unwrap_or_else(|| default_pool_size(&self.database_url)),
            acquire_timeout: self.db_timeout,
        }
    }
}

/// The pool's size when none is given. On PostgreSQL a write holds its
/// connection until its commit is on disk, so with 8 a slow flush left
/// every connection waiting while the CPU idled: 16 served 5-49% more
/// comments in 5 pairs (BENCHMARKS.md). On SQLite the pool only reads, and
/// each connection keeps a page cache of its own. The scheme is read as
/// sea-orm reads it: case aside, leading spaces aside.
fn default_pool_size(database_url: &str) -> u32 {
    let scheme = database_url
        .trim_start()
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql") => 16,
        _ => 8,
    }
}

/// Options of `newsdesk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on for gRPC (and gRPC-Web).
    #[arg(long, env = "NEWSDESK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// How often the health service checks the database.
    #[arg(long, env = "NEWSDESK_HEALTH_INTERVAL", default_value = "2s", value_parser = positive_duration)]
    pub health_interval: Duration,

    /// How often the scheduler looks for scheduled articles that are due;
    /// they go live within this long of their time.
    #[arg(long, env = "NEWSDESK_SCHEDULER_TICK", default_value = "500ms", value_parser = positive_duration)]
    pub scheduler_tick: Duration,

    /// How often the live change feed looks for events that other server
    /// processes committed (this server's own reach watchers at once).
    #[arg(long, env = "NEWSDESK_FEED_POLL_INTERVAL", default_value = "250ms", value_parser = positive_duration)]
    pub feed_poll_interval: Duration,

    /// How long a WatchEvents stream stays silent before a heartbeat.
    #[arg(long, env = "NEWSDESK_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = positive_duration)]
    pub heartbeat_interval: Duration,

    /// Terms that hold a comment for the moderators, comma-separated
    /// (matched without regard to case or Arabic diacritics).
    #[arg(long, env = "NEWSDESK_BLOCKED_TERMS", value_delimiter = ',')]
    pub blocked_terms: Vec<String>,

    /// The longest a request may run; a shorter `grpc-timeout` from the
    /// client wins. A request cut short writes nothing.
    #[arg(long, env = "NEWSDESK_REQUEST_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub request_timeout: Duration,

    /// Requests served at once; more are refused at once with
    /// RESOURCE_EXHAUSTED instead of queueing.
    #[arg(
        long,
        env = "NEWSDESK_MAX_CONCURRENT_REQUESTS",
        default_value_t = 512,
        value_parser = positive_count
    )]
    pub max_concurrent_requests: usize,

    /// Requests per second each API key may make (0: no limit).
    #[arg(long, env = "NEWSDESK_KEY_RATE_LIMIT", default_value_t = 100)]
    pub key_rate_limit: u32,

    /// Comments and shares per minute each anonymous client IP may post
    /// (0: no limit).
    #[arg(
        long,
        env = "NEWSDESK_ANONYMOUS_WRITE_RATE_LIMIT",
        default_value_t = 60
    )]
    pub anonymous_write_rate_limit: u32,

    /// The largest request message, in bytes.
    #[arg(
        long,
        env = "NEWSDESK_MAX_MESSAGE_SIZE",
        default_value_t = 4 * 1024 * 1024,
        value_parser = positive_count
    )]
    pub max_message_size: usize,

    /// Browser origins allowed to call the API through gRPC-Web, such as
    /// `https://news.example` (repeat the option, or separate with commas).
    #[arg(
        long = "cors-origin",
        env = "NEWSDESK_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = browser_origin
    )]
    pub cors_origins: Vec<String>,

    /// The server's TLS certificate chain (PEM); with `--tls-key`, the server
    /// speaks TLS only.
    #[arg(long, env = "NEWSDESK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The server's TLS private key (PEM).
    #[arg(long, env = "NEWSDESK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM).
    #[arg(long, env = "NEWSDESK_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve gRPC server reflection (`--reflection=false` for public
    /// deployments).
    #[arg(long, env = "NEWSDESK_REFLECTION", default_value_t = true, action = ArgAction::Set)]
    pub reflection: bool,

    /// Memory for readers' copies of published articles and listing pages,
    /// in MiB (compressed: about 1.5 KB an article, so the default holds
    /// some 115,000); `0` serves every read from the database.
    #[arg(long, env = "NEWSDESK_ARTICLE_CACHE_MB", default_value_t = 192)]
    pub article_cache_mb: u64,

    /// Address for Prometheus metrics over HTTP (`/metrics`); off unless set.
    #[arg(long, env = "NEWSDESK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// How long a shutdown waits for in-flight requests before closing
    /// the remaining connections.
    #[arg(long, env = "NEWSDESK_SHUTDOWN_GRACE", default_value = "10s", value_parser = positive_duration)]
    pub shutdown_grace: Duration,
}

impl ServeArgs {
    /// A rate limit from its option: 0 turns it off.
    pub fn rate(limit: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(limit)
    }
}

/// `newsdesk keys ...`.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// What `newsdesk keys` can do.
#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print its token, once.
    Create {
        /// What the key is for, such as `ops`.
        #[arg(long)]
        name: String,
        /// admin, editor, writer or subscriber.
        #[arg(long)]
        role: String,
        /// For a writer's key: the author the writer writes as.
        #[arg(long)]
        author_id: Option<String>,
    },
    /// Revoke a key: its token stops working at once.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// A duration such as `500ms` or `2s`, more than zero: a zero interval would
/// make a loop spin.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be more than zero".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// A count of one or more: a limit of zero would refuse everything.
fn positive_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be 1 or more".into()),
        Ok(count) => Ok(count),
        Err(error) => Err(error.to_string()),
    }
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`, in
/// lower case, with no path, so that the comparison with what browsers send
/// is exact. `*` is refused: an allow-list lists origins.
fn browser_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("`{text}` is not an origin such as https://news.example"))?;
    match (uri.scheme_str(), uri.authority(), uri.path()) {
        (Some(scheme @ ("http" | "https")), Some(authority), "/" | "")
            if uri.query().is_none() && !authority.as_str().contains('@') =>
        {
            Ok(format!("{scheme}://{authority}").to_lowercase())
        }
        _ => Err(format!(
            "`{text}` is not an origin such as https://news.example (a scheme and a host, \
             no path; `*` is not accepted)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(args)
            .expect("valid arguments")
            .command()
    }

    #[test]
    fn plain_newsdesk_and_newsdesk_serve_both_serve() {
        let Command::Serve(plain) = parse(&["newsdesk", "--listen", "127.0.0.1:6000"]) else {
            panic!("serve");
        };
        assert_eq!(plain.listen, "127.0.0.1:6000".parse().expect("address"));
        assert!(plain.reflection);
        let Command::Serve(serve) = parse(&[
            "newsdesk",
            "serve",
            "--database-url",
            "sqlite::memory:",
            "--reflection=false",
        ]) else {
            panic!("serve");
        };
        assert_eq!(serve.database.database_url, "sqlite::memory:");
        assert_eq!(serve.shutdown_grace, Duration::from_secs(10));
        assert!(!serve.reflection);
    }

    #[test]
    fn the_pool_is_larger_on_postgresql_unless_its_size_is_given() {
        let pool_size = |args: &[&str]| {
            let Command::Serve(serve) = parse(args) else {
                panic!("serve");
            };
            serve.database.store_options().max_connections
        };
        let postgres = "postgres://postgres@127.0.0.1:5432/newsdesk";
        let sqlite = "sqlite://newsdesk.db?mode=rwc";
        assert_eq!(pool_size(&["newsdesk", "--database-url", postgres]), 16);
        assert_eq!(pool_size(&["newsdesk", "--database-url", sqlite]), 8);
        for also_postgres in [
            "postgresql://postgres@127.0.0.1:5432/newsdesk",
            "PostgreSQL://postgres@127.0.0.1:5432/newsdesk",
        ] {
            assert_eq!(
                pool_size(&["newsdesk", "--database-url", also_postgres]),
                16,
                "{also_postgres}"
            );
        }
        assert_eq!(
            pool_size(&[
                "newsdesk",
                "--database-url",
                postgres,
                "--db-max-connections",
                "4"
            ]),
            4
        );
    }

    #[test]
    fn keys_create_takes_a_name_and_a_role() {
        let Command::Keys(keys) = parse(&[
            "newsdesk", "keys", "create", "--name", "ops", "--role", "admin",
        ]) else {
            panic!("keys");
        };
        assert!(matches!(keys.command, KeysCommand::Create { ref name, .. } if name == "ops"));
    }

    #[test]
    fn origins_are_written_as_browsers_send_them_and_wildcards_are_refused() {
        assert_eq!(
            browser_origin(" HTTPS://News.Example:8443/ "),
            Ok("https://news.example:8443".to_owned())
        );
        for bad in [
            "*",
            "news.example",
            "https://news.example/page",
            "ftp://news.example",
        ] {
            assert!(browser_origin(bad).is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["newsdesk", "--max-concurrent-requests", "0"]).is_err());
    }

    #[test]
    fn zero_intervals_and_half_a_tls_setup_are_refused() {
        assert!(Cli::try_parse_from(["newsdesk", "--feed-poll-interval", "0s"]).is_err());
        assert!(Cli::try_parse_from(["newsdesk", "--scheduler-tick", "250ms"]).is_ok());
        assert!(Cli::try_parse_from(["newsdesk", "--tls-cert", "cert.pem"]).is_err());
    }
}
