//! The standard methods of ArticleService: create, get (in either view),
//! list, update, delete and undelete.

use super::{
    super::{
        convert::{article_in_view, article_to_pb, status_from_pb},
        denied,
        encoded::Encoded,
        filter_text, lookup_slug, mask_paths,
        published::ListLookup,
        request_id, required, resource_id,
    },
    ArticleApi,
};
use crate::{
    domain::{
        access::{Principal, Rule, WriteScope, default_view, view_access},
        article::{ArticleStatus, ArticleView},
        article_edit::{ArticleField, ArticleInput, validate_new_article},
        language::{DEFAULT_LANGUAGE, parse_language},
        paging::{QueryKey, page_size},
        update_mask::parse_update_mask,
        validation::Violations,
    },
    error::Error,
    proto as pb,
    store::{ArticleFilter, ArticleOrder},
};

impl ArticleApi {
    pub(super) async fn create(
        &self,
        principal: &Principal,
        request: pb::CreateArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::CreateArticleRequest {
            article,
            request_id: raw_request_id,
        } = request;
        let request_id = request_id(&raw_request_id)?;
        let (_, input) = article_from_pb(required(article, "article")?);
        let fields = validate_new_article(input).map_err(|v| v.within("article"))?;
        // A writer creates only articles that credit them.
        WriteScope::of(principal)
            .keeps_credit(&fields.author_ids)
            .map_err(|denial| denied(denial, "the article"))?;
        let article = self
            .store
            .insert_article(&principal.actor(), fields, request_id.as_deref())
            .await
            .map_err(|error| error.within("article"))?;
        Ok(article_to_pb(article))
    }

    /// The article, encoded: readers' copies come from memory as bytes.
    pub(super) async fn get(
        &self,
        principal: &Principal,
        request: pb::GetArticleRequest,
    ) -> Result<Encoded<pb::Article>, Error> {
        let pb::GetArticleRequest {
            id,
            slug,
            language,
            show_deleted,
            view,
        } = request;
        let view = view_from_pb(view, principal)?;
        match (id.is_empty(), slug.is_empty()) {
            (false, true) => {
                let id = resource_id("id", &id)?;
                // Readers' copies come from memory (see `published`).
                if view == ArticleView::Published {
                    return self.published.by_id(&id).await;
                }
                let article = self.store.find_article(&id, view, show_deleted).await?;
                self.check_writer(principal, Rule::ReadArticles, &article.id)
                    .await?;
                Ok(Encoded::of(&article_in_view(article, view)))
            }
            (true, false) => {
                let mut violations = Violations::new();
                let language = parse_language("language", &language, &mut violations)
                    .unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned());
                violations.into_result(())?;
                // Readers' copies come from memory (see `published`).
                if view == ArticleView::Published {
                    return self.published.by_slug(&language, &slug).await;
                }
                let slug = lookup_slug("article", &slug)?;
                let article = self
                    .store
                    .find_article_by_slug(&language, &slug, view, show_deleted)
                    .await?;
                // Refused the way a slug nobody has is, so that a writer
                // learns neither that it is taken nor the article's id.
                self.check_writer(principal, Rule::ReadArticles, &article.id)
                    .await
                    .map_err(|error| match error {
                        Error::NotFound(_) => Error::NotFound(format!(
                            "no article in `{language}` has the slug `{slug}`"
                        )),
                        other => other,
                    })?;
                Ok(Encoded::of(&article_in_view(article, view)))
            }
            _ => Err(Violations::single("id", "set exactly one of `id` and `slug`").into()),
        }
    }

    /// The page, encoded: readers' pages come from memory as bytes.
    pub(super) async fn list(
        &self,
        principal: &Principal,
        request: pb::ListArticlesRequest,
    ) -> Result<Encoded<pb::ListArticlesResponse>, Error> {
        let pb::ListArticlesRequest {
            page_size: requested_size,
            page_token,
            author_id,
            tag,
            section,
            language,
            status,
            show_deleted,
            order_by,
            view,
        } = request;
        let view = view_from_pb(view, principal)?;
        let size = page_size(requested_size)?;
        let mut violations = Violations::new();
        let author_id = match author_id.trim() {
            "" => None,
            raw => match resource_id("author_id", raw) {
                Ok(id) => Some(id),
                Err(_) => {
                    violations.add("author_id", "must be an author id (a UUID)");
                    None
                }
            },
        };
        let filter = ArticleFilter {
            author_id,
            tag: filter_text("tag", &tag, &mut violations),
            section: filter_text("section", &section, &mut violations),
            language: parse_language("language", &language, &mut violations),
            status: status_from_pb(status).unwrap_or_else(|()| {
                violations.add("status", "is not a known article status");
                None
            }),
            show_deleted,
        };
        let order = order_from_pb(order_by, view).unwrap_or_else(|description| {
            violations.add("order_by", description);
            ArticleOrder::CreateTimeDesc
        });
        violations.into_result(())?;
        // A writer's latest view holds only the articles that credit them;
        // asking for another author's finds nothing.
        let mut filter = filter;
        if let (ArticleView::Latest, true) = (view, principal.is_writer()) {
            let me = principal.writer_author().unwrap_or_default().to_owned();
            if filter.author_id.as_ref().is_some_and(|asked| *asked != me) {
                return Ok(Encoded::of(&pb::ListArticlesResponse::default()));
            }
            filter.author_id = Some(me);
        }
        let query = QueryKey::new(
            "ListArticles",
            &[
                filter.author_id.as_deref().unwrap_or_default(),
                filter.tag.as_deref().unwrap_or_default(),
                filter.section.as_deref().unwrap_or_default(),
                filter.language.as_deref().unwrap_or_default(),
                filter.status.map_or("", ArticleStatus::as_str),
                if filter.show_deleted { "deleted" } else { "" },
                order.as_str(),
                match view {
                    ArticleView::Latest => "latest",
                    ArticleView::Published => "published",
                },
            ],
        );
        let cursor = query.cursor(&page_token)?;
        // Readers' pages come from memory (see `published`).
        let ticket = if view == ArticleView::Published {
            // The token as this server would issue it, not as sent: a
            // caller's padding must not grow the cache's keys.
            let canonical = cursor
                .as_ref()
                .map(|cursor| query.token(cursor.clone()))
                .unwrap_or_default();
            let key = format!("{}\u{1f}{size}\u{1f}{canonical}", query.fingerprint());
            match self.published.list(key).await? {
                ListLookup::Hit(page) => return Ok(page),
                ListLookup::Miss(ticket) => Some(ticket),
            }
        } else {
            None
        };
        let page = self
            .store
            .list_articles(view, &filter, order, cursor.as_ref(), size)
            .await?;
        let next_page_token = match page.articles.last() {
            Some(last) if page.has_more => query.token(order.cursor_after(last)),
            _ => String::new(),
        };
        let response = pb::ListArticlesResponse {
            articles: page
                .articles
                .into_iter()
                .map(|article| article_in_view(article, view))
                .collect(),
            next_page_token,
        };
        Ok(match ticket {
            Some(ticket) => self.published.keep_list(ticket, &response),
            None => Encoded::of(&response),
        })
    }

    pub(super) async fn update(
        &self,
        principal: &Principal,
        request: pb::UpdateArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::UpdateArticleRequest {
            article,
            update_mask,
        } = request;
        let mask = parse_update_mask::<ArticleField>(&mask_paths(update_mask))?;
        let (identity, input) = article_from_pb(required(article, "article")?);
        let id = resource_id("article.id", &identity.id)?;
        self.check_writer(principal, Rule::EditDraft, &id).await?;
        let article = self
            .store
            .update_article(
                &principal.actor(),
                &WriteScope::of(principal),
                &id,
                &identity.etag,
                input,
                &mask,
            )
            .await
            .map_err(|error| error.within("article"))?;
        Ok(article_to_pb(article))
    }

    pub(super) async fn delete(
        &self,
        principal: &Principal,
        request: pb::DeleteArticleRequest,
    ) -> Result<(), Error> {
        let pb::DeleteArticleRequest { id, etag } = request;
        self.store
            .delete_article(&principal.actor(), &resource_id("id", &id)?, &etag)
            .await
    }

    pub(super) async fn undelete(
        &self,
        principal: &Principal,
        request: pb::UndeleteArticleRequest,
    ) -> Result<pb::Article, Error> {
        let pb::UndeleteArticleRequest { id, etag } = request;
        let article = self
            .store
            .undelete_article(&principal.actor(), &resource_id("id", &id)?, &etag)
            .await?;
        Ok(article_to_pb(article))
    }
}

/// What identifies the article an update is for.
struct ArticleIdentity {
    id: String,
    etag: String,
}

/// Splits a proto article into its identity and its writable fields;
/// output-only fields are ignored, as API.md says.
fn article_from_pb(article: pb::Article) -> (ArticleIdentity, ArticleInput) {
    let pb::Article {
        id,
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        comments_enabled,
        etag,
        status: _,
        create_time: _,
        update_time: _,
        delete_time: _,
        word_count: _,
        reading_time_minutes: _,
        publish_time: _,
        last_publish_time: _,
        scheduled_publish_time: _,
        has_unpublished_changes: _,
        revision: _,
        comment_count: _,
    } = article;
    (
        ArticleIdentity { id, etag },
        ArticleInput {
            slug,
            language,
            title,
            subtitle,
            body,
            author_ids,
            tags,
            section,
            comments_enabled,
        },
    )
}

/// The view a request asks for, if the caller may have it; unspecified, the
/// published view for readers and the working copy for the newsroom.
fn view_from_pb(view: i32, principal: &Principal) -> Result<ArticleView, Error> {
    let view = match pb::ArticleView::try_from(view) {
        Ok(pb::ArticleView::Unspecified) => default_view(principal),
        Ok(pb::ArticleView::Latest) => ArticleView::Latest,
        Ok(pb::ArticleView::Published) => ArticleView::Published,
        Err(_) => return Err(Violations::single("view", "is not a known article view").into()),
    };
    view_access(principal, view).map_err(|denial| denied(denial, "the article"))?;
    Ok(view)
}

/// The order a list asks for, in `view`: the latest view orders by creation
/// or last change, the published view by first publication, where every
/// article it shows has one.
fn order_from_pb(order_by: i32, view: ArticleView) -> Result<ArticleOrder, &'static str> {
    use pb::ArticleOrderBy as By;
    let by = By::try_from(order_by).map_err(|_| "is not a known order")?;
    match (view, by) {
        (ArticleView::Latest, By::Unspecified | By::CreateTimeDesc) => {
            Ok(ArticleOrder::CreateTimeDesc)
        }
        (ArticleView::Latest, By::CreateTimeAsc) => Ok(ArticleOrder::CreateTimeAsc),
        (ArticleView::Latest, By::UpdateTimeDesc) => Ok(ArticleOrder::UpdateTimeDesc),
        (ArticleView::Latest, By::UpdateTimeAsc) => Ok(ArticleOrder::UpdateTimeAsc),
        (ArticleView::Published, By::Unspecified | By::PublishTimeDesc) => {
            Ok(ArticleOrder::PublishTimeDesc)
        }
        (ArticleView::Published, By::PublishTimeAsc) => Ok(ArticleOrder::PublishTimeAsc),
        (ArticleView::Latest, By::PublishTimeDesc | By::PublishTimeAsc) => {
            Err("orders by publish time only in the published view")
        }
        (
            ArticleView::Published,
            By::CreateTimeDesc | By::CreateTimeAsc | By::UpdateTimeDesc | By::UpdateTimeAsc,
        ) => Err("in the published view, orders by publish time only"),
    }
}
