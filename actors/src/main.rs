//! The `kube-devops` binary: parse the command line, run the command, exit with its code.

fn main() -> std::process::ExitCode {
    kube_devops_actors::cli::main()
}
