//! Compiles the vendored Spark Connect protocol (`proto/spark/connect/*.proto`,
//! unchanged from Spark v4.2.0) with protox: no system `protoc`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "base",
        "catalog",
        "commands",
        "common",
        "expressions",
        "ml",
        "ml_common",
        "pipelines",
        "relations",
        "types",
    ]
    .map(|f| format!("proto/spark/connect/{f}.proto"));
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .bytes(".spark.connect")
        .compile_fds(fds)?;
    Ok(())
}
