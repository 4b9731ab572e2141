fn main() -> std::process::ExitCode {
    kiln_testnode::main()
}
