fn main() -> std::process::ExitCode {
    retry_on::main()
}
