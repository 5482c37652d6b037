use clap::Parser;
use mesa_ayuda::cli::{Cli, ejecutar};

#[tokio::main]
async fn main() {
    let code = match ejecutar(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
