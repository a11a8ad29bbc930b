use std::process::ExitCode;

// docs/decisions/0027-allocator.md: glibc's malloc was a sixth of the server's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    gatehouse::cli::main()
}
