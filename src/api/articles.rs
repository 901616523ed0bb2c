//! `newsdesk.v1.ArticleService`.

use tonic::{Request, Response, Status};

use super::{
    filter_text, lookup_slug, mask_paths, request_id, required, resource_id, respond, timestamp,
};
use crate::{
    domain::{
        article::{
            Article, ArticleContent, ArticleField, ArticleInput, ArticleStatus,
            validate_new_article,
        },
        etag::etag,
        language::{DEFAULT_LANGUAGE, parse_language},
        paging::{QueryKey, page_size},
        update_mask::parse_update_mask,
        validation::Violations,
    },
    error::Error,
    proto::{self as pb, article_service_server::ArticleService},
    store::{ArticleFilter, ArticleOrder, Store},
};

/// Serves ArticleService from the store.
#[derive(Debug, Clone)]
pub struct ArticleApi {
    store: Store,
}

impl ArticleApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn create(&self, request: pb::CreateArticleRequest) -> Result<pb::Article, Error> {
        let pb::CreateArticleRequest {
            article,
            request_id: raw_request_id,
        } = request;
        let request_id = request_id(&raw_request_id)?;
        let (_, input) = article_from_pb(required(article, "article")?);
        let fields = validate_new_article(input).map_err(|v| v.within("article"))?;
        let article = self
            .store
            .insert_article(fields, request_id.as_deref())
            .await
            .map_err(|error| error.within("article"))?;
        Ok(article_to_pb(article))
    }

    async fn get(&self, request: pb::GetArticleRequest) -> Result<pb::Article, Error> {
        let pb::GetArticleRequest {
            id,
            slug,
            language,
            show_deleted,
        } = request;
        let article = match (id.is_empty(), slug.is_empty()) {
            (false, true) => {
                self.store
                    .find_article(&resource_id("id", &id)?, show_deleted)
                    .await?
            }
            (true, false) => {
                let mut violations = Violations::new();
                let language = parse_language("language", &language, &mut violations)
                    .unwrap_or_else(|| DEFAULT_LANGUAGE.to_owned());
                violations.into_result(())?;
                let slug = lookup_slug("article", &slug)?;
                self.store
                    .find_article_by_slug(&language, &slug, show_deleted)
                    .await?
            }
            _ => {
                return Err(Violations::single("id", "set exactly one of `id` and `slug`").into());
            }
        };
        Ok(article_to_pb(article))
    }

    async fn list(
        &self,
        request: pb::ListArticlesRequest,
    ) -> Result<pb::ListArticlesResponse, Error> {
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
        } = request;
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
            status: match pb::ArticleStatus::try_from(status) {
                Ok(pb::ArticleStatus::Unspecified) => None,
                Ok(pb::ArticleStatus::Draft) => Some(ArticleStatus::Draft),
                Err(_) => {
                    violations.add("status", "is not a known article status");
                    None
                }
            },
            show_deleted,
        };
        let order = match pb::ArticleOrderBy::try_from(order_by) {
            Ok(pb::ArticleOrderBy::Unspecified | pb::ArticleOrderBy::CreateTimeDesc) => {
                ArticleOrder::CreateTimeDesc
            }
            Ok(pb::ArticleOrderBy::CreateTimeAsc) => ArticleOrder::CreateTimeAsc,
            Ok(pb::ArticleOrderBy::UpdateTimeDesc) => ArticleOrder::UpdateTimeDesc,
            Ok(pb::ArticleOrderBy::UpdateTimeAsc) => ArticleOrder::UpdateTimeAsc,
            Err(_) => {
                violations.add("order_by", "is not a known order");
                ArticleOrder::default()
            }
        };
        violations.into_result(())?;
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
            ],
        );
        let cursor = query.cursor(&page_token)?;
        let page = self
            .store
            .list_articles(&filter, order, cursor.as_ref(), size)
            .await?;
        let next_page_token = match page.articles.last() {
            Some(last) if page.has_more => query.token(order.cursor_after(last)),
            _ => String::new(),
        };
        Ok(pb::ListArticlesResponse {
            articles: page.articles.into_iter().map(article_to_pb).collect(),
            next_page_token,
        })
    }

    async fn update(&self, request: pb::UpdateArticleRequest) -> Result<pb::Article, Error> {
        let pb::UpdateArticleRequest {
            article,
            update_mask,
        } = request;
        let mask = parse_update_mask::<ArticleField>(&mask_paths(update_mask))?;
        let (identity, input) = article_from_pb(required(article, "article")?);
        let id = resource_id("article.id", &identity.id)?;
        let article = self
            .store
            .update_article(&id, &identity.etag, input, &mask)
            .await
            .map_err(|error| error.within("article"))?;
        Ok(article_to_pb(article))
    }

    async fn delete(&self, request: pb::DeleteArticleRequest) -> Result<(), Error> {
        let pb::DeleteArticleRequest { id, etag } = request;
        self.store
            .delete_article(&resource_id("id", &id)?, &etag)
            .await
    }

    async fn undelete(&self, request: pb::UndeleteArticleRequest) -> Result<pb::Article, Error> {
        let pb::UndeleteArticleRequest { id, etag } = request;
        let article = self
            .store
            .undelete_article(&resource_id("id", &id)?, &etag)
            .await?;
        Ok(article_to_pb(article))
    }
}

#[tonic::async_trait]
impl ArticleService for ArticleApi {
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.create(request.into_inner()).await)
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.get(request.into_inner()).await)
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }

    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.update(request.into_inner()).await)
    }

    async fn delete_article(
        &self,
        request: Request<pb::DeleteArticleRequest>,
    ) -> Result<Response<()>, Status> {
        respond(self.delete(request.into_inner()).await)
    }

    async fn undelete_article(
        &self,
        request: Request<pb::UndeleteArticleRequest>,
    ) -> Result<Response<pb::Article>, Status> {
        respond(self.undelete(request.into_inner()).await)
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

fn article_to_pb(article: Article) -> pb::Article {
    let Article {
        id,
        content:
            ArticleContent {
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
        status,
        word_count,
        reading_time_minutes,
        create_time,
        update_time,
        delete_time,
        version,
    } = article;
    let status = match status {
        ArticleStatus::Draft => pb::ArticleStatus::Draft,
    };
    pb::Article {
        etag: etag(&id, version),
        id,
        slug,
        language,
        title,
        subtitle,
        body,
        author_ids,
        tags,
        section,
        status: status.into(),
        comments_enabled: Some(comments_enabled),
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        delete_time: delete_time.map(timestamp),
        word_count: i32::try_from(word_count).unwrap_or(i32::MAX),
        reading_time_minutes: i32::try_from(reading_time_minutes).unwrap_or(i32::MAX),
    }
}
