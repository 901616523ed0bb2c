//! Who may do what, through the real server: every RPC in the rule table,
//! called by every kind of caller, on their own article, someone else's, and
//! one that does not exist. The expectations are written out here, apart
//! from the code's table, so that a wrong rule shows up as a failure.

use newsdesk::{domain::access::RULES, proto as pb};
use tonic::{Code, Status};

use crate::support::TestApp;

mod calls;

use calls::{call, world};

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
    /// The server failed (INTERNAL, UNKNOWN, UNIMPLEMENTED...): never what
    /// any rule expects.
    Broken,
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
                Code::Internal
                | Code::Unknown
                | Code::Unimplemented
                | Code::DataLoss
                | Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled => Expect::Broken,
                // Served, and refused for what the request says.
                _ => Expect::Allowed,
            };
            (class, format!("{:?}: {}", status.code(), status.message()))
        }
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
