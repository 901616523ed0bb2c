//! Who may do what. Every RPC has one rule in `RULES`; `admit` decides from
//! the rule and the caller alone, before the request runs, and
//! `article_access` and `view_access` decide what depends on the article or
//! view a request names. A writer who asks for another writer's article is
//! told it does not exist, so that its existence does not leak.

use std::fmt;

use super::article::{ArticleStatus, ArticleView};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, keys included.
    Admin,
    /// Everything on articles, authors, revisions and comment moderation.
    Editor,
    /// Their own drafts, as the author the key is bound to.
    Writer,
    /// The change feed and read-only access, for other services.
    Subscriber,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::Writer, Role::Subscriber];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Writer => "writer",
            Role::Subscriber => "subscriber",
        }
    }

    /// The role a stored value (or a command-line word) names.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == stored)
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No token: a reader on the public internet.
    Anonymous,
    /// A valid, unrevoked API key.
    Key {
        key_id: String,
        role: Role,
        /// The author a writer's key is bound to.
        author_id: Option<String>,
    },
}

impl Principal {
    /// Who did a change, for revisions, events and moderation decisions.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Anonymous => Actor::anonymous(),
            Principal::Key { key_id, .. } => Actor(format!("keys/{key_id}")),
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            Principal::Anonymous => None,
            Principal::Key { role, .. } => Some(*role),
        }
    }

    /// Whether the caller holds a writer's key.
    pub fn is_writer(&self) -> bool {
        self.role() == Some(Role::Writer)
    }

    /// The author a writer acts as; `None` for every other principal.
    pub fn writer_author(&self) -> Option<&str> {
        match self {
            Principal::Key {
                role: Role::Writer,
                author_id,
                ..
            } => author_id.as_deref(),
            _ => None,
        }
    }
}

/// Who made a change: `keys/<id>`, `anonymous`, or `system/<task>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// A reader without a key.
    pub fn anonymous() -> Self {
        Actor("anonymous".into())
    }

    /// A task of the server itself, such as the scheduler.
    pub fn system(task: &str) -> Self {
        Actor(format!("system/{task}"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an RPC requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, anonymous readers included.
    Public,
    /// Anyone in the published view; any key in the latest view, writers for
    /// their own articles only.
    ReadArticles,
    /// Any key; writers for their own articles only.
    ReadHistory,
    /// Writers (crediting themselves), editors and admins.
    CreateArticle,
    /// Writers on their own drafts; editors and admins on any article.
    EditDraft,
    /// Editors and admins.
    Edit,
    /// Read-only newsroom data (the moderation queue): editors, subscribers
    /// and admins.
    ReadNewsroom,
    /// The change feed: subscribers and admins.
    Feed,
    /// Keys: admins.
    Admin,
}

/// The rule of every RPC the server serves, by gRPC method path. Reflection
/// is not listed: when it is served, it is public. An RPC missing from the
/// table is refused (the server fails closed), and a test checks the table
/// against the protos.
pub const RULES: &[(&str, Rule)] = &[
    ("/grpc.health.v1.Health/Check", Rule::Public),
    ("/grpc.health.v1.Health/Watch", Rule::Public),
    ("/newsdesk.v1.AuthorService/CreateAuthor", Rule::Edit),
    ("/newsdesk.v1.AuthorService/GetAuthor", Rule::Public),
    ("/newsdesk.v1.AuthorService/ListAuthors", Rule::Public),
    ("/newsdesk.v1.AuthorService/UpdateAuthor", Rule::Edit),
    ("/newsdesk.v1.AuthorService/DeleteAuthor", Rule::Edit),
    (
        "/newsdesk.v1.ArticleService/CreateArticle",
        Rule::CreateArticle,
    ),
    ("/newsdesk.v1.ArticleService/GetArticle", Rule::ReadArticles),
    (
        "/newsdesk.v1.ArticleService/ListArticles",
        Rule::ReadArticles,
    ),
    ("/newsdesk.v1.ArticleService/UpdateArticle", Rule::EditDraft),
    ("/newsdesk.v1.ArticleService/DeleteArticle", Rule::Edit),
    ("/newsdesk.v1.ArticleService/UndeleteArticle", Rule::Edit),
    ("/newsdesk.v1.ArticleService/SubmitArticle", Rule::EditDraft),
    ("/newsdesk.v1.ArticleService/ReturnArticle", Rule::Edit),
    ("/newsdesk.v1.ArticleService/PublishArticle", Rule::Edit),
    ("/newsdesk.v1.ArticleService/UnpublishArticle", Rule::Edit),
    ("/newsdesk.v1.ArticleService/ArchiveArticle", Rule::Edit),
    (
        "/newsdesk.v1.ArticleService/ListArticleRevisions",
        Rule::ReadHistory,
    ),
    (
        "/newsdesk.v1.ArticleService/GetArticleRevision",
        Rule::ReadHistory,
    ),
    (
        "/newsdesk.v1.ArticleService/RestoreArticleRevision",
        Rule::EditDraft,
    ),
    ("/newsdesk.v1.EventService/ListEvents", Rule::Feed),
    ("/newsdesk.v1.EventService/WatchEvents", Rule::Feed),
    ("/newsdesk.v1.CommentService/CreateComment", Rule::Public),
    ("/newsdesk.v1.CommentService/GetComment", Rule::Public),
    ("/newsdesk.v1.CommentService/ListComments", Rule::Public),
    (
        "/newsdesk.v1.CommentService/ListCommentsForModeration",
        Rule::ReadNewsroom,
    ),
    ("/newsdesk.v1.CommentService/ModerateComment", Rule::Edit),
    ("/newsdesk.v1.CommentService/DeleteComment", Rule::Edit),
    ("/newsdesk.v1.ShareService/RecordShare", Rule::Public),
    ("/newsdesk.v1.ShareService/GetShareStats", Rule::Public),
    ("/newsdesk.v1.ShareService/ListTopShared", Rule::Public),
    ("/newsdesk.v1.KeyService/CreateApiKey", Rule::Admin),
    ("/newsdesk.v1.KeyService/ListApiKeys", Rule::Admin),
    ("/newsdesk.v1.KeyService/RevokeApiKey", Rule::Admin),
];

/// Where gRPC reflection's methods live (v1 and v1alpha): public when the
/// server serves them, and outside `RULES`.
pub const REFLECTION_PREFIX: &str = "/grpc.reflection.";

/// The rule of the RPC at `path`; `None` for reflection and paths the
/// server does not serve (which answer UNIMPLEMENTED).
pub fn rule_for(path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(method, _)| *method == path)
        .map(|(_, rule)| *rule)
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The call needs a key, and there is none (or it is not valid).
    Unauthenticated,
    /// The key is valid, but its role may not do this.
    PermissionDenied(&'static str),
    /// The caller may not know the resource exists.
    NotFound,
}

/// The check before a request runs: whether the caller may call an RPC
/// with `rule` at all.
pub fn admit(rule: Rule, principal: &Principal) -> Result<(), Denial> {
    use Role::{Admin, Editor, Subscriber, Writer};
    let Some(role) = principal.role() else {
        return match rule {
            Rule::Public | Rule::ReadArticles => Ok(()),
            _ => Err(Denial::Unauthenticated),
        };
    };
    let allowed = match rule {
        Rule::Public | Rule::ReadArticles | Rule::ReadHistory => true,
        Rule::CreateArticle | Rule::EditDraft => matches!(role, Admin | Editor | Writer),
        Rule::Edit => matches!(role, Admin | Editor),
        Rule::ReadNewsroom => matches!(role, Admin | Editor | Subscriber),
        Rule::Feed => matches!(role, Admin | Subscriber),
        Rule::Admin => role == Admin,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::PermissionDenied(match rule {
            Rule::Edit => "only editors and admins may do this",
            Rule::ReadNewsroom => "only editors, subscribers and admins may read this",
            Rule::Feed => "only subscribers and admins may follow the change feed",
            Rule::Admin => "only admins may manage keys",
            _ => "this key's role may not do this",
        }))
    }
}

/// Which view a read gets when it names none: readers get the published
/// view, the newsroom its working copies.
pub fn default_view(principal: &Principal) -> ArticleView {
    match principal {
        Principal::Anonymous => ArticleView::Published,
        Principal::Key { .. } => ArticleView::Latest,
    }
}

/// Whether the caller may read articles in `view`: the latest view needs a
/// key.
pub fn view_access(principal: &Principal, view: ArticleView) -> Result<(), Denial> {
    match (principal, view) {
        (Principal::Anonymous, ArticleView::Latest) => Err(Denial::Unauthenticated),
        _ => Ok(()),
    }
}

/// Whether the caller sees people's contact details (authors' e-mail
/// addresses): the newsroom's keys do, anonymous readers do not.
pub fn sees_contact_details(principal: &Principal) -> bool {
    matches!(principal, Principal::Key { .. })
}

/// What `article_access` needs to know about an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArticleFacts {
    /// Whether the caller's author (for a writer) is credited on it.
    pub credits_caller: bool,
    pub status: ArticleStatus,
}

/// Whether the caller (already admitted under `rule`) may act on one article
/// with `facts`. Writers reach only articles that credit them (others do not
/// exist for them) and edit only drafts; every other role that was admitted
/// may.
pub fn article_access(
    rule: Rule,
    principal: &Principal,
    facts: ArticleFacts,
) -> Result<(), Denial> {
    if principal.is_writer() {
        writer_access(rule, facts)
    } else {
        Ok(())
    }
}

/// A writer's access to an article with `facts` under `rule`.
fn writer_access(rule: Rule, facts: ArticleFacts) -> Result<(), Denial> {
    // A writer's key bound to no author is credited nowhere.
    if !facts.credits_caller {
        return Err(Denial::NotFound);
    }
    match rule {
        Rule::EditDraft if facts.status != ArticleStatus::Draft => Err(Denial::PermissionDenied(
            "writers edit and submit drafts only; an editor handles the rest",
        )),
        _ => Ok(()),
    }
}

/// Which articles a write may change. The store checks it on the locked row,
/// inside the write's transaction, so that a check made earlier cannot go
/// stale (an editor submitting the draft, or taking the writer's credit off
/// it, in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteScope {
    /// Editors and admins: any article, in any state the workflow allows.
    AnyArticle,
    /// A writer's key: the drafts that credit this author, which must go on
    /// crediting it.
    DraftsCrediting(String),
}

impl WriteScope {
    /// The scope of `principal`'s writes.
    pub fn of(principal: &Principal) -> Self {
        match principal {
            Principal::Key {
                role: Role::Writer,
                author_id,
                ..
            } => WriteScope::DraftsCrediting(author_id.clone().unwrap_or_default()),
            _ => WriteScope::AnyArticle,
        }
    }

    /// Whether the write may change an article that credits `author_ids`
    /// and is in `status`.
    pub fn admits(&self, author_ids: &[String], status: ArticleStatus) -> Result<(), Denial> {
        match self {
            WriteScope::AnyArticle => Ok(()),
            WriteScope::DraftsCrediting(author) => writer_access(
                Rule::EditDraft,
                ArticleFacts {
                    credits_caller: author_ids.iter().any(|credited| credited == author),
                    status,
                },
            ),
        }
    }

    /// Whether the write may leave the article crediting `author_ids`.
    pub fn keeps_credit(&self, author_ids: &[String]) -> Result<(), Denial> {
        match self {
            WriteScope::DraftsCrediting(author)
                if !author_ids.iter().any(|credited| credited == author) =>
            {
                Err(Denial::PermissionDenied(
                    "a writer's articles must credit the writer's own author",
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role) -> Principal {
        Principal::Key {
            key_id: "k".into(),
            role,
            author_id: (role == Role::Writer).then(|| "me".to_owned()),
        }
    }

    #[test]
    fn every_rule_admits_exactly_the_roles_it_names() {
        use Role::{Admin, Editor, Subscriber, Writer};
        // (rule, anonymous admitted, roles admitted)
        let table: [(Rule, bool, &[Role]); 9] = [
            (Rule::Public, true, &[Admin, Editor, Writer, Subscriber]),
            (
                Rule::ReadArticles,
                true,
                &[Admin, Editor, Writer, Subscriber],
            ),
            (
                Rule::ReadHistory,
                false,
                &[Admin, Editor, Writer, Subscriber],
            ),
            (Rule::CreateArticle, false, &[Admin, Editor, Writer]),
            (Rule::EditDraft, false, &[Admin, Editor, Writer]),
            (Rule::Edit, false, &[Admin, Editor]),
            (Rule::ReadNewsroom, false, &[Admin, Editor, Subscriber]),
            (Rule::Feed, false, &[Admin, Subscriber]),
            (Rule::Admin, false, &[Admin]),
        ];
        for (rule, anonymous, roles) in table {
            assert_eq!(
                admit(rule, &Principal::Anonymous).is_ok(),
                anonymous,
                "{rule:?}"
            );
            if !anonymous {
                assert_eq!(
                    admit(rule, &Principal::Anonymous),
                    Err(Denial::Unauthenticated)
                );
            }
            for role in Role::ALL {
                let admitted = admit(rule, &key(role));
                assert_eq!(admitted.is_ok(), roles.contains(&role), "{rule:?} {role:?}");
                if admitted.is_err() {
                    assert!(matches!(admitted, Err(Denial::PermissionDenied(_))));
                }
            }
        }
    }

    #[test]
    fn writers_reach_only_their_own_drafts_and_others_do_not_exist_for_them() {
        let writer = key(Role::Writer);
        let own_draft = ArticleFacts {
            credits_caller: true,
            status: ArticleStatus::Draft,
        };
        let own_review = ArticleFacts {
            credits_caller: true,
            status: ArticleStatus::InReview,
        };
        let others = ArticleFacts {
            credits_caller: false,
            status: ArticleStatus::Draft,
        };
        assert_eq!(article_access(Rule::EditDraft, &writer, own_draft), Ok(()));
        assert!(matches!(
            article_access(Rule::EditDraft, &writer, own_review),
            Err(Denial::PermissionDenied(_))
        ));
        assert_eq!(
            article_access(Rule::ReadHistory, &writer, own_review),
            Ok(())
        );
        assert_eq!(
            article_access(Rule::EditDraft, &writer, others),
            Err(Denial::NotFound)
        );
        assert_eq!(
            article_access(Rule::ReadArticles, &writer, others),
            Err(Denial::NotFound)
        );
        assert_eq!(
            article_access(Rule::EditDraft, &key(Role::Editor), others),
            Ok(())
        );
    }

    #[test]
    fn anonymous_readers_get_the_published_view_and_may_not_ask_for_another() {
        assert_eq!(default_view(&Principal::Anonymous), ArticleView::Published);
        assert_eq!(default_view(&key(Role::Subscriber)), ArticleView::Latest);
        assert_eq!(
            view_access(&Principal::Anonymous, ArticleView::Latest),
            Err(Denial::Unauthenticated)
        );
        assert_eq!(view_access(&key(Role::Writer), ArticleView::Latest), Ok(()));
    }

    #[test]
    fn every_rpc_path_is_listed_once() {
        let mut paths: Vec<&str> = RULES.iter().map(|(path, _)| *path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), RULES.len());
        assert_eq!(
            rule_for("/newsdesk.v1.KeyService/CreateApiKey"),
            Some(Rule::Admin)
        );
        assert_eq!(
            rule_for("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
    }
}
