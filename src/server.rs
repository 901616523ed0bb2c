//! The gRPC server: the API services, health and reflection on one tonic
//! router; start-up (migrations before listening) and graceful shutdown with
//! a bounded drain.

use std::{future::Future, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, sync::watch};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{server::NamedService, transport::Server};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    api::{ArticleApi, AuthorApi, CommentApi, EventApi, ShareApi},
    config::ServeArgs,
    domain::moderation::ModerationPolicy,
    events::feed::{EventFeed, FeedOptions},
    proto::{
        self, article_service_server::ArticleServiceServer,
        author_service_server::AuthorServiceServer, comment_service_server::CommentServiceServer,
        event_service_server::EventServiceServer, share_service_server::ShareServiceServer,
    },
    scheduler::run_scheduler,
    shares::ShareWriter,
    store::Store,
};

/// The names health reports on: the whole server (`""`) and each API service.
const HEALTH_SERVICES: [&str; 6] = [
    "",
    <AuthorServiceServer<AuthorApi> as NamedService>::NAME,
    <ArticleServiceServer<ArticleApi> as NamedService>::NAME,
    <EventServiceServer<EventApi> as NamedService>::NAME,
    <CommentServiceServer<CommentApi> as NamedService>::NAME,
    <ShareServiceServer<ShareApi> as NamedService>::NAME,
];

/// Longest a health ping may take before the database counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(30);
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
}

impl From<&ServeArgs> for ServerOptions {
    fn from(args: &ServeArgs) -> Self {
        Self {
            health_interval: args.health_interval,
            shutdown_grace: args.shutdown_grace,
            scheduler_tick: args.scheduler_tick,
            feed: FeedOptions {
                poll_interval: args.feed_poll_interval,
                heartbeat_interval: args.heartbeat_interval,
            },
            blocked_terms: args.blocked_terms.clone(),
        }
    }
}

/// `newsdesk serve`: opens and migrates the database, listens, and serves
/// until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let database = redact_url(&args.database_url);
    let store = Store::connect(&args.store_options())
        .await
        .with_context(|| format!("cannot open the database {database}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {database}"))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        "newsdesk listening on {} with the {} database {database}",
        listener.local_addr()?,
        store.backend_name(),
    );
    serve(
        store,
        listener,
        ServerOptions::from(&args),
        shutdown_signal(),
    )
    .await
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// taking requests and gives in-flight ones `shutdown_grace` to finish.
pub async fn serve(
    store: Store,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    // The first check runs before serving, so health is right from the start.
    let database_up = store.ping().await.is_ok();
    report_health(&health, database_up).await;
    let (stop_tasks, tasks_stopped) = watch::channel(());
    let monitor = tokio::spawn(monitor_database(
        store.clone(),
        health.clone(),
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
    let feed = EventFeed::start(store.clone(), options.feed, tasks_stopped);
    let share_writer = ShareWriter::start(store.clone());
    let policy = ModerationPolicy::new(options.blocked_terms.iter().cloned());

    // grpcurl up to 1.8 asks v1alpha; newer clients ask v1.
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let (drain_started, drain) = tokio::sync::oneshot::channel::<()>();
    let stop_health = health.clone();
    let signal = async move {
        shutdown.await;
        // Stop the monitor first so that it cannot report SERVING again, and
        // the scheduler, so that nothing new starts while requests drain.
        drop(stop_tasks);
        report_health(&stop_health, false).await;
        let _ = drain_started.send(());
    };
    let server = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(AuthorServiceServer::new(AuthorApi::new(store.clone())))
        .add_service(ArticleServiceServer::new(ArticleApi::new(store.clone())))
        .add_service(EventServiceServer::new(EventApi::new(store.clone(), feed)))
        .add_service(CommentServiceServer::new(CommentApi::new(
            store.clone(),
            policy,
        )))
        .add_service(ShareServiceServer::new(ShareApi::new(
            store.clone(),
            share_writer,
        )))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
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
        result = server => result.map_err(anyhow::Error::from),
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

/// Reflection over the API, health, and the `google.rpc` error details, so
/// that grpcurl needs no proto files, even to print a BadRequest.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// Checks the database every `interval` and reports NOT_SERVING while it
/// cannot be reached, logging each change once.
async fn monitor_database(
    store: Store,
    health: HealthReporter,
    interval: Duration,
    mut up: bool,
    mut stop: watch::Receiver<()>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        // A ping waits for a pooled connection no longer than a request would
        // (the pool's acquire timeout), so NOT_SERVING means requests would
        // fail with UNAVAILABLE too; the outer timeout only guards a hung socket.
        let now_up = tokio::time::timeout(PING_TIMEOUT, store.ping())
            .await
            .is_ok_and(|ping| ping.is_ok());
        if now_up != up {
            if now_up {
                tracing::info!("the database is reachable again: SERVING");
            } else {
                tracing::warn!("the database is unreachable: NOT_SERVING");
            }
            report_health(&health, now_up).await;
            up = now_up;
        }
    }
}

async fn report_health(health: &HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for service in HEALTH_SERVICES {
        health.set_service_status(service, status).await;
    }
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
