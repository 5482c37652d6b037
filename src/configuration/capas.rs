//! The layers of the configuration — built-in defaults, files, environment —
//! merged key by key into one TOML tree that remembers where each value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use toml::{Table, Value};

/// Where a value came from, for `mesa-ayuda config` and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fuente {
    /// The defaults built into the binary (`config/default.toml` at build time).
    Defecto,
    /// A configuration file.
    Archivo(PathBuf),
    /// An environment variable, by name.
    Entorno(String),
}

impl fmt::Display for Fuente {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fuente::Defecto => f.write_str("defecto"),
            Fuente::Archivo(ruta) => write!(f, "archivo {}", ruta.display()),
            Fuente::Entorno(var) => write!(f, "entorno {var}"),
        }
    }
}

/// Maps whose keys are priority names: upper case is their one spelling, so
/// `alta` from a file or `MESA__SLA__PRIORIDADES__alta` lands on `ALTA`.
const MAPAS_DE_PRIORIDADES: [&str; 2] = ["sla.prioridades", "sla.primera_respuesta"];
/// Maps whose keys are names chosen by the operator, kept as written.
const MAPAS_CON_NOMBRES: [&str; 1] = ["sla.calendarios"];
/// Keys set only in files: their values are tables or lists of tables.
const SOLO_EN_ARCHIVOS: [&str; 2] = ["sla.politicas", "sla.calendarios"];
/// List-valued keys absent from the defaults, with whether their items are
/// integers; the environment writes them `a,b` or `[a, b]`.
const LISTAS: [(&str, bool); 2] = [("auth.audience", false), ("sla.avisos", true)];

/// The merged tree and the source of each of its leaves (dotted paths).
#[derive(Debug, Clone, Default)]
pub struct Arbol {
    /// The merged values.
    pub valores: Table,
    /// Source of each leaf, by dotted path.
    pub fuentes: BTreeMap<String, Fuente>,
}

/// One key whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problema {
    /// Dotted path of the key, or the variable or file at fault.
    pub clave: String,
    /// What is wrong, for the operator.
    pub mensaje: String,
    /// Where the value came from; none for a missing key.
    pub fuente: Option<Fuente>,
}

impl fmt::Display for Problema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.clave, self.mensaje)?;
        if let Some(fuente) = &self.fuente {
            write!(f, " ({fuente})")?;
        }
        Ok(())
    }
}

impl Arbol {
    /// Merges one file's table: tables merge key by key, anything else replaces.
    pub fn fusionar(&mut self, tabla: Table, fuente: &Fuente) {
        fusionar_en(&mut self.valores, &mut self.fuentes, "", tabla, fuente);
    }

    /// Sets one key from the environment. `ruta` is the variable's path,
    /// matched against the tree whatever its case.
    pub fn poner_variable(&mut self, var: &str, ruta: &[&str], texto: &str) -> Result<(), Problema> {
        let problema = |mensaje: String| Problema { clave: var.to_string(), mensaje, fuente: None };
        let Some((ultimo, secciones)) = ruta.split_last() else {
            return Err(problema("nombre de variable mal formado: se espera MESA__<SECCION>__<CLAVE>".into()));
        };
        if ruta.iter().any(|s| s.is_empty()) {
            return Err(problema("nombre de variable mal formado: se espera MESA__<SECCION>__<CLAVE>".into()));
        }
        let mut tabla = &mut self.valores;
        let mut camino = String::new();
        for segmento in secciones {
            let clave = canonica(&camino, tabla, segmento);
            let ruta_clave = unir(&camino, &clave);
            if SOLO_EN_ARCHIVOS.contains(&ruta_clave.as_str()) {
                return Err(problema(format!("{ruta_clave} se define en los archivos de configuración")));
            }
            let Value::Table(t) = tabla.entry(clave).or_insert_with(|| Value::Table(Table::new())) else {
                return Err(problema(format!("{ruta_clave} no es una sección")));
            };
            tabla = t;
            camino = ruta_clave;
        }
        let clave = canonica(&camino, tabla, ultimo);
        let ruta_clave = unir(&camino, &clave);
        if SOLO_EN_ARCHIVOS.contains(&ruta_clave.as_str()) {
            return Err(problema(format!("{ruta_clave} se define en los archivos de configuración")));
        }
        let valor = valor_de_entorno(&ruta_clave, tabla.get(&clave), texto).map_err(|mensaje| Problema {
            clave: ruta_clave.clone(),
            mensaje,
            fuente: Some(Fuente::Entorno(var.to_string())),
        })?;
        quitar_fuentes_bajo(&mut self.fuentes, &ruta_clave);
        self.fuentes.insert(ruta_clave, Fuente::Entorno(var.to_string()));
        tabla.insert(clave, valor);
        Ok(())
    }

    /// The source of a key: its own, the nearest table's holding it, or
    /// (for a table) the first of its keys'.
    pub fn fuente(&self, clave: &str) -> Option<Fuente> {
        // A list item (`sla.avisos[1]`) comes from where its list came from.
        let clave = clave.split('[').next().unwrap_or(clave);
        let mut c = clave;
        loop {
            if let Some(f) = self.fuentes.get(c) {
                return Some(f.clone());
            }
            match c.rsplit_once('.') {
                Some((padre, _)) => c = padre,
                None => break,
            }
        }
        let prefijo = format!("{clave}.");
        self.fuentes.range(prefijo.clone()..).next().filter(|(k, _)| k.starts_with(&prefijo)).map(|(_, f)| f.clone())
    }
}

fn unir(camino: &str, clave: &str) -> String {
    if camino.is_empty() { clave.to_string() } else { format!("{camino}.{clave}") }
}

/// The spelling a key takes in the tree: an existing key's, whatever the case;
/// else upper case in priority maps, as written in named maps, lower case elsewhere.
fn canonica(camino: &str, tabla: &Table, clave: &str) -> String {
    if let Some(existente) = tabla.keys().find(|k| k.eq_ignore_ascii_case(clave)) {
        return existente.clone();
    }
    if MAPAS_DE_PRIORIDADES.contains(&camino) {
        clave.to_uppercase()
    } else if MAPAS_CON_NOMBRES.contains(&camino) {
        clave.to_string()
    } else {
        clave.to_lowercase()
    }
}

fn quitar_fuentes_bajo(fuentes: &mut BTreeMap<String, Fuente>, ruta: &str) {
    let prefijo = format!("{ruta}.");
    fuentes.retain(|k, _| k != ruta && !k.starts_with(&prefijo));
}

fn fusionar_en(
    destino: &mut Table,
    fuentes: &mut BTreeMap<String, Fuente>,
    camino: &str,
    capa: Table,
    fuente: &Fuente,
) {
    for (clave, valor) in capa {
        let clave = canonica(camino, destino, &clave);
        let ruta = unir(camino, &clave);
        match (destino.get_mut(&clave), valor) {
            (Some(Value::Table(existente)), Value::Table(nueva)) => {
                fusionar_en(existente, fuentes, &ruta, nueva, fuente);
            }
            (_, valor) => {
                let valor = claves_en_minusculas(valor);
                quitar_fuentes_bajo(fuentes, &ruta);
                registrar(fuentes, &ruta, &valor, fuente);
                destino.insert(clave, canonizar_tabla(&ruta, valor));
            }
        }
    }
}

/// A new table's own keys follow the same spelling rules as merged ones.
fn canonizar_tabla(camino: &str, valor: Value) -> Value {
    match valor {
        Value::Table(t) => {
            let mut nueva = Table::new();
            for (k, v) in t {
                let k = canonica(camino, &nueva, &k);
                let ruta = unir(camino, &k);
                nueva.insert(k, canonizar_tabla(&ruta, v));
            }
            Value::Table(nueva)
        }
        otro => otro,
    }
}

/// Tables inside lists (`[[sla.politicas]]`) have no named maps: lower case.
fn claves_en_minusculas(valor: Value) -> Value {
    match valor {
        Value::Array(lista) => Value::Array(
            lista
                .into_iter()
                .map(|v| match v {
                    Value::Table(t) => {
                        Value::Table(t.into_iter().map(|(k, v)| (k.to_lowercase(), claves_en_minusculas(v))).collect())
                    }
                    otro => claves_en_minusculas(otro),
                })
                .collect(),
        ),
        otro => otro,
    }
}

fn registrar(fuentes: &mut BTreeMap<String, Fuente>, ruta: &str, valor: &Value, fuente: &Fuente) {
    match valor {
        Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                registrar(fuentes, &unir(ruta, k), v, fuente);
            }
        }
        _ => {
            fuentes.insert(ruta.to_string(), fuente.clone());
        }
    }
}

/// An environment value, typed like the value it replaces: integers,
/// booleans and lists are parsed, anything else stays text.
fn valor_de_entorno(ruta: &str, existente: Option<&Value>, texto: &str) -> Result<Value, String> {
    let lista = LISTAS.iter().find(|(r, _)| *r == ruta).map(|(_, enteros)| *enteros);
    match (existente, lista) {
        (Some(Value::Integer(_)), _) => texto
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("se esperaba un número entero, no {:?}", recortar(texto))),
        (Some(Value::Float(_)), _) => texto
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("se esperaba un número, no {:?}", recortar(texto))),
        (Some(Value::Boolean(_)), _) => match texto.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            // v1.2: the waits whose pauses stop the clock (`SOLICITANTE,TERCERO`).
            _ if ruta == BOOLEANO_O_LISTA => lista_de_entorno(texto, false),
            _ => Err(format!("se esperaba true o false, no {:?}", recortar(texto))),
        },
        (Some(Value::Array(_)), _) if ruta == BOOLEANO_O_LISTA => match texto.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => lista_de_entorno(texto, false),
        },
        (Some(Value::Array(a)), None) => {
            lista_de_entorno(texto, a.first().is_some_and(|v| matches!(v, Value::Integer(_))))
        }
        (_, Some(enteros)) => lista_de_entorno(texto, enteros),
        (Some(Value::Table(_)), _) => Err("es una sección: se fijan sus claves, no la sección".into()),
        _ => Ok(Value::String(texto.to_string())),
    }
}

/// The one key that is a boolean or a list (`sla.pausa_detiene_reloj`, v1.2).
const BOOLEANO_O_LISTA: &str = "sla.pausa_detiene_reloj";

/// A value as quoted in a problem: the first 40 characters, so a huge
/// variable does not flood the terminal.
pub(super) fn recortar(texto: &str) -> String {
    match texto.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &texto[..i]),
        None => texto.to_string(),
    }
}

/// `a,b`, `[50, 20]` or `["a", "b"]`; an empty text is an empty list.
fn lista_de_entorno(texto: &str, enteros: bool) -> Result<Value, String> {
    let t = texto.trim();
    if t.starts_with('[') {
        let tabla: Table =
            toml::from_str(&format!("v = {t}")).map_err(|_| format!("lista mal formada: {:?}", recortar(texto)))?;
        return tabla.get("v").cloned().ok_or_else(|| format!("lista mal formada: {:?}", recortar(texto)));
    }
    if t.is_empty() {
        return Ok(Value::Array(vec![]));
    }
    t.split(',')
        .map(|item| {
            let item = item.trim();
            if enteros {
                item.parse()
                    .map(Value::Integer)
                    .map_err(|_| format!("se esperaba una lista de enteros, no {:?}", recortar(texto)))
            } else {
                Ok(Value::String(item.to_string()))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arbol(toml: &str) -> Arbol {
        let mut a = Arbol::default();
        a.fusionar(toml::from_str(toml).unwrap(), &Fuente::Defecto);
        a
    }

    #[test]
    fn keys_match_whatever_their_case() {
        let mut a = arbol("[sla.prioridades]\nALTA = \"4h\"\n[http]\nport = 9464\n");
        a.fusionar(
            toml::from_str("[SLA.Prioridades]\nalta = \"5h\"\nurgente = \"1h\"").unwrap(),
            &Fuente::Archivo("x.toml".into()),
        );
        a.poner_variable("MESA__sla__PRIORIDADES__Alta", &["sla", "PRIORIDADES", "Alta"], "8h").unwrap();
        a.poner_variable("MESA__HTTP__PORT", &["HTTP", "PORT"], "0").unwrap();
        let p = a.valores["sla"]["prioridades"].as_table().unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["ALTA", "URGENTE"]);
        assert_eq!(p["ALTA"].as_str(), Some("8h"));
        assert_eq!(a.valores["http"]["port"].as_integer(), Some(0));
        assert_eq!(a.fuente("sla.prioridades.ALTA"), Some(Fuente::Entorno("MESA__sla__PRIORIDADES__Alta".into())));
        assert_eq!(a.fuente("sla.prioridades.URGENTE"), Some(Fuente::Archivo("x.toml".into())));
    }

    #[test]
    fn environment_values_take_the_type_they_replace() {
        let mut a = arbol("[http]\nport = 1\n[sla]\npausa = true\n");
        assert!(a.poner_variable("V", &["http", "port"], "nueve").is_err());
        assert!(a.poner_variable("V", &["sla", "pausa"], "si").is_err());
        a.poner_variable("V", &["sla", "pausa"], "FALSE").unwrap();
        a.poner_variable("V", &["sla", "avisos"], "50, 20").unwrap();
        assert_eq!(a.valores["sla"]["avisos"], Value::Array(vec![Value::Integer(50), Value::Integer(20)]));
        a.poner_variable("V", &["sla", "avisos"], "[40,10]").unwrap();
        assert_eq!(a.valores["sla"]["avisos"], Value::Array(vec![Value::Integer(40), Value::Integer(10)]));
        assert!(a.poner_variable("V", &["sla", "avisos"], "50,x").is_err());
        a.poner_variable("V", &["auth", "audience"], "a,b").unwrap();
        assert_eq!(a.valores["auth"]["audience"].as_array().unwrap().len(), 2);
        assert!(a.poner_variable("V", &["sla"], "x").is_err(), "a section is not a value");
        assert!(a.poner_variable("V", &["sla", "politicas"], "x").is_err(), "files only");
        assert!(a.poner_variable("V", &["sla", "", "x"], "x").is_err());
    }
}
