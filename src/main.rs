fn main() -> std::process::ExitCode {
    memsafe::main_with_args(std::env::args_os().collect())
}
