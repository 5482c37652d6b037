//! Loading: the layers merged (`capas`), each section read on its own so
//! every problem is listed at once, then checked as a whole and compiled
//! into a `Config`, once.

use super::*;

impl Config {
    /// Reads every layer from the working directory's `config/` and the process environment.
    pub fn load() -> Result<Config, ErrorConfiguracion> {
        Self::load_from(Path::new("config"), std::env::vars()).map(|c| c.config)
    }

    /// Checks and compiles settings built in code (tests, benchmarks):
    /// what `load` does after reading the layers, problems without sources.
    pub fn desde(settings: Settings) -> Result<Config, ErrorConfiguracion> {
        let mut problemas = Vec::new();
        let config = compilar(settings, None, &mut problemas);
        config.filter(|_| problemas.is_empty()).ok_or(ErrorConfiguracion(problemas))
    }

    /// Reads the built-in defaults, `dir/default.toml`, `dir/<MESA_ENV>.toml`
    /// and the given environment, and validates the result as a whole.
    pub fn load_from(
        dir: &Path,
        entorno: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Cargada, ErrorConfiguracion> {
        let entorno: BTreeMap<String, String> = entorno.into_iter().collect();
        let mut problemas = Vec::new();
        let mut arbol = Arbol::default();
        match toml::from_str(DEFAULTS) {
            Ok(tabla) => arbol.fusionar(tabla, &Fuente::Defecto),
            Err(e) => {
                problemas.push(Problema { clave: "config/default.toml".into(), mensaje: e.to_string(), fuente: None })
            }
        }
        let nombre_env = entorno.get("MESA_ENV").map(String::as_str).unwrap_or("local");
        let mut archivos = vec![dir.join("default.toml")];
        // A name, not a path: `config/<MESA_ENV>.toml` stays in `config/`.
        if !nombre_env.is_empty() && nombre_env.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
            archivos.push(dir.join(format!("{nombre_env}.toml")));
        } else {
            problemas.push(Problema {
                clave: "MESA_ENV".into(),
                mensaje: format!("{:?}: solo letras, dígitos, '-' y '_'", recortar(nombre_env)),
                fuente: None,
            });
        }
        for archivo in archivos {
            let texto = match std::fs::read_to_string(&archivo) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    problemas.push(Problema {
                        clave: archivo.display().to_string(),
                        mensaje: e.to_string(),
                        fuente: None,
                    });
                    continue;
                }
            };
            match toml::from_str::<toml::Table>(&texto) {
                Ok(tabla) => arbol.fusionar(tabla, &Fuente::Archivo(archivo)),
                Err(e) => problemas.push(Problema {
                    clave: archivo.display().to_string(),
                    mensaje: format!("TOML inválido: {}", e.message()),
                    fuente: None,
                }),
            }
        }
        // The conventional variables sit below the MESA__ ones.
        for (var, ruta) in [("DATABASE_URL", ["database", "url"]), ("AMQP_URL", ["amqp", "url"])] {
            if let Some(valor) = entorno.get(var) {
                arbol.poner_variable(var, &ruta, valor).unwrap_or_else(|p| problemas.push(p));
            }
        }
        let mut vistas: BTreeMap<String, &str> = BTreeMap::new();
        for (var, valor) in &entorno {
            let Some(resto) = var.strip_prefix("MESA__") else { continue };
            let ruta: Vec<&str> = resto.split("__").collect();
            // Two spellings of one key would make the winner depend on the
            // order the environment lists them in.
            let clave = ruta.join(".").to_lowercase();
            if let Some(otra) = vistas.insert(clave, var) {
                problemas.push(Problema {
                    clave: var.clone(),
                    mensaje: format!("la misma clave que {otra}: deje una sola"),
                    fuente: None,
                });
                continue;
            }
            arbol.poner_variable(var, &ruta, valor).unwrap_or_else(|p| problemas.push(p));
        }
        let config = leer(&arbol, &mut problemas).and_then(|s| compilar(s, Some(&arbol), &mut problemas));
        match config {
            Some(config) if problemas.is_empty() => Ok(Cargada { config, arbol }),
            _ => Err(ErrorConfiguracion(problemas)),
        }
    }
}

/// The settings' semantic checks, the SLA rule set and the trusted
/// proxies, each problem added with its source when the tree is known;
/// `None` when a part could not be compiled.
fn compilar(settings: Settings, arbol: Option<&Arbol>, problemas: &mut Vec<Problema>) -> Option<Config> {
    let fuente = |clave: &str| arbol.and_then(|a| a.fuente(clave));
    let mut anotar = |clave: String, mensaje: String| {
        let fuente = fuente(&clave);
        problemas.push(Problema { clave, mensaje, fuente });
    };
    for (clave, mensaje) in settings.problemas() {
        anotar(clave, mensaje);
    }
    let reglas = settings.reglas_sla().map_err(|ErrorConfiguracion(p)| {
        for Problema { clave, mensaje, .. } in p {
            anotar(clave, mensaje);
        }
    });
    let proxies = settings.gateway.redes_confiables().map_err(|p| {
        for (clave, mensaje) in p {
            anotar(clave, mensaje);
        }
    });
    Some(Config { reglas: Arc::new(reglas.ok()?), proxies: proxies.ok()?, settings })
}

/// Deserializes each section on its own, so that one bad value does not hide
/// the problems of the others; unknown keys are collected, not fatal here.
fn leer(arbol: &Arbol, problemas: &mut Vec<Problema>) -> Option<Settings> {
    for clave in arbol.valores.keys().filter(|k| !SECCIONES.contains(&k.as_str())) {
        problemas.push(Problema {
            clave: clave.clone(),
            mensaje: "sección desconocida".into(),
            fuente: arbol.fuente(clave),
        });
    }
    let mut s = Secciones { arbol, problemas };
    Some(Settings {
        database: s.leer("database")?,
        amqp: s.leer("amqp")?,
        topology: s.leer("topology")?,
        auth: s.leer("auth")?,
        http: s.leer("http")?,
        scheduler: s.leer("scheduler")?,
        sla: s.leer("sla")?,
        worker: s.leer("worker")?,
        outbox: s.leer("outbox")?,
        retencion: s.leer("retencion")?,
        log: s.leer("log")?,
        gateway: s.leer("gateway")?,
        telemetria: s.leer("telemetria")?,
    })
}

struct Secciones<'a> {
    arbol: &'a Arbol,
    problemas: &'a mut Vec<Problema>,
}

impl Secciones<'_> {
    fn leer<T: serde::de::DeserializeOwned>(&mut self, nombre: &str) -> Option<T> {
        let valor = self.arbol.valores.get(nombre).cloned().unwrap_or_else(|| toml::Value::Table(Default::default()));
        let mut desconocidas = Vec::new();
        let mut anotar = |ruta: serde_ignored::Path| desconocidas.push(format!("{nombre}.{ruta}"));
        let de = serde_ignored::Deserializer::new(valor, &mut anotar);
        let resultado = serde_path_to_error::deserialize::<_, T>(de);
        for clave in desconocidas {
            let fuente = self.arbol.fuente(&clave);
            self.problemas.push(Problema { clave, mensaje: "clave desconocida".into(), fuente });
        }
        resultado
            .map_err(|e| {
                let ruta = e.path().to_string();
                let clave = if ruta == "." { nombre.to_string() } else { format!("{nombre}.{ruta}") };
                let fuente = self.arbol.fuente(&clave);
                self.problemas.push(Problema { clave, mensaje: e.inner().message().to_string(), fuente });
            })
            .ok()
            // The built-in default stands in, so that the checks of the
            // other sections still run and every problem is listed.
            .or_else(|| toml::from_str::<toml::Table>(DEFAULTS).ok()?.remove(nombre)?.try_into().ok())
    }
}
