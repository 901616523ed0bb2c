//! Who may do what, through the real server: every RPC in the rule table,
//! called by every kind of caller, on their own article, someone else's, and
//! one that does not exist. The expectations are written out here, apart
//! from the code's table, so that a wrong rule shows up as a failure.

use newsdesk::{domain::access::RULES, proto as pb};
use prost_types::FieldMask;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;

use crate::support::{Clients, TestApp, assert_code, draft};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Writer,
    Editor,
    Subscriber,
    Admin,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Writer,
    Who::Editor,
    Who::Subscriber,
    Who::Admin,
];

/// Which article a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// One that credits the writer.
    Own,
    /// One that credits someone else.
    Other,
    /// One that does not exist.
    Missing,
}

/// What a call should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Served: it succeeds, or fails for a reason that is not about access.
    Allowed,
    Unauthenticated,
    PermissionDenied,
    /// The resource does not exist, or must seem not to for this caller.
    NotFound,
}

/// An RPC's access policy, as the issue states it.
struct Policy {
    /// Who may call it at all (anonymous included or not).
    callers: &'static [Who],
    /// Whether it acts on one article, so that targets matter.
    on_article: bool,
    /// Whether writers reach only articles that credit them.
    writer_own_only: bool,
}

const ALL_KEYS: &[Who] = &[Who::Writer, Who::Editor, Who::Subscriber, Who::Admin];
const NEWSROOM_WRITERS: &[Who] = &[Who::Writer, Who::Editor, Who::Admin];
const EDITORS: &[Who] = &[Who::Editor, Who::Admin];

fn policy(path: &str) -> Policy {
    let method = path.rsplit('/').next().unwrap_or_default();
    let public = Policy {
        callers: &EVERYONE,
        on_article: false,
        writer_own_only: false,
    };
    match method {
        "Check" | "Watch" | "GetAuthor" | "ListAuthors" | "CreateComment" | "GetComment"
        | "ListComments" | "RecordShare" | "GetShareStats" | "ListTopShared" => public,
        "CreateAuthor" | "UpdateAuthor" | "DeleteAuthor" | "ModerateComment" | "DeleteComment" => {
            Policy {
                callers: EDITORS,
                ..public
            }
        }
        // Asked in the latest view, which needs a key.
        "GetArticle" => Policy {
            callers: ALL_KEYS,
            on_article: true,
            writer_own_only: true,
        },
        "ListArticles" => Policy {
            callers: ALL_KEYS,
            ..public
        },
        "CreateArticle" => Policy {
            callers: NEWSROOM_WRITERS,
            on_article: false,
            writer_own_only: true,
        },
        "UpdateArticle" | "SubmitArticle" | "RestoreArticleRevision" => Policy {
            callers: NEWSROOM_WRITERS,
            on_article: true,
            writer_own_only: true,
        },
        "ListArticleRevisions" | "GetArticleRevision" => Policy {
            callers: ALL_KEYS,
            on_article: true,
            writer_own_only: true,
        },
        "DeleteArticle" | "UndeleteArticle" | "ReturnArticle" | "PublishArticle"
        | "UnpublishArticle" | "ArchiveArticle" => Policy {
            callers: EDITORS,
            on_article: true,
            writer_own_only: false,
        },
        "ListCommentsForModeration" => Policy {
            callers: &[Who::Editor, Who::Subscriber, Who::Admin],
            ..public
        },
        "ListEvents" | "WatchEvents" => Policy {
            callers: &[Who::Subscriber, Who::Admin],
            ..public
        },
        "CreateApiKey" | "ListApiKeys" | "RevokeApiKey" => Policy {
            callers: &[Who::Admin],
            ..public
        },
        other => panic!("no policy written for {other}: add one"),
    }
}

fn expected(path: &str, who: Who, target: Target) -> Expect {
    let policy = policy(path);
    if !policy.callers.contains(&who) {
        return if who == Who::Anonymous {
            Expect::Unauthenticated
        } else {
            Expect::PermissionDenied
        };
    }
    if policy.on_article && target == Target::Missing {
        return Expect::NotFound;
    }
    // CreateArticle's "target" is whose byline the new article carries.
    if who == Who::Writer && policy.writer_own_only && target == Target::Other {
        return if policy.on_article {
            Expect::NotFound
        } else {
            Expect::PermissionDenied
        };
    }
    Expect::Allowed
}

fn outcome(result: Result<(), Status>) -> (Expect, String) {
    match result {
        Ok(()) => (Expect::Allowed, "OK".into()),
        Err(status) => {
            let class = match status.code() {
                Code::Unauthenticated => Expect::Unauthenticated,
                Code::PermissionDenied => Expect::PermissionDenied,
                Code::NotFound => Expect::NotFound,
                _ => Expect::Allowed,
            };
            (class, format!("{:?}: {}", status.code(), status.message()))
        }
    }
}

/// The world one call runs in: fresh articles, so that no call's effect
/// changes what the next one finds.
struct World {
    own: pb::Article,
    other: pb::Article,
    own_author: pb::Author,
    other_author: pb::Author,
    comment: pb::Comment,
}

impl World {
    fn article(&self, target: Target) -> String {
        match target {
            Target::Own => self.own.id.clone(),
            Target::Other => self.other.id.clone(),
            Target::Missing => "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        }
    }

    fn author(&self, target: Target) -> String {
        match target {
            Target::Other => self.other_author.id.clone(),
            _ => self.own_author.id.clone(),
        }
    }
}

async fn world(app: &TestApp, own_author: &pb::Author, other_author: &pb::Author) -> World {
    let own = app.article(draft("مقال الكاتب", own_author)).await;
    let other = app.article(draft("مقال غيره", other_author)).await;
    let live = app.article(draft("مقال منشور", other_author)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: live.id.clone(),
            etag: String::new(),
            publish_time: None,
        })
        .await
        .expect("publish");
    let comment = app
        .comments
        .clone()
        .create_comment(pb::CreateCommentRequest {
            comment: Some(pb::Comment {
                article_id: live.id.clone(),
                author_name: "قارئ".into(),
                // Its own words, or the policy would hold it as a repeat.
                body: format!("تعليق على {}", live.id),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("comment")
        .into_inner();
    World {
        own,
        other,
        own_author: own_author.clone(),
        other_author: other_author.clone(),
        comment,
    }
}

/// Drops a response: the matrix cares whether a call was served, not what
/// it answered.
fn served<T>(_response: T) {}

/// Calls `path` as `clients` about `target` in `world`; `Ok` when served.
async fn call(
    path: &str,
    who: Who,
    clients: &Clients,
    world: &World,
    target: Target,
) -> Result<(), Status> {
    let Clients {
        mut health,
        mut authors,
        mut articles,
        mut events,
        mut comments,
        mut shares,
        mut keys,
    } = clients.clone();
    let id = world.article(target);
    let method = path.rsplit('/').next().unwrap_or_default();
    match method {
        "Check" => health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(served),
        "Watch" => health
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(served),
        "CreateAuthor" => authors
            .create_author(pb::CreateAuthorRequest {
                author: Some(pb::Author {
                    display_name: "مؤلف جديد".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(served),
        "GetAuthor" => authors
            .get_author(pb::GetAuthorRequest {
                id: world.own_author.id.clone(),
                ..Default::default()
            })
            .await
            .map(served),
        "ListAuthors" => authors
            .list_authors(pb::ListAuthorsRequest::default())
            .await
            .map(served),
        "UpdateAuthor" => authors
            .update_author(pb::UpdateAuthorRequest {
                author: Some(pb::Author {
                    id: world.own_author.id.clone(),
                    bio: "سيرة".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["bio".into()],
                }),
            })
            .await
            .map(served),
        "DeleteAuthor" => {
            // An author no article credits, so that a permitted call succeeds.
            authors
                .delete_author(pb::DeleteAuthorRequest {
                    id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
                    etag: String::new(),
                })
                .await
                .map(served)
                .or_else(|status| {
                    if status.code() == Code::NotFound {
                        Ok(())
                    } else {
                        Err(status)
                    }
                })
        }
        "CreateArticle" => articles
            .create_article(pb::CreateArticleRequest {
                article: Some(pb::Article {
                    title: "مقال جديد".into(),
                    author_ids: vec![world.author(target)],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(served),
        "GetArticle" => articles
            .get_article(pb::GetArticleRequest {
                id,
                view: pb::ArticleView::Latest.into(),
                ..Default::default()
            })
            .await
            .map(served),
        "ListArticles" => {
            let listed = articles
                .list_articles(pb::ListArticlesRequest {
                    view: pb::ArticleView::Latest.into(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .articles;
            // A writer's list shows only what credits them; everyone
            // else's shows the whole newsroom.
            let sees_other = listed.iter().any(|article| article.id == world.other.id);
            let sees_own = listed.iter().any(|article| article.id == world.own.id);
            if sees_other == (who == Who::Writer) || !sees_own {
                return Err(Status::internal(format!(
                    "{who:?} listed own: {sees_own}, other: {sees_other}"
                )));
            }
            Ok(())
        }
        "UpdateArticle" => articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id,
                    subtitle: "عنوان فرعي".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["subtitle".into()],
                }),
            })
            .await
            .map(served),
        "DeleteArticle" => articles
            .delete_article(pb::DeleteArticleRequest {
                id,
                etag: String::new(),
            })
            .await
            .map(served),
        "UndeleteArticle" => articles
            .undelete_article(pb::UndeleteArticleRequest {
                id,
                etag: String::new(),
            })
            .await
            .map(served),
        "SubmitArticle" => articles
            .submit_article(pb::SubmitArticleRequest {
                id,
                etag: String::new(),
            })
            .await
            .map(served),
        "ReturnArticle" => articles
            .return_article(pb::ReturnArticleRequest {
                id,
                etag: String::new(),
                note: "ملاحظة".into(),
            })
            .await
            .map(served),
        "PublishArticle" => articles
            .publish_article(pb::PublishArticleRequest {
                id,
                etag: String::new(),
                publish_time: None,
            })
            .await
            .map(served),
        "UnpublishArticle" => articles
            .unpublish_article(pb::UnpublishArticleRequest {
                id,
                etag: String::new(),
            })
            .await
            .map(served),
        "ArchiveArticle" => articles
            .archive_article(pb::ArchiveArticleRequest {
                id,
                etag: String::new(),
            })
            .await
            .map(served),
        "ListArticleRevisions" => articles
            .list_article_revisions(pb::ListArticleRevisionsRequest {
                article_id: id,
                ..Default::default()
            })
            .await
            .map(served),
        "GetArticleRevision" => articles
            .get_article_revision(pb::GetArticleRevisionRequest {
                article_id: id,
                revision: 1,
            })
            .await
            .map(served),
        "RestoreArticleRevision" => articles
            .restore_article_revision(pb::RestoreArticleRevisionRequest {
                article_id: id,
                revision: 1,
                etag: String::new(),
            })
            .await
            .map(served),
        "ListEvents" => events
            .list_events(pb::ListEventsRequest::default())
            .await
            .map(served),
        "WatchEvents" => events
            .watch_events(pb::WatchEventsRequest::default())
            .await
            .map(served),
        "CreateComment" => comments
            .create_comment(pb::CreateCommentRequest {
                comment: Some(pb::Comment {
                    article_id: world.comment.article_id.clone(),
                    author_name: "قارئ آخر".into(),
                    body: "تعليق جديد".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .map(served),
        "GetComment" => comments
            .get_comment(pb::GetCommentRequest {
                id: world.comment.id.clone(),
            })
            .await
            .map(served),
        "ListComments" => comments
            .list_comments(pb::ListCommentsRequest {
                article_id: world.comment.article_id.clone(),
                ..Default::default()
            })
            .await
            .map(served),
        "ListCommentsForModeration" => comments
            .list_comments_for_moderation(pb::ListCommentsForModerationRequest::default())
            .await
            .map(served),
        "ModerateComment" => comments
            .moderate_comment(pb::ModerateCommentRequest {
                id: world.comment.id.clone(),
                decision: pb::ModerationDecision::Approve.into(),
                reason: String::new(),
                etag: String::new(),
            })
            .await
            .map(served),
        "DeleteComment" => comments
            .delete_comment(pb::DeleteCommentRequest {
                id: world.comment.id.clone(),
                etag: String::new(),
            })
            .await
            .map(served),
        "RecordShare" => shares
            .record_share(pb::RecordShareRequest {
                article_id: world.comment.article_id.clone(),
                channel: pb::ShareChannel::X.into(),
                ..Default::default()
            })
            .await
            .map(served),
        "GetShareStats" => shares
            .get_share_stats(pb::GetShareStatsRequest {
                article_id: world.comment.article_id.clone(),
            })
            .await
            .map(served),
        "ListTopShared" => shares
            .list_top_shared(pb::ListTopSharedRequest {
                since: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: 0,
                }),
                ..Default::default()
            })
            .await
            .map(served),
        "CreateApiKey" => keys
            .create_api_key(pb::CreateApiKeyRequest {
                name: "k".into(),
                role: pb::Role::Subscriber.into(),
                author_id: String::new(),
            })
            .await
            .map(served),
        "ListApiKeys" => keys
            .list_api_keys(pb::ListApiKeysRequest::default())
            .await
            .map(served),
        "RevokeApiKey" => keys
            .revoke_api_key(pb::RevokeApiKeyRequest {
                id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            })
            .await
            .map(served)
            .or_else(|status| {
                if status.code() == Code::NotFound {
                    Ok(())
                } else {
                    Err(status)
                }
            }),
        other => panic!("no call written for {other}: add one"),
    }
}

#[tokio::test]
async fn every_caller_reaches_exactly_what_the_rules_allow() {
    let app = TestApp::spawn().await;
    let own_author = app.author("كاتب", pb::AuthorKind::Person).await;
    let other_author = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&own_author.id)).await);
    let editor = app.as_token(&app.token(pb::Role::Editor, None).await);
    let subscriber = app.as_token(&app.token(pb::Role::Subscriber, None).await);
    let admin = app.as_token(&app.token(pb::Role::Admin, None).await);
    let anonymous = app.as_anonymous();
    let clients = |who: Who| match who {
        Who::Anonymous => &anonymous,
        Who::Writer => &writer,
        Who::Editor => &editor,
        Who::Subscriber => &subscriber,
        Who::Admin => &admin,
    };

    let mut checked = 0;
    let mut mismatches = Vec::new();
    for (path, _) in RULES {
        let targets: &[Target] = match policy(path) {
            Policy {
                on_article: true, ..
            } => &[Target::Own, Target::Other, Target::Missing],
            Policy {
                writer_own_only: true,
                ..
            } => &[Target::Own, Target::Other],
            _ => &[Target::Own],
        };
        for who in EVERYONE {
            for &target in targets {
                let world = world(&app, &own_author, &other_author).await;
                let expect = expected(path, who, target);
                let (got, detail) = outcome(call(path, who, clients(who), &world, target).await);
                checked += 1;
                if got != expect {
                    mismatches.push(format!(
                        "{path} as {who:?} on {target:?}: expected {expect:?}, got {detail}"
                    ));
                }
            }
        }
    }
    assert!(checked > RULES.len() * EVERYONE.len(), "the matrix ran");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} calls disagree with the rules:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn a_writer_cannot_hand_a_draft_away_or_edit_it_once_submitted() {
    let app = TestApp::spawn().await;
    let me = app.author("كاتب", pb::AuthorKind::Person).await;
    let colleague = app.author("كاتبة أخرى", pb::AuthorKind::Person).await;
    let writer = app.as_token(&app.token(pb::Role::Writer, Some(&me.id)).await);
    let mut articles = writer.articles.clone();

    let mut shared = draft("مقال مشترك", &colleague);
    shared.author_ids.push(me.id.clone());
    let article = articles
        .create_article(pb::CreateArticleRequest {
            article: Some(shared),
            request_id: String::new(),
        })
        .await
        .expect("a writer creates an article crediting them and a colleague")
        .into_inner();

    // Dropping their own credit would hand the draft to the colleague.
    let status = assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: article.id.clone(),
                    author_ids: vec![colleague.id.clone()],
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["author_ids".into()],
                }),
            })
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("credit"), "{status:?}");

    // So would restoring a revision that did not credit them, made by an
    // editor in between.
    app.articles
        .clone()
        .update_article(pb::UpdateArticleRequest {
            article: Some(pb::Article {
                id: article.id.clone(),
                author_ids: vec![colleague.id.clone()],
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["author_ids".into()],
            }),
        })
        .await
        .expect("an editor changes the byline");
    let status = assert_code(
        articles
            .get_article(pb::GetArticleRequest {
                id: article.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert!(!status.message().contains(&colleague.id));
    app.articles
        .clone()
        .restore_article_revision(pb::RestoreArticleRevisionRequest {
            article_id: article.id.clone(),
            revision: 1,
            etag: String::new(),
        })
        .await
        .expect("an editor restores the writer's byline");
    let status = assert_code(
        articles
            .restore_article_revision(pb::RestoreArticleRevisionRequest {
                article_id: article.id.clone(),
                revision: 2,
                etag: String::new(),
            })
            .await,
        Code::PermissionDenied,
    );
    assert!(status.message().contains("credit"), "{status:?}");

    // Submitted, the draft is the editors' until it comes back.
    articles
        .submit_article(pb::SubmitArticleRequest {
            id: article.id.clone(),
            etag: String::new(),
        })
        .await
        .expect("the writer submits their draft");
    assert_code(
        articles
            .update_article(pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    id: article.id.clone(),
                    subtitle: "تعديل بعد الإرسال".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["subtitle".into()],
                }),
            })
            .await,
        Code::PermissionDenied,
    );
    let read = articles
        .get_article(pb::GetArticleRequest {
            id: article.id.clone(),
            ..Default::default()
        })
        .await
        .expect("the writer still reads their submitted article")
        .into_inner();
    assert_eq!(read.status(), pb::ArticleStatus::InReview);
    assert_code(
        articles
            .publish_article(pb::PublishArticleRequest {
                id: article.id.clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn anonymous_readers_get_the_published_view_and_nothing_else() {
    let app = TestApp::spawn().await;
    let desk = app.author("فريق التحرير", pb::AuthorKind::Desk).await;
    let live = app.article(draft("خبر منشور", &desk)).await;
    app.articles
        .clone()
        .publish_article(pb::PublishArticleRequest {
            id: live.id.clone(),
            ..Default::default()
        })
        .await
        .expect("publish");
    let unpublished = app.article(draft("مسودة", &desk)).await;
    let reader = app.as_anonymous();

    // Asking for no view gets a reader the published one.
    let listed = reader
        .articles
        .clone()
        .list_articles(pb::ListArticlesRequest::default())
        .await
        .expect("an anonymous listing")
        .into_inner()
        .articles;
    let ids: Vec<&str> = listed.iter().map(|article| article.id.as_str()).collect();
    assert_eq!(ids, [live.id.as_str()]);
    let read = reader
        .articles
        .clone()
        .get_article(pb::GetArticleRequest {
            id: live.id.clone(),
            ..Default::default()
        })
        .await
        .expect("an anonymous read")
        .into_inner();
    assert_eq!(read.title, "خبر منشور");
    assert_code(
        reader
            .articles
            .clone()
            .get_article(pb::GetArticleRequest {
                id: unpublished.id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        reader
            .articles
            .clone()
            .list_articles(pb::ListArticlesRequest {
                view: pb::ArticleView::Latest.into(),
                ..Default::default()
            })
            .await,
        Code::Unauthenticated,
    );
}
