//! The server's life: health (and NOT_SERVING without a database), and a
//! graceful shutdown.

use std::time::Duration;

use newsdesk::proto as pb;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::TestApp;

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in [
        "",
        "newsdesk.v1.AuthorService",
        "newsdesk.v1.ArticleService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn health_reports_not_serving_while_the_database_is_unreachable() {
    let app = TestApp::spawn().await;
    if !app.database.is_postgres() {
        // An open SQLite file cannot be taken away from a running server.
        eprintln!("skipped: needs DATABASE_URL=postgres://... to take the database away");
        return;
    }
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch health")
        .into_inner();
    let first = watch
        .message()
        .await
        .expect("first status")
        .expect("a status");
    assert_eq!(first.status(), ServingStatus::Serving);

    app.database.drop_now().await;
    // The monitor checks every 100 ms in tests; the bound only stops a hang.
    let next = tokio::time::timeout(Duration::from_secs(30), watch.message())
        .await
        .expect("a status change within 30 s")
        .expect("stream open")
        .expect("a status");
    assert_eq!(next.status(), ServingStatus::NotServing);

    let status = app
        .authors
        .clone()
        .list_authors(pb::ListAuthorsRequest::default())
        .await
        .expect_err("no database, no authors");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn stopping_the_server_returns_ok_and_it_answers_no_more() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let channel = app.channel.clone();
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("shutdown within its grace period")
        .expect("serve returns Ok");
    let after = newsdesk::proto::author_service_client::AuthorServiceClient::new(channel)
        .get_author(pb::GetAuthorRequest {
            id: desk.id,
            ..Default::default()
        })
        .await;
    assert!(after.is_err(), "a stopped server answers nothing");
}
