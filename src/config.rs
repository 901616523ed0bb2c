//! The command line: `newsdesk [serve] [OPTIONS]`, every option with an
//! environment-variable fallback.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand};

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
}

impl Cli {
    /// The command to run: `serve` unless another was named.
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// What newsdesk can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (the default): runs pending migrations, then listens.
    Serve(ServeArgs),
}

/// Options of `newsdesk serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on for gRPC.
    #[arg(long, env = "NEWSDESK_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Database URL: `sqlite://FILE?mode=rwc` (created if missing) or
    /// `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://newsdesk.db?mode=rwc"
    )]
    pub database_url: String,

    /// Most database connections the server holds open.
    #[arg(long, env = "NEWSDESK_DB_MAX_CONNECTIONS", default_value_t = 8)]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before it fails
    /// with UNAVAILABLE.
    #[arg(long, env = "NEWSDESK_DB_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub db_timeout: Duration,

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

    /// How long a shutdown waits for in-flight requests before closing
    /// the remaining connections.
    #[arg(long, env = "NEWSDESK_SHUTDOWN_GRACE", default_value = "10s", value_parser = positive_duration)]
    pub shutdown_grace: Duration,
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

impl ServeArgs {
    /// How to reach the database.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: self.db_timeout,
        }
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
        let Command::Serve(plain) = parse(&["newsdesk", "--listen", "127.0.0.1:6000"]);
        assert_eq!(plain.listen, "127.0.0.1:6000".parse().expect("address"));
        let Command::Serve(serve) =
            parse(&["newsdesk", "serve", "--database-url", "sqlite::memory:"]);
        assert_eq!(serve.database_url, "sqlite::memory:");
        assert_eq!(serve.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn zero_intervals_are_refused() {
        assert!(Cli::try_parse_from(["newsdesk", "--feed-poll-interval", "0s"]).is_err());
        assert!(Cli::try_parse_from(["newsdesk", "--scheduler-tick", "250ms"]).is_ok());
    }
}
