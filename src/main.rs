use clap::Parser;
use mesa_ayuda::cli::{Cli, SALIDA_FALLO, codigo_de_salida, ejecutar, runtime};

fn main() {
    // First of all: from here on no panic's message reaches stderr or a log.
    mesa_ayuda::telemetry::instalar_gancho_de_panico();
    let code = match runtime().map(|rt| rt.block_on(ejecutar(Cli::parse()))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            codigo_de_salida(&e)
        }
        Err(e) => {
            eprintln!("error: no se pudo iniciar el runtime: {e}");
            SALIDA_FALLO
        }
    };
    std::process::exit(code);
}
