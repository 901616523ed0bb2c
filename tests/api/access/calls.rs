//! The matrix's calls: a fresh world of articles and a comment for each call,
//! and one request per RPC, made as a given caller about a given target.

use newsdesk::proto as pb;
use prost_types::FieldMask;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;

use super::{Target, Who};
use crate::support::{Clients, TestApp, draft};

/// The world one call runs in: fresh articles, so that no call's effect
/// changes what the next one finds.
pub(super) struct World {
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

pub(super) async fn world(
    app: &TestApp,
    own_author: &pb::Author,
    other_author: &pb::Author,
) -> World {
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
pub(super) async fn call(
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
