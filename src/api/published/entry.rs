//! An article's answer as the readers' cache keeps it: encoded, then
//! compressed, which fits a 100,000-article corpus in the memory budget. The
//! comment count is kept beside the compressed bytes, not in them: a comment
//! changes only the count, and setting it in the bytes (decompress, decode,
//! encode, compress) took 6% of the server's CPU while comments were posted.

use std::{cell::RefCell, sync::Arc};

use crate::proto as pb;

thread_local! {
    /// One decompression context a thread: making one costs more than the
    /// decompression itself.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
    /// The same for compression, where a new context cost more than the
    /// compression in a profile of the server.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(COMPRESSION_LEVEL).ok());
}

/// How hard entries are compressed: level 3 saves only 2% over 1 for twice
/// the time, which shows when a restarted server fills its memory.
const COMPRESSION_LEVEL: i32 = 1;

/// `Article.comment_count`'s field number. It is the message's last field,
/// so appending it to the rest's encoding gives the bytes prost would.
const COMMENT_COUNT_FIELD: u32 = 23;

/// The most a varint field's key and value take.
const MAX_FIELD_LEN: usize = 15;

#[derive(Clone)]
pub(super) struct Entry {
    /// The article's encoding without its comment count.
    compressed: Arc<[u8]>,
    encoded_len: usize,
    comment_count: i32,
}

impl Entry {
    /// `article`, whose encoding (prost's) is `encoded` (`None` if
    /// compression failed).
    pub(super) fn of(article: &pb::Article, encoded: &[u8]) -> Option<Self> {
        // The count is the encoding's last field (or absent, when zero).
        let count_len = if article.comment_count == 0 {
            0
        } else {
            prost::encoding::int32::encoded_len(COMMENT_COUNT_FIELD, &article.comment_count)
        };
        let encoded = encoded.get(..encoded.len().checked_sub(count_len)?)?;
        let compressed =
            COMPRESSOR.with_borrow_mut(|compressor| compressor.as_mut()?.compress(encoded).ok())?;
        Some(Self {
            compressed: compressed.into(),
            encoded_len: encoded.len(),
            comment_count: article.comment_count,
        })
    }

    /// The same article with `comment_count` comments.
    pub(super) fn with_comment_count(&self, comment_count: i32) -> Self {
        Self {
            comment_count,
            ..self.clone()
        }
    }

    /// The encoded answer (`None` if decompression failed).
    pub(super) fn answer(&self) -> Option<Vec<u8>> {
        let mut answer = Vec::with_capacity(self.encoded_len + MAX_FIELD_LEN);
        DECOMPRESSOR.with_borrow_mut(|decompressor| {
            decompressor
                .as_mut()?
                .decompress_to_buffer(&self.compressed, &mut answer)
                .ok()
        })?;
        // proto3 leaves a zero out.
        if self.comment_count != 0 {
            prost::encoding::int32::encode(COMMENT_COUNT_FIELD, &self.comment_count, &mut answer);
        }
        Some(answer)
    }

    /// The bytes the entry holds.
    pub(super) fn size(&self) -> usize {
        self.compressed.len() + size_of::<i32>()
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn article(comment_count: i32) -> pb::Article {
        pb::Article {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            slug: "خبر-عاجل".into(),
            language: "ar".into(),
            title: "عنوان الخبر".into(),
            body: "نص المقال. ".repeat(200),
            tags: vec!["روسيا".into()],
            status: pb::ArticleStatus::Published.into(),
            revision: 3,
            comment_count,
            ..Default::default()
        }
    }

    #[test]
    fn an_entry_answers_with_the_bytes_prost_encodes() {
        for count in [0, 1, 300, i32::MAX] {
            let article = article(count);
            let encoded = article.encode_to_vec();
            let entry = Entry::of(&article, &encoded).expect("compresses");
            assert_eq!(entry.answer().expect("decompresses"), encoded);
        }
    }

    #[test]
    fn a_new_comment_count_is_the_one_answered() {
        let first = article(4);
        let entry = Entry::of(&first, &first.encode_to_vec()).expect("compresses");
        for count in [5, 0, 70_000] {
            let answer = entry
                .with_comment_count(count)
                .answer()
                .expect("decompresses");
            assert_eq!(answer, article(count).encode_to_vec());
        }
    }
}
