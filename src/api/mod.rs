//! Thin tonic handlers: each one validates its request, converts proto to
//! domain values, calls one store method, and converts the answer back.

mod articles;
mod authors;
mod comments;
mod convert;
mod encoded;
mod events;
mod keys;
mod published;
mod shares;

pub use articles::{ArticleApi, ArticleServer, Wire};
pub use authors::AuthorApi;
pub use comments::CommentApi;
pub use events::EventApi;
pub use keys::KeyApi;
pub use published::PublishedArticles;
pub use shares::ShareApi;

use tonic::{Request, Response, Status};

use crate::{
    domain::{
        access::{Denial, Principal},
        slug::is_valid_slug,
        text::{LineRule, nfc},
        validation::Violations,
    },
    error::Error,
};

/// The caller, as the auth layer found it; anonymous when it found no key
/// (so a request that somehow skipped the layer gets the least rights).
fn principal<T>(request: &Request<T>) -> Principal {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous)
}

/// The error for a refused call; `what` names the resource for NOT_FOUND.
fn denied(denial: Denial, what: &str) -> Error {
    Error::refused(denial, what)
}

/// A handler's result as tonic wants it; every error maps through `Error`.
fn respond<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

/// The id of the resource a request names, in canonical form; `field` is the
/// request field it came from.
fn resource_id(field: &str, raw: &str) -> Result<String, Violations> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Violations::single(field, "is required"));
    }
    uuid::Uuid::try_parse(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| Violations::single(field, "must be a resource id (a UUID)"))
}

/// An optional Create idempotency key (AIP-155): empty, or a UUID.
fn request_id(raw: &str) -> Result<Option<String>, Violations> {
    if raw.is_empty() {
        return Ok(None);
    }
    resource_id("request_id", raw).map(Some)
}

/// The message in a required message field.
fn required<T>(value: Option<T>, field: &str) -> Result<T, Violations> {
    value.ok_or_else(|| Violations::single(field, "is required"))
}

/// A slug to look a resource up by. No resource can have a malformed slug, so
/// one is NOT_FOUND at once, without reaching the database.
fn lookup_slug(resource: &str, raw: &str) -> Result<String, Error> {
    let slug = nfc(raw.trim());
    if is_valid_slug(&slug) {
        Ok(slug)
    } else {
        Err(Error::NotFound(format!(
            "no {resource} has the slug {raw:?}"
        )))
    }
}

/// An optional single-line filter value, trimmed and in NFC; `None` when empty.
fn filter_text(field: &'static str, raw: &str, violations: &mut Violations) -> Option<String> {
    let rule = LineRule {
        field,
        required: false,
        max_chars: 300,
    };
    Some(rule.apply(raw, violations)).filter(|value| !value.is_empty())
}

/// The paths of an optional update mask.
fn mask_paths(mask: Option<prost_types::FieldMask>) -> Vec<String> {
    mask.map(|mask| mask.paths).unwrap_or_default()
}
