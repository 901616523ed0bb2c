//! Whole encoded answers put together from encoded parts: a listing page
//! from its articles' encodings, and the little of an article a lookup by
//! slug reads back.

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use super::super::encoded::Encoded;
use crate::proto as pb;

/// Field numbers of `ListArticlesResponse`.
const PAGE_ARTICLES_FIELD: u32 = 1;
const PAGE_TOKEN_FIELD: u32 = 2;

/// The two fields of an encoded article that a lookup by slug checks; the
/// rest of the message is skipped, not decoded.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SlugOf {
    #[prost(string, tag = "2")]
    pub slug: String,
    #[prost(string, tag = "3")]
    pub language: String,
}

/// A `ListArticlesResponse`'s encoding, from its articles' encodings: each
/// is a length-delimited field 1, then the token, field 2.
pub(super) fn put_page_together(
    articles: &[Bytes],
    next_page_token: &str,
) -> Encoded<pb::ListArticlesResponse> {
    let field = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    let size = articles
        .iter()
        .map(|article| field(article.len()))
        .sum::<usize>()
        + if next_page_token.is_empty() {
            0
        } else {
            field(next_page_token.len())
        };
    let mut page = BytesMut::with_capacity(size);
    for article in articles {
        encode_key(PAGE_ARTICLES_FIELD, WireType::LengthDelimited, &mut page);
        encode_varint(article.len() as u64, &mut page);
        page.put_slice(article);
    }
    // proto3 leaves an empty string out.
    if !next_page_token.is_empty() {
        encode_key(PAGE_TOKEN_FIELD, WireType::LengthDelimited, &mut page);
        encode_varint(next_page_token.len() as u64, &mut page);
        page.put_slice(next_page_token.as_bytes());
    }
    Encoded::trusted(page.freeze())
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn article(n: usize) -> pb::Article {
        pb::Article {
            id: format!("0190a000-0000-7000-8000-{n:012}"),
            slug: format!("خبر-{n}"),
            language: "ar".into(),
            title: "عنوان".repeat(n + 1),
            body: "نص المقال. ".repeat(40 * n),
            tags: vec!["روسيا".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_page_put_together_is_the_page_prost_encodes() {
        for (count, token) in [(0, ""), (1, ""), (3, "next-page"), (20, "تالية")] {
            let page = pb::ListArticlesResponse {
                articles: (0..count).map(article).collect(),
                next_page_token: token.into(),
            };
            let parts: Vec<Bytes> = page
                .articles
                .iter()
                .map(|article| article.encode_to_vec().into())
                .collect();
            let together = put_page_together(&parts, token);
            assert_eq!(together.bytes().as_ref(), page.encode_to_vec().as_slice());
            assert_eq!(together.decode().expect("decodes"), page);
        }
    }

    #[test]
    fn the_slug_check_reads_the_slug_and_language_of_a_whole_article() {
        let whole = article(2);
        let found = SlugOf::decode(whole.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!((found.slug, found.language), (whole.slug, whole.language));
    }
}
