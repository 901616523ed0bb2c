//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed) and
//! writes the descriptor set that gRPC reflection serves.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = proto_files(&PathBuf::from(PROTO_ROOT).join("newsdesk/v1"))?;
    // tonic-prost-build does not emit rerun-if-changed itself (it stores the
    // setting and never passes it on), so proto edits would not rebuild.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let descriptors = protox::compile(&protos, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("newsdesk_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

fn proto_files(dir: &PathBuf) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    // A stable order keeps the generated code and descriptor set reproducible.
    files.sort();
    Ok(files)
}
