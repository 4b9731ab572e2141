//! Compiles `proto/standalone.proto` with protox (pure Rust: no system `protoc`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/standalone.proto");
    let fds = protox::compile(["proto/standalone.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
