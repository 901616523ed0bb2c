//! Health: `grpc.health.v1.Health` reports NOT_SERVING while the database
//! cannot be reached (and while the server shuts down); the monitor also
//! keeps the database-pool gauges current.

use std::time::Duration;

use tokio::sync::watch;
use tonic::server::NamedService;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    api::{ArticleApi, AuthorApi, CommentApi, EventApi, KeyApi, ShareApi},
    proto::{
        article_service_server::ArticleServiceServer, author_service_server::AuthorServiceServer,
        comment_service_server::CommentServiceServer, event_service_server::EventServiceServer,
        key_service_server::KeyServiceServer, share_service_server::ShareServiceServer,
    },
    store::Store,
};

/// The names health reports on: the whole server (`""`) and each API service.
const HEALTH_SERVICES: [&str; 7] = [
    "",
    <AuthorServiceServer<AuthorApi> as NamedService>::NAME,
    <ArticleServiceServer<ArticleApi> as NamedService>::NAME,
    <EventServiceServer<EventApi> as NamedService>::NAME,
    <CommentServiceServer<CommentApi> as NamedService>::NAME,
    <ShareServiceServer<ShareApi> as NamedService>::NAME,
    <KeyServiceServer<KeyApi> as NamedService>::NAME,
];

/// Longest a health ping may take before the database counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks the database every `interval` and reports NOT_SERVING while it
/// cannot be reached, logging each change once.
pub(super) async fn monitor_database(
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
        let (size, idle) = store.pool_use();
        metrics::gauge!("db_pool_connections").set(f64::from(size));
        metrics::gauge!("db_pool_connections_idle").set(f64::from(idle));
        metrics::gauge!("db_writes_waiting").set(store.writes_waiting() as f64);
    }
}

/// Sets every service's status to SERVING or NOT_SERVING.
pub(super) async fn report_health(health: &HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for service in HEALTH_SERVICES {
        health.set_service_status(service, status).await;
    }
}
