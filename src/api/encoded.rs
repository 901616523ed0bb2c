//! Answers encoded ahead of time. Readers' copies of published articles are
//! kept as protobuf bytes; this codec writes such bytes to the wire as they
//! are, so that an answer from memory is not decoded into a message only for
//! tonic to encode it again (for a page of twenty articles that round trip
//! cost several times what the rest of the call did).

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::{
    Status,
    codec::{Codec, EncodeBuf, Encoder},
};
use tonic_prost::ProstDecoder;

use crate::error::Error;

/// The protobuf encoding of an `M`.
pub struct Encoded<M> {
    bytes: Bytes,
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for Encoded<M> {
    fn clone(&self) -> Self {
        Self::trusted(self.bytes.clone())
    }
}

impl<M> std::fmt::Debug for Encoded<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.bytes.len())
    }
}

impl<M: Message + Default> Encoded<M> {
    /// `message`, encoded.
    pub fn of(message: &M) -> Self {
        Self::trusted(message.encode_to_vec().into())
    }

    /// The message again, for callers that need its fields.
    pub fn decode(&self) -> Result<M, Error> {
        M::decode(self.bytes.clone())
            .map_err(|error| Error::Internal(format!("an encoded answer does not decode: {error}")))
    }
}

impl<M> Encoded<M> {
    /// Bytes that are an `M`'s encoding because this crate made them so
    /// (they came from [`Encoded::of`] or were put together field by field).
    pub(super) fn trusted(bytes: Bytes) -> Self {
        Self {
            bytes,
            message: PhantomData,
        }
    }

    /// The encoding.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// Decodes requests of type `Req` as prost does, and writes answers that are
/// [`Encoded`] `Resp`s as they are.
pub struct EncodedCodec<Req, Resp> {
    types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Default for EncodedCodec<Req, Resp> {
    fn default() -> Self {
        Self { types: PhantomData }
    }
}

impl<Req, Resp> Codec for EncodedCodec<Req, Resp>
where
    Req: Message + Default + Send + 'static,
    Resp: 'static,
{
    type Encode = Encoded<Resp>;
    type Decode = Req;
    type Encoder = EncodedEncoder<Resp>;
    type Decoder = ProstDecoder<Req>;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedEncoder {
            message: PhantomData,
        }
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// Copies [`Encoded`] bytes into the outgoing frame.
pub struct EncodedEncoder<M> {
    message: PhantomData<fn() -> M>,
}

impl<M> Encoder for EncodedEncoder<M> {
    type Item = Encoded<M>;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item.bytes);
        Ok(())
    }
}
