//! `newsdesk.v1.ShareService`: readers sharing articles, and the counts.

use tonic::{Request, Response, Status};

use super::{
    convert::{article_to_pb, channel_from_pb, share_stats_to_pb, time_from_pb, timestamp},
    filter_text, principal, resource_id, respond,
};
use crate::{
    domain::{access::Actor, language::parse_language, share::NewShare, validation::Violations},
    error::Error,
    proto::{self as pb, share_service_server::ShareService},
    shares::ShareWriter,
    store::Store,
};

/// Articles ListTopShared returns by default, and at most.
const DEFAULT_TOP: u64 = 10;
const MAX_TOP: u64 = 100;

/// Serves ShareService: writes through the group-commit writer, reads from
/// the store.
#[derive(Debug, Clone)]
pub struct ShareApi {
    store: Store,
    writer: ShareWriter,
}

impl ShareApi {
    /// The service: reads from `store`, writes through `writer`.
    pub fn new(store: Store, writer: ShareWriter) -> Self {
        Self { store, writer }
    }

    async fn record(
        &self,
        actor: Actor,
        request: pb::RecordShareRequest,
    ) -> Result<pb::RecordShareResponse, Error> {
        let pb::RecordShareRequest {
            article_id,
            channel,
            client_id,
            referrer,
        } = request;
        let mut violations = Violations::new();
        let article_id = resource_id("article_id", &article_id).unwrap_or_else(|bad| {
            violations.merge(bad);
            String::new()
        });
        let channel = channel_from_pb(channel);
        if channel.is_none() {
            violations.add("channel", "must be one of the SHARE_CHANNEL_ values");
        }
        let channel = violations.into_result(channel)?.ok_or_else(|| {
            Error::Internal("a share channel passed validation without a value".into())
        })?;
        let share = NewShare::new(article_id, channel, &client_id, &referrer, actor)?;
        let outcome = self.writer.record(share).await?;
        Ok(pb::RecordShareResponse {
            counted: outcome.counted,
            record_time: Some(timestamp(outcome.time)),
        })
    }

    async fn stats(&self, request: pb::GetShareStatsRequest) -> Result<pb::ShareStats, Error> {
        let pb::GetShareStatsRequest { article_id } = request;
        let article_id = resource_id("article_id", &article_id)?;
        let stats = self.store.share_stats(&article_id).await?;
        Ok(share_stats_to_pb(article_id, stats))
    }

    async fn top(
        &self,
        request: pb::ListTopSharedRequest,
    ) -> Result<pb::ListTopSharedResponse, Error> {
        let pb::ListTopSharedRequest {
            since,
            section,
            language,
            limit,
        } = request;
        let mut violations = Violations::new();
        let since = match since.as_ref().map(time_from_pb) {
            Some(Some(since)) => Some(since),
            Some(None) => {
                violations.add("since", "is not a valid timestamp");
                None
            }
            None => {
                violations.add("since", "is required");
                None
            }
        };
        let section = filter_text("section", &section, &mut violations);
        let language = parse_language("language", &language, &mut violations);
        let limit = match limit {
            ..0 => {
                violations.add("limit", "must not be negative");
                0
            }
            0 => DEFAULT_TOP,
            n => u64::try_from(n).map_or(MAX_TOP, |n| n.min(MAX_TOP)),
        };
        let since = violations.into_result(since)?.ok_or_else(|| {
            Error::Internal("a window start passed validation without a value".into())
        })?;
        let top = self
            .store
            .top_shared(since, section.as_deref(), language.as_deref(), limit)
            .await?;
        Ok(pb::ListTopSharedResponse {
            articles: top
                .into_iter()
                .map(|(article, shares)| {
                    let mut article = article_to_pb(article);
                    // Readers' view: no etag to give edits away.
                    article.etag.clear();
                    pb::TopSharedArticle {
                        article: Some(article),
                        shares,
                    }
                })
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl ShareService for ShareApi {
    async fn record_share(
        &self,
        request: Request<pb::RecordShareRequest>,
    ) -> Result<Response<pb::RecordShareResponse>, Status> {
        let actor = principal(&request).actor();
        respond(self.record(actor, request.into_inner()).await)
    }

    async fn get_share_stats(
        &self,
        request: Request<pb::GetShareStatsRequest>,
    ) -> Result<Response<pb::ShareStats>, Status> {
        respond(self.stats(request.into_inner()).await)
    }

    async fn list_top_shared(
        &self,
        request: Request<pb::ListTopSharedRequest>,
    ) -> Result<Response<pb::ListTopSharedResponse>, Status> {
        respond(self.top(request.into_inner()).await)
    }
}
