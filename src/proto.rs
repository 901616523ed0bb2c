//! The generated protobuf and tonic code for `newsdesk.v1`, and the encoded
//! descriptor set that gRPC reflection serves.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic)]
pub mod newsdesk {
    pub mod v1 {
        tonic::include_proto!("newsdesk.v1");
    }
}

pub use self::newsdesk::v1::*;

/// Every file of the API, imports included, as an encoded `FileDescriptorSet`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/newsdesk_descriptor.bin"));
