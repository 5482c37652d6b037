use clap::Parser;
use mesa_ayuda::cli::{Cli, ejecutar, runtime};

fn main() {
    let code = match runtime().map(|rt| rt.block_on(ejecutar(Cli::parse()))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            2
        }
        Err(e) => {
            eprintln!("error: no se pudo iniciar el runtime: {e}");
            2
        }
    };
    std::process::exit(code);
}
