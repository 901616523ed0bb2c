//! `newsdesk.v1.KeyService`: API keys, for admins.

use tonic::{Request, Response, Status};

use super::{convert::timestamp, principal, resource_id, respond};
use crate::{
    domain::{
        access::{Actor, Role},
        key::{ApiKey, NewKey},
        paging::{Cursor, QueryKey, page_size},
        validation::Violations,
    },
    error::Error,
    proto::{self as pb, key_service_server::KeyService},
    store::Store,
};

/// Serves KeyService from the store.
#[derive(Debug, Clone)]
pub struct KeyApi {
    store: Store,
}

impl KeyApi {
    /// The service, over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn create(
        &self,
        creator: &Actor,
        request: pb::CreateApiKeyRequest,
    ) -> Result<pb::CreateApiKeyResponse, Error> {
        let pb::CreateApiKeyRequest {
            name,
            role,
            author_id,
        } = request;
        let mut violations = Violations::new();
        let role = role_from_pb(role);
        if role.is_none() {
            violations.add("role", "must be one of the ROLE_ values");
        }
        let author_id = match author_id.trim() {
            "" => None,
            raw => resource_id("author_id", raw)
                .map_err(|bad| violations.merge(bad))
                .ok(),
        };
        let role = violations.into_result(role)?.ok_or_else(|| {
            Error::Internal("a key role passed validation without a value".into())
        })?;
        let new = NewKey::new(&name, role, author_id)?;
        let (key, token) = self.store.insert_key(creator, new).await?;
        Ok(pb::CreateApiKeyResponse {
            key: Some(key_to_pb(key)),
            token,
        })
    }

    async fn list(
        &self,
        request: pb::ListApiKeysRequest,
    ) -> Result<pb::ListApiKeysResponse, Error> {
        let pb::ListApiKeysRequest {
            page_size: requested_size,
            page_token,
        } = request;
        let size = page_size(requested_size)?;
        let query = QueryKey::new("ListApiKeys", &[]);
        let cursor = query.cursor(&page_token)?;
        let page = self
            .store
            .list_keys(cursor.as_ref().map(|cursor| cursor.id.as_str()), size)
            .await?;
        let next_page_token = match page.keys.last() {
            Some(last) if page.has_more => query.token(Cursor {
                time_micros: None,
                number: None,
                id: last.id.clone(),
                key: None,
            }),
            _ => String::new(),
        };
        Ok(pb::ListApiKeysResponse {
            keys: page.keys.into_iter().map(key_to_pb).collect(),
            next_page_token,
        })
    }

    async fn revoke(
        &self,
        request: pb::RevokeApiKeyRequest,
    ) -> Result<pb::RevokeApiKeyResponse, Error> {
        let pb::RevokeApiKeyRequest { id } = request;
        let key = self.store.revoke_key(&resource_id("id", &id)?).await?;
        Ok(pb::RevokeApiKeyResponse {
            key: Some(key_to_pb(key)),
        })
    }
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let creator = principal(&request).actor();
        respond(self.create(&creator, request.into_inner()).await)
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        respond(self.list(request.into_inner()).await)
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        respond(self.revoke(request.into_inner()).await)
    }
}

fn role_from_pb(role: i32) -> Option<Role> {
    match pb::Role::try_from(role).ok()? {
        pb::Role::Unspecified => None,
        pb::Role::Admin => Some(Role::Admin),
        pb::Role::Editor => Some(Role::Editor),
        pb::Role::Writer => Some(Role::Writer),
        pb::Role::Subscriber => Some(Role::Subscriber),
    }
}

fn key_to_pb(key: ApiKey) -> pb::ApiKey {
    let ApiKey {
        id,
        name,
        role,
        author_id,
        creator,
        create_time,
        revoke_time,
    } = key;
    let role = match role {
        Role::Admin => pb::Role::Admin,
        Role::Editor => pb::Role::Editor,
        Role::Writer => pb::Role::Writer,
        Role::Subscriber => pb::Role::Subscriber,
    };
    pb::ApiKey {
        id,
        name,
        role: role.into(),
        author_id: author_id.unwrap_or_default(),
        creator,
        create_time: Some(timestamp(create_time)),
        revoke_time: revoke_time.map(timestamp),
    }
}
