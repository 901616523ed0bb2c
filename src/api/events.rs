//! `newsdesk.v1.EventService`: the change feed.

use tonic::{Request, Response, Status};

use super::{convert::event_to_pb, respond};
use crate::{
    domain::{event::EVENT_TYPES, paging::page_size, validation::Violations},
    error::Error,
    proto::{self as pb, event_service_server::EventService},
    store::Store,
};

/// Serves EventService from the store.
#[derive(Debug, Clone)]
pub struct EventApi {
    store: Store,
}

impl EventApi {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn list(&self, request: pb::ListEventsRequest) -> Result<pb::ListEventsResponse, Error> {
        let pb::ListEventsRequest {
            after_sequence,
            page_size: requested_size,
            types,
        } = request;
        let mut violations = Violations::new();
        if after_sequence < 0 {
            violations.add("after_sequence", "must not be negative");
        }
        let size = page_size(requested_size).unwrap_or_else(|bad| {
            violations.merge(bad);
            0
        });
        for (i, event_type) in types.iter().enumerate() {
            if !EVENT_TYPES.contains(&event_type.as_str()) {
                violations.add(
                    format!("types[{i}]"),
                    format!("`{event_type}` is not an event type"),
                );
            }
        }
        violations.into_result(())?;
        let events = self.store.list_events(after_sequence, &types, size).await?;
        Ok(pb::ListEventsResponse {
            events: events.into_iter().map(event_to_pb).collect(),
        })
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }
}
