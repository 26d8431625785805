//! `cargo run --release --bin train -- --help`: see `petlens::train::cli`.

fn main() -> std::process::ExitCode {
    petlens::train::cli::main()
}
