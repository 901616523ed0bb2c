//! `newsdesk.v1.AuthorService`.

use tonic::{Request, Response, Status};

use super::{
    convert::author_to_pb, lookup_slug, mask_paths, principal, request_id, required, resource_id,
    respond,
};
use crate::{
    domain::{
        access::{Actor, Principal, sees_contact_details},
        author::{AuthorField, AuthorInput, AuthorKind, validate_new_author},
        paging::{Cursor, QueryKey, page_size},
        update_mask::parse_update_mask,
        validation::Violations,
    },
    error::Error,
    proto::{self as pb, author_service_server::AuthorService},
    store::Store,
};

/// Serves AuthorService from the store.
#[derive(Debug, Clone)]
pub struct AuthorApi {
    store: Store,
}

impl AuthorApi {
    /// The service, over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn create(
        &self,
        actor: &Actor,
        request: pb::CreateAuthorRequest,
    ) -> Result<pb::Author, Error> {
        let pb::CreateAuthorRequest {
            author,
            request_id: raw_request_id,
        } = request;
        let request_id = request_id(&raw_request_id)?;
        let (_, input) =
            author_from_pb(required(author, "author")?).map_err(|v| v.within("author"))?;
        let fields = validate_new_author(input).map_err(|v| v.within("author"))?;
        let author = self
            .store
            .insert_author(actor, fields, request_id.as_deref())
            .await?;
        Ok(author_to_pb(author))
    }

    async fn get(&self, request: pb::GetAuthorRequest) -> Result<pb::Author, Error> {
        let pb::GetAuthorRequest { id, slug } = request;
        let author = match (id.is_empty(), slug.is_empty()) {
            (false, true) => self.store.find_author(&resource_id("id", &id)?).await?,
            (true, false) => {
                let slug = lookup_slug("author", &slug)?;
                self.store.find_author_by_slug(&slug).await?
            }
            _ => return Err(Violations::single("id", "set exactly one of `id` and `slug`").into()),
        };
        Ok(author_to_pb(author))
    }

    async fn list(
        &self,
        request: pb::ListAuthorsRequest,
    ) -> Result<pb::ListAuthorsResponse, Error> {
        let pb::ListAuthorsRequest {
            page_size: requested_size,
            page_token,
            kind,
        } = request;
        let size = page_size(requested_size)?;
        let kind =
            kind_from_pb(kind).map_err(|description| Violations::single("kind", description))?;
        let query = QueryKey::new("ListAuthors", &[kind.map_or("", AuthorKind::as_str)]);
        let cursor = query.cursor(&page_token)?;
        let page = self
            .store
            .list_authors(kind, cursor.as_ref().map(|cursor| cursor.id.as_str()), size)
            .await?;
        let next_page_token = match page.authors.last() {
            Some(last) if page.has_more => query.token(Cursor {
                time_micros: None,
                number: None,
                key: None,
                id: last.id.clone(),
            }),
            _ => String::new(),
        };
        Ok(pb::ListAuthorsResponse {
            authors: page.authors.into_iter().map(author_to_pb).collect(),
            next_page_token,
        })
    }

    async fn update(
        &self,
        actor: &Actor,
        request: pb::UpdateAuthorRequest,
    ) -> Result<pb::Author, Error> {
        let pb::UpdateAuthorRequest {
            author,
            update_mask,
        } = request;
        let mask = parse_update_mask::<AuthorField>(&mask_paths(update_mask))?;
        let (identity, input) =
            author_from_pb(required(author, "author")?).map_err(|v| v.within("author"))?;
        let id = resource_id("author.id", &identity.id)?;
        let author = self
            .store
            .update_author(actor, &id, &identity.etag, input, &mask)
            .await
            .map_err(|error| error.within("author"))?;
        Ok(author_to_pb(author))
    }

    async fn delete(&self, actor: &Actor, request: pb::DeleteAuthorRequest) -> Result<(), Error> {
        let pb::DeleteAuthorRequest { id, etag } = request;
        self.store
            .delete_author(actor, &resource_id("id", &id)?, &etag)
            .await
    }
}

#[tonic::async_trait]
impl AuthorService for AuthorApi {
    async fn create_author(
        &self,
        request: Request<pb::CreateAuthorRequest>,
    ) -> Result<Response<pb::Author>, Status> {
        let actor = principal(&request).actor();
        respond(self.create(&actor, request.into_inner()).await)
    }

    async fn get_author(
        &self,
        request: Request<pb::GetAuthorRequest>,
    ) -> Result<Response<pb::Author>, Status> {
        let principal = principal(&request);
        respond(
            self.get(request.into_inner())
                .await
                .map(|author| for_caller(author, &principal)),
        )
    }

    async fn list_authors(
        &self,
        request: Request<pb::ListAuthorsRequest>,
    ) -> Result<Response<pb::ListAuthorsResponse>, Status> {
        let principal = principal(&request);
        respond(self.list(request.into_inner()).await.map(|mut page| {
            page.authors = page
                .authors
                .into_iter()
                .map(|author| for_caller(author, &principal))
                .collect();
            page
        }))
    }

    async fn update_author(
        &self,
        request: Request<pb::UpdateAuthorRequest>,
    ) -> Result<Response<pb::Author>, Status> {
        let actor = principal(&request).actor();
        respond(self.update(&actor, request.into_inner()).await)
    }

    async fn delete_author(
        &self,
        request: Request<pb::DeleteAuthorRequest>,
    ) -> Result<Response<()>, Status> {
        let actor = principal(&request).actor();
        respond(self.delete(&actor, request.into_inner()).await)
    }
}

/// What identifies the author an update is for.
struct AuthorIdentity {
    id: String,
    etag: String,
}

/// Splits a proto author into its identity and its writable fields;
/// output-only fields are ignored, as API.md says.
fn author_from_pb(author: pb::Author) -> Result<(AuthorIdentity, AuthorInput), Violations> {
    let pb::Author {
        id,
        display_name,
        slug,
        kind,
        bio,
        email,
        etag,
        create_time: _,
        update_time: _,
    } = author;
    let kind = kind_from_pb(kind).map_err(|description| Violations::single("kind", description))?;
    Ok((
        AuthorIdentity { id, etag },
        AuthorInput {
            display_name,
            slug,
            kind,
            bio,
            email,
        },
    ))
}

fn kind_from_pb(kind: i32) -> Result<Option<AuthorKind>, &'static str> {
    match pb::AuthorKind::try_from(kind) {
        Ok(pb::AuthorKind::Unspecified) => Ok(None),
        Ok(pb::AuthorKind::Person) => Ok(Some(AuthorKind::Person)),
        Ok(pb::AuthorKind::Desk) => Ok(Some(AuthorKind::Desk)),
        Err(_) => Err("is not a known author kind"),
    }
}

/// An author as `principal` may see it: an address is the newsroom's, not
/// the public internet's.
fn for_caller(mut author: pb::Author, principal: &Principal) -> pb::Author {
    if !sees_contact_details(principal) {
        author.email.clear();
    }
    author
}
