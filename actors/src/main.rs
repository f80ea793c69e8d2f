//! The `kube-devops` binary: parse the command line, run the command, exit with its code.

/// Reading manifests allocates and frees many small strings and maps; mimalloc does that
/// markedly faster than the system allocator (docs/performance.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kube_devops_actors::cli::main()
}
