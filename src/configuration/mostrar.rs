//! `mesa-ayuda config`: the effective configuration, secrets masked, each
//! value with its source.

use super::Cargada;
use std::fmt::Write;
use toml::Value;

/// What replaces a secret in the listing.
const OCULTO: &str = "\"********\"";

impl Cargada {
    /// One `clave = valor  # fuente` line per value, sorted by key.
    pub fn mostrar(&self) -> String {
        let mut salida = String::new();
        for (seccion, valor) in &self.arbol.valores {
            self.hojas(&mut salida, seccion, valor);
        }
        let auth = &self.config.settings.auth;
        if auth.jwt_secret.is_none() {
            let nota = if self.config.settings.uses_dev_secret() {
                "sin definir: se usa el secreto de desarrollo (NO usar en producción)"
            } else {
                "sin definir: HS256 desactivado, solo el JWKS"
            };
            let _ = writeln!(salida, "# auth.jwt_secret {nota}");
        }
        if self.config.settings.sla.avisos.is_none() {
            let _ = writeln!(
                salida,
                "sla.avisos = [{}]  # derivado de sla.aviso_porcentaje",
                self.config.settings.sla.aviso_porcentaje
            );
        }
        salida
    }

    fn hojas(&self, salida: &mut String, ruta: &str, valor: &Value) {
        match valor {
            Value::Table(t) if !t.is_empty() => {
                for (k, v) in t {
                    self.hojas(salida, &format!("{ruta}.{k}"), v);
                }
            }
            _ => {
                let texto = match (ruta, valor) {
                    ("auth.jwt_secret" | "auth.secreto_autoridad", _) => OCULTO.to_string(),
                    ("database.url" | "amqp.url" | "telemetria.otlp_endpoint", Value::String(url)) => {
                        Value::String(redact_url(url)).to_string()
                    }
                    _ => valor.to_string(),
                };
                let fuente = self.arbol.fuente(ruta).map(|f| f.to_string()).unwrap_or_default();
                let _ = writeln!(salida, "{ruta} = {texto}  # {fuente}");
            }
        }
    }
}

/// The URL with its password replaced (in the user info and in a
/// `password=` query parameter), for logs and `mesa-ayuda config`; each of
/// a comma-separated list of URLs.
pub fn redact_url(url: &str) -> String {
    url.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
    let sin_usuario = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    match sin_usuario.split_once('?') {
        Some((base, consulta)) => {
            let pares: Vec<String> = consulta
                .split('&')
                .map(|par| match par.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => par.to_string(),
                })
                .collect();
            format!("{base}?{}", pares.join("&"))
        }
        None => sin_usuario,
    }
}
