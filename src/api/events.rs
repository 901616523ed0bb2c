//! `newsdesk.v1.EventService`: the change feed, paged or live.

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{convert::event_to_pb, principal, respond};
use crate::{
    domain::{access::Principal, event::EVENT_TYPES, paging::page_size, validation::Violations},
    error::Error,
    events::feed::{EventFeed, FeedItem},
    proto::{self as pb, event_service_server::EventService},
    store::Store,
};

/// Serves EventService: pages from the store, live streams from the feed.
#[derive(Debug, Clone)]
pub struct EventApi {
    store: Store,
    feed: EventFeed,
}

impl EventApi {
    /// The service: pages from `store`, live streams from `feed`.
    pub fn new(store: Store, feed: EventFeed) -> Self {
        Self { store, feed }
    }

    async fn list(&self, request: pb::ListEventsRequest) -> Result<pb::ListEventsResponse, Error> {
        let pb::ListEventsRequest {
            after_sequence,
            page_size: requested_size,
            types,
        } = request;
        let mut violations = check_feed_request(after_sequence, &types);
        let size = page_size(requested_size).unwrap_or_else(|bad| {
            violations.merge(bad);
            0
        });
        violations.into_result(())?;
        let events = self.store.list_events(after_sequence, &types, size).await?;
        Ok(pb::ListEventsResponse {
            events: events.into_iter().map(event_to_pb).collect(),
        })
    }
}

/// The checks ListEvents and WatchEvents share.
fn check_feed_request(after_sequence: i64, types: &[String]) -> Violations {
    let mut violations = Violations::new();
    if after_sequence < 0 {
        violations.add("after_sequence", "must not be negative");
    }
    for (i, event_type) in types.iter().enumerate() {
        if !EVENT_TYPES.contains(&event_type.as_str()) {
            violations.add(
                format!("types[{i}]"),
                format!("`{event_type}` is not an event type"),
            );
        }
    }
    violations
}

/// The stream WatchEvents answers with.
type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = WatchStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let key_id = match principal(&request) {
            Principal::Key { key_id, .. } => Some(key_id),
            Principal::Anonymous => None,
        };
        let pb::WatchEventsRequest {
            after_sequence,
            types,
        } = request.into_inner();
        check_feed_request(after_sequence, &types)
            .into_result(())
            .map_err(|violations| Status::from(Error::from(violations)))?;
        let stream = self.feed.watch(after_sequence, types, key_id).map(|item| {
            item.map(|item| pb::WatchEventsResponse {
                kind: Some(match item {
                    FeedItem::Event(event) => pb::watch_events_response::Kind::Event(event_to_pb(
                        Arc::unwrap_or_clone(event),
                    )),
                    FeedItem::Heartbeat { read_sequence } => {
                        pb::watch_events_response::Kind::Heartbeat(pb::Heartbeat { read_sequence })
                    }
                }),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }
}
