//! The gRPC server: start-up (migrations before listening), the background
//! tasks (health, scheduler, change feed, share writer), and graceful
//! shutdown with a bounded drain. The tower stack and the services are in
//! `stack`, health in `health`.

mod health;
mod stack;

use std::{future::Future, time::Duration};

use anyhow::Context;
use http::HeaderValue;
use metrics_exporter_prometheus::Matcher;
use tokio::{net::TcpListener, sync::watch};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::{
    api::PublishedArticles,
    config::ServeArgs,
    domain::moderation::ModerationPolicy,
    events::feed::{EventFeed, FeedOptions},
    middleware::rate_limit::RateLimitOptions,
    scheduler::run_scheduler,
    shares::ShareWriter,
    store::Store,
};

/// Longest shutdown waits for the database pool to close.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the server behaves around its requests.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How often health checks the database.
    pub health_interval: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How often the scheduler looks for articles due to go live.
    pub scheduler_tick: Duration,
    /// How the live change feed polls and keeps streams alive.
    pub feed: FeedOptions,
    /// Terms that hold a comment for the moderators.
    pub blocked_terms: Vec<String>,
    /// The longest a request may run.
    pub request_timeout: Duration,
    /// Requests served at once before the rest are refused.
    pub max_concurrent_requests: usize,
    /// Per-key and per-IP request rates.
    pub rate_limits: RateLimitOptions,
    /// The largest request message, in bytes.
    pub max_message_size: usize,
    /// Browser origins served through gRPC-Web.
    pub cors_origins: Vec<HeaderValue>,
    /// TLS, when the server speaks it.
    pub tls: Option<ServerTlsConfig>,
    /// Whether gRPC server reflection is served.
    pub reflection: bool,
    /// Memory for readers' copies of published articles, in bytes.
    pub article_cache_bytes: u64,
}

impl Default for ServerOptions {
    /// The command line's defaults.
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            scheduler_tick: Duration::from_millis(500),
            feed: FeedOptions {
                poll_interval: Duration::from_millis(250),
                heartbeat_interval: Duration::from_secs(15),
            },
            blocked_terms: Vec::new(),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            rate_limits: RateLimitOptions {
                per_key_per_second: ServeArgs::rate(100),
                anonymous_writes_per_minute: ServeArgs::rate(60),
            },
            max_message_size: 4 * 1024 * 1024,
            cors_origins: Vec::new(),
            tls: None,
            reflection: true,
            article_cache_bytes: 192 * 1024 * 1024,
        }
    }
}

impl ServerOptions {
    /// The options `newsdesk serve` was given, with its TLS files read.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let cors_origins = args
            .cors_origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim())
                    .with_context(|| format!("`{origin}` is not a valid origin"))
            })
            .collect::<anyhow::Result<_>>()?;
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let read = |path: &std::path::PathBuf| {
                    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
                };
                let mut tls =
                    ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
                if let Some(ca) = &args.tls_client_ca {
                    tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
                }
                Some(tls)
            }
            _ => None,
        };
        Ok(Self {
            health_interval: args.health_interval,
            shutdown_grace: args.shutdown_grace,
            scheduler_tick: args.scheduler_tick,
            feed: FeedOptions {
                poll_interval: args.feed_poll_interval,
                heartbeat_interval: args.heartbeat_interval,
            },
            blocked_terms: args.blocked_terms.clone(),
            request_timeout: args.request_timeout,
            max_concurrent_requests: args.max_concurrent_requests,
            rate_limits: RateLimitOptions {
                per_key_per_second: ServeArgs::rate(args.key_rate_limit),
                anonymous_writes_per_minute: ServeArgs::rate(args.anonymous_write_rate_limit),
            },
            max_message_size: args.max_message_size,
            cors_origins,
            tls,
            reflection: args.reflection,
            article_cache_bytes: args.article_cache_mb * 1024 * 1024,
        })
    }
}

/// Buckets of the latency and lag histograms, from a tenth of a millisecond
/// to a minute.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Buckets of the event-feed lag, in events.
const EVENTS_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 10_000.0];

/// Buckets of the writes that share a commit.
const WRITES_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// `newsdesk serve`: opens and migrates the database, listens, and serves
/// until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let options = ServerOptions::from_args(&args)?;
    if let Some(address) = args.metrics_listen {
        // Histograms (not summaries), so that several servers' latencies
        // can be added up in Prometheus.
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(address)
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Suffix("_events".into()), EVENTS_BUCKETS)
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Suffix("_writes".into()), WRITES_BUCKETS)
            })
            .context("metric buckets")?
            .install()
            .with_context(|| format!("cannot serve metrics on {address}"))?;
        tracing::info!("metrics on http://{address}/metrics");
    }
    let store = open_store(&args.database).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        "newsdesk listening on {} ({}) with the {} database {}",
        listener.local_addr()?,
        if options.tls.is_some() {
            "TLS"
        } else {
            "plaintext"
        },
        store.backend_name(),
        redact_url(&args.database.database_url),
    );
    serve(store, listener, options, shutdown_signal()).await
}

/// Opens the database and applies pending migrations.
pub async fn open_store(database: &crate::config::DatabaseArgs) -> anyhow::Result<Store> {
    let shown = redact_url(&database.database_url);
    let store = Store::connect(&database.store_options())
        .await
        .with_context(|| format!("cannot open the database {shown}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {shown}"))?;
    Ok(store)
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// taking requests and gives in-flight ones `shutdown_grace` to finish.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // The first check runs before serving, so health is right from the start.
    let database_up = store.ping().await.is_ok();
    health::report_health(&health_reporter, database_up).await;
    let (stop_tasks, tasks_stopped) = watch::channel(());
    let monitor = tokio::spawn(health::monitor_database(
        store.clone(),
        health_reporter.clone(),
        options.health_interval,
        database_up,
        tasks_stopped.clone(),
    ));
    let scheduler = tokio::spawn(run_scheduler(
        store.clone(),
        options.scheduler_tick,
        tasks_stopped.clone(),
    ));
    // Stopping the feed ends every watch stream, which graceful shutdown
    // would otherwise wait for until its grace ran out.
    let published = PublishedArticles::start(
        store.clone(),
        options.article_cache_bytes,
        options.feed.poll_interval,
        tasks_stopped.clone(),
    )
    .await;
    let services = stack::Services {
        published,
        feed: EventFeed::start(store.clone(), options.feed, tasks_stopped),
        share_writer: ShareWriter::start(store.clone()),
        policy: ModerationPolicy::new(options.blocked_terms.iter().cloned()),
        health: health_service,
    };

    let (drain_started, drain) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        // Stop the monitor first so that it cannot report SERVING again, and
        // the scheduler, so that nothing new starts while requests drain.
        drop(stop_tasks);
        health::report_health(&health_reporter, false).await;
        let _ = drain_started.send(());
    };
    let server = stack::serve_stack(&store, &options, services, listener, signal);
    let grace = options.shutdown_grace;
    let drain_deadline = async move {
        match drain.await {
            Ok(()) => {
                tracing::info!("shutting down: waiting up to {grace:?} for in-flight requests");
                tokio::time::sleep(grace).await;
            }
            // The server ended without a shutdown signal.
            Err(_) => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = server => result,
        () = drain_deadline => {
            tracing::warn!("the shutdown grace of {grace:?} is over; abandoning the requests still in flight");
            Ok(())
        }
    };
    monitor.abort();
    scheduler.abort();
    // Requests abandoned above may still hold connections, which closing the
    // pool would wait for; the process is about to exit anyway.
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database pool did not close within {POOL_CLOSE_TIMEOUT:?}");
    }
    tracing::info!("newsdesk stopped");
    result
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

/// `url` with any password replaced by `***`, for logs.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("postgres://news:s3cret@db.internal:5432/newsdesk"),
            "postgres://news:***@db.internal:5432/newsdesk"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact_url("sqlite://newsdesk.db?mode=rwc"),
            "sqlite://newsdesk.db?mode=rwc"
        );
    }
}
