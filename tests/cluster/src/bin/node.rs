//! The process node, built as a binary of this package so the harness's own
//! integration tests get it through `CARGO_BIN_EXE_kiln-testcluster-node`.
fn main() -> std::process::ExitCode {
    kiln_testnode::main()
}
