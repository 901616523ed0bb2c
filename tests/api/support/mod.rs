//! The test harness: `TestApp::spawn()` runs the real server on 127.0.0.1:0
//! over the real migrations on a fresh database (a temporary SQLite file, or a
//! fresh PostgreSQL database when `DATABASE_URL` is set) and hands back
//! generated clients, which carry an admin key's token (`as_anonymous` and
//! `as_token` give clients for other callers). Dropping the app stops the
//! server; the database goes when the last server on it does.
//! `another_server` starts a second server process on the same database.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use newsdesk::{
    domain::{
        access::{Actor, Role},
        clock::{Clock, SystemClock},
        key::NewKey,
    },
    events::feed::FeedOptions,
    middleware::rate_limit::RateLimitOptions,
    proto::{
        self as pb, article_service_client::ArticleServiceClient,
        author_service_client::AuthorServiceClient, comment_service_client::CommentServiceClient,
        event_service_client::EventServiceClient, key_service_client::KeyServiceClient,
        share_service_client::ShareServiceClient,
    },
    server::{ServerOptions, serve},
    store::{Store, StoreOptions},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Code, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

mod database;

pub use database::{TestDatabase, WriteLock};

/// A channel whose requests carry a bearer token (or none).
pub type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every request, when it has one.
#[derive(Debug, Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A client for every service, all acting as one caller.
#[derive(Debug, Clone)]
pub struct Clients {
    pub health: HealthClient<Authed>,
    pub authors: AuthorServiceClient<Authed>,
    pub articles: ArticleServiceClient<Authed>,
    pub events: EventServiceClient<Authed>,
    pub comments: CommentServiceClient<Authed>,
    pub shares: ShareServiceClient<Authed>,
    pub keys: KeyServiceClient<Authed>,
}

impl Clients {
    /// Clients on `channel` sending `authorization` as given (`None`: none).
    pub fn with_authorization(channel: &Channel, authorization: Option<&str>) -> Clients {
        let bearer =
            Bearer(authorization.map(|value| {
                MetadataValue::try_from(value).expect("an ASCII authorization header")
            }));
        let authed = || InterceptedService::new(channel.clone(), bearer.clone());
        Clients {
            health: HealthClient::new(authed()),
            authors: AuthorServiceClient::new(authed()),
            articles: ArticleServiceClient::new(authed()),
            events: EventServiceClient::new(authed()),
            comments: CommentServiceClient::new(authed()),
            shares: ShareServiceClient::new(authed()),
            keys: KeyServiceClient::new(authed()),
        }
    }
}

/// A running server on a test database.
pub struct TestApp {
    pub authors: AuthorServiceClient<Authed>,
    pub articles: ArticleServiceClient<Authed>,
    pub events: EventServiceClient<Authed>,
    pub comments: CommentServiceClient<Authed>,
    pub shares: ShareServiceClient<Authed>,
    pub keys: KeyServiceClient<Authed>,
    pub channel: Channel,
    /// Where the server listens.
    pub address: SocketAddr,
    /// The admin key's token the clients above carry.
    pub admin_token: String,
    pub database: Arc<TestDatabase>,
    /// The server's store, for waiting on its commits and writes.
    store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The options test servers run with: fast ticks, a blocked term, and no
/// rate limits (tests that check limits set their own).
pub fn test_options() -> ServerOptions {
    ServerOptions {
        health_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(2),
        scheduler_tick: Duration::from_millis(20),
        feed: FeedOptions {
            poll_interval: Duration::from_millis(50),
            heartbeat_interval: Duration::from_millis(500),
        },
        blocked_terms: vec![BLOCKED_TERM.to_owned()],
        rate_limits: RateLimitOptions {
            per_key_per_second: None,
            anonymous_writes_per_minute: None,
        },
        ..ServerOptions::default()
    }
}

/// The term the test servers' moderation policy holds comments for.
pub const BLOCKED_TERM: &str = "كازينو";

/// The longest a test waits for something that should happen in moments.
const PATIENCE: Duration = Duration::from_secs(30);

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with_clock(Arc::new(SystemClock)).await
    }

    /// A server whose writes are stamped by `clock`.
    pub async fn spawn_with_clock(clock: Arc<dyn Clock>) -> TestApp {
        let database = Arc::new(TestDatabase::create().await);
        TestApp::serve(database, clock, test_options()).await
    }

    /// A server with options of the test's choosing.
    pub async fn spawn_with_options(options: ServerOptions) -> TestApp {
        let database = Arc::new(TestDatabase::create().await);
        TestApp::serve(database, Arc::new(SystemClock), options).await
    }

    /// A second server process on this one's database, with its own pool,
    /// scheduler and clock.
    pub async fn another_server(&self, clock: Arc<dyn Clock>) -> TestApp {
        TestApp::serve(self.database.clone(), clock, test_options()).await
    }

    /// [`TestApp::another_server`] on the system clock.
    pub async fn another_server_in_real_time(&self) -> TestApp {
        self.another_server(Arc::new(SystemClock)).await
    }

    /// A server on `database`, such as a restart on the database of a
    /// server that was stopped.
    pub async fn on_database(database: Arc<TestDatabase>, clock: Arc<dyn Clock>) -> TestApp {
        TestApp::serve(database, clock, test_options()).await
    }

    /// Clients acting as an anonymous reader.
    pub fn as_anonymous(&self) -> Clients {
        Clients::with_authorization(&self.channel, None)
    }

    /// Clients acting as the key with `token`.
    pub fn as_token(&self, token: &str) -> Clients {
        Clients::with_authorization(&self.channel, Some(&format!("Bearer {token}")))
    }

    /// A new key, with its token, made by the admin through KeyService.
    pub async fn key(&self, role: pb::Role, author_id: Option<&str>) -> pb::CreateApiKeyResponse {
        self.keys
            .clone()
            .create_api_key(pb::CreateApiKeyRequest {
                name: format!("{role:?} key"),
                role: role.into(),
                author_id: author_id.unwrap_or_default().to_owned(),
            })
            .await
            .expect("create key")
            .into_inner()
    }

    /// A new key's token, made by the admin through KeyService.
    pub async fn token(&self, role: pb::Role, author_id: Option<&str>) -> String {
        self.key(role, author_id).await.token
    }

    async fn serve(
        database: Arc<TestDatabase>,
        clock: Arc<dyn Clock>,
        options: ServerOptions,
    ) -> TestApp {
        let store = Store::connect(&StoreOptions {
            url: database.url.clone(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
        })
        .await
        .expect("connect to the test database")
        .with_clock(clock);
        store.migrate().await.expect("run the migrations");
        // The first admin key, as `newsdesk keys create` makes it.
        let (_, admin_token) = store
            .insert_key(
                &Actor::system("test"),
                NewKey::new("test admin", Role::Admin, None).expect("a valid key"),
            )
            .await
            .expect("create the admin key");
        // Bound before the client connects: no sleep, no retry.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let address = listener.local_addr().expect("local address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(store.clone(), listener, options, async {
            let _ = stop.await;
        }));
        let channel = channel_to(address).await;
        let Clients {
            health: _,
            authors,
            articles,
            events,
            comments,
            shares,
            keys,
        } = Clients::with_authorization(&channel, Some(&format!("Bearer {admin_token}")));
        TestApp {
            authors,
            articles,
            events,
            comments,
            shares,
            keys,
            channel,
            address,
            admin_token,
            database,
            store,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Waits until `check` holds, checking again after every change that
    /// any of `servers` commits (no sleeping and hoping); panics after
    /// `PATIENCE`.
    pub async fn eventually<F, Fut>(servers: &[&TestApp], what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut commits: Vec<_> = servers
            .iter()
            .map(|server| server.store.subscribe_commits())
            .collect();
        let waiting = async {
            loop {
                for receiver in &mut commits {
                    receiver.borrow_and_update();
                }
                if check().await {
                    return;
                }
                let next_commit = commits
                    .iter_mut()
                    .map(|receiver| Box::pin(receiver.changed()));
                let _ = futures::future::select_all(next_commit).await;
            }
        };
        if tokio::time::timeout(PATIENCE, waiting).await.is_err() {
            panic!("waited {PATIENCE:?} for {what}");
        }
    }

    /// The change feed's first thousand events, oldest first.
    pub async fn all_events(&self) -> Vec<pb::Event> {
        self.events
            .clone()
            .list_events(pb::ListEventsRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("events")
            .into_inner()
            .events
    }

    /// Every event of `types` (of any type when empty), oldest first, read
    /// page by page as a feed reader would.
    pub async fn events_paged(&self, types: &[&str]) -> Vec<pb::Event> {
        let mut all = Vec::new();
        let mut after_sequence = 0;
        loop {
            let page = self
                .events
                .clone()
                .list_events(pb::ListEventsRequest {
                    after_sequence,
                    page_size: 100,
                    types: types.iter().map(|&event_type| event_type.into()).collect(),
                })
                .await
                .expect("list events")
                .into_inner()
                .events;
            let Some(last) = page.last() else { return all };
            after_sequence = last.sequence;
            all.extend(page);
        }
    }

    /// How many commits the server has made so far.
    pub fn commits(&self) -> u64 {
        self.store.local_commits()
    }

    /// Writes queued for the server's SQLite writer connection (0 on
    /// PostgreSQL).
    pub fn writes_waiting(&self) -> usize {
        self.store.writes_waiting()
    }

    /// Shuts the server down gracefully and returns what `serve` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = self.server.take().expect("server task");
        server.await.expect("server task did not panic")
    }

    /// Creates an author with this display name and kind.
    pub async fn author(&self, name: &str, kind: pb::AuthorKind) -> pb::Author {
        self.authors
            .clone()
            .create_author(pb::CreateAuthorRequest {
                author: Some(pb::Author {
                    display_name: name.into(),
                    kind: kind.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("create author")
            .into_inner()
    }

    /// Creates an article from `article`.
    pub async fn article(&self, article: pb::Article) -> pb::Article {
        self.try_article(article).await.expect("create article")
    }

    pub async fn try_article(&self, article: pb::Article) -> Result<pb::Article, Status> {
        self.articles
            .clone()
            .create_article(pb::CreateArticleRequest {
                article: Some(article),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn get_article(&self, id: &str) -> Result<pb::Article, Status> {
        self.articles
            .clone()
            .get_article(pb::GetArticleRequest {
                id: id.into(),
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn channel_to(address: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the test server")
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct FrozenClock(Mutex<DateTime<Utc>>);

impl FrozenClock {
    pub fn at(time: DateTime<Utc>) -> Arc<FrozenClock> {
        Arc::new(FrozenClock(Mutex::new(time)))
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        // std Mutex: held for an addition, never across an await.
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> DateTime<Utc> {
        // std Mutex: held for a copy, never across an await.
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The sample article in the plain-text layout newsrooms export: title line,
/// byline line, paragraphs, then the share/comment buttons' labels.
pub struct SeedArticle {
    pub title: String,
    pub byline: String,
    pub body: String,
}

pub fn seed_article() -> SeedArticle {
    let text = include_str!("../../fixtures/witkoff-putin-talks.ar.txt");
    let mut blocks: Vec<&str> = text.split("\n\n").collect();
    // The trailing «شارك المقال» / «اترك تعليقك» are page chrome, not story.
    if blocks
        .last()
        .is_some_and(|last| last.starts_with("شارك المقال"))
    {
        blocks.pop();
    }
    SeedArticle {
        title: blocks[0].to_owned(),
        byline: blocks[1].to_owned(),
        body: blocks[2..].join("\n\n"),
    }
}

/// Asserts `status` is INVALID_ARGUMENT with a BadRequest naming `field`.
#[track_caller]
pub fn assert_invalid(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest");
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    assert!(fields.contains(&field), "expected {field} among {fields:?}");
}

/// Asserts that `result` failed with `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    status
}

/// A minimal valid article by `author`.
pub fn draft(title: &str, author: &pb::Author) -> pb::Article {
    pb::Article {
        title: title.into(),
        body: "نص قصير".into(),
        author_ids: vec![author.id.clone()],
        ..Default::default()
    }
}
