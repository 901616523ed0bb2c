//! Article slugs in the database: which ones a language already uses, and a
//! new article row inserted under the first free slug of its choice.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};

use super::super::{
    entities::articles,
    insert_unless_taken,
    slugs::{SlugPlacement, SlugTable, place_slug},
};
use crate::{domain::slug::SlugChoice, error::Error};

/// A new article row looking for its slug, unique within its language.
struct NewArticleRow<'a, C> {
    conn: &'a C,
    row: &'a articles::Model,
}

impl<C: ConnectionTrait> SlugTable for NewArticleRow<'_, C> {
    async fn taken(&self, candidates: &[String]) -> Result<Vec<String>, DbErr> {
        slugs_taken(self.conn, &self.row.language, candidates).await
    }

    async fn try_insert(&self, slug: &str) -> Result<bool, DbErr> {
        let mut candidate: articles::ActiveModel = self.row.clone().into();
        candidate.slug = Set(slug.to_owned());
        insert_unless_taken(
            self.conn,
            articles::Entity::insert(candidate),
            [articles::Column::Language, articles::Column::Slug],
        )
        .await
    }
}

/// Inserts `row` under the slug `choice` gives (see [`place_slug`]).
pub(super) async fn insert_with_slug(
    conn: &impl ConnectionTrait,
    row: articles::Model,
    choice: SlugChoice,
) -> Result<articles::Model, Error> {
    let table = NewArticleRow { conn, row: &row };
    match place_slug(&table, choice, &row.id).await? {
        SlugPlacement::Placed(slug) => Ok(articles::Model { slug, ..row }),
        SlugPlacement::Taken(slug) => Err(article_slug_taken(&row.language, &slug)),
    }
}

/// Which of `candidates` articles in `language` already use.
async fn slugs_taken(
    conn: &impl ConnectionTrait,
    language: &str,
    candidates: &[String],
) -> Result<Vec<String>, DbErr> {
    articles::Entity::find()
        .select_only()
        .column(articles::Column::Slug)
        .filter(articles::Column::Language.eq(language))
        .filter(articles::Column::Slug.is_in(candidates.iter().cloned()))
        .into_tuple()
        .all(conn)
        .await
}

pub(super) async fn slug_in_use(
    conn: &impl ConnectionTrait,
    language: &str,
    slug: &str,
) -> Result<bool, DbErr> {
    Ok(!slugs_taken(conn, language, &[slug.to_owned()])
        .await?
        .is_empty())
}

/// ALREADY_EXISTS for an explicitly requested slug another article has.
pub(super) fn article_slug_taken(language: &str, slug: &str) -> Error {
    Error::AlreadyExists(format!(
        "an article in `{language}` already has the slug `{slug}`"
    ))
}
