//! An article's answer as the readers' cache keeps it: encoded, then
//! compressed, which fits a 100,000-article corpus in the memory budget.

use std::{cell::RefCell, sync::Arc};

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

#[derive(Clone)]
pub(super) struct Entry {
    compressed: Arc<[u8]>,
    encoded_len: usize,
}

impl Entry {
    /// `encoded`, compressed (`None` if compression failed).
    pub(super) fn of(encoded: &[u8]) -> Option<Self> {
        let compressed =
            COMPRESSOR.with_borrow_mut(|compressor| compressor.as_mut()?.compress(encoded).ok())?;
        Some(Self {
            compressed: compressed.into(),
            encoded_len: encoded.len(),
        })
    }

    /// The encoded answer (`None` if decompression failed).
    pub(super) fn decompress(&self) -> Option<Vec<u8>> {
        DECOMPRESSOR.with_borrow_mut(|decompressor| {
            decompressor
                .as_mut()?
                .decompress(&self.compressed, self.encoded_len)
                .ok()
        })
    }

    /// The compressed bytes the entry holds.
    pub(super) fn size(&self) -> usize {
        self.compressed.len()
    }
}
