//! Command bodies: typed, validated, with every broken field reported at once.

use super::conversacion::{ADJUNTOS_MAX, Adjunto, AlVencer, Escrito, Espera, Pausa, TEXTO_MAX, problema_de_hasta};
use super::estado::{Accion, Estado, Operacion, TIPOS, Tipo};
use super::sla::{Prioridad, ReglasSla, SlaEstado};
use super::texto::es_imprimible;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// One broken field of a command (`campos` in a VALIDACION reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CampoError {
    /// Field name as sent (`ticketId`).
    pub campo: String,
    /// What is wrong with it, in Spanish, for the client.
    pub mensaje: String,
}

impl CampoError {
    /// An error on `campo`.
    pub fn new(campo: &str, mensaje: impl Into<String>) -> Self {
        Self { campo: campo.to_string(), mensaje: mensaje.into() }
    }
}

/// A validated `crear`.
#[derive(Debug, Clone)]
pub struct DatosCreacion {
    /// Requester's full name, 3 to 150 characters.
    pub nombre: String,
    /// Requester's email.
    pub email: String,
    /// The request's type.
    pub tipo: Tipo,
    /// Category.
    pub categoria: String,
    /// Description, 10 to `DESCRIPCION_MAX` characters.
    pub descripcion: String,
    /// Priority of the catalog, with its target.
    pub prioridad: Prioridad,
    /// Identity document, if given.
    pub documento: Option<String>,
    /// Phone number, if given.
    pub telefono: Option<String>,
    /// Whether the phone takes WhatsApp; false when absent.
    pub tiene_whatsapp: bool,
    /// Company or department, if given.
    pub empresa_departamento: Option<String>,
    /// Subcategory, if given.
    pub subcategoria: Option<String>,
    /// Subject, if given.
    pub asunto: Option<String>,
    /// Area in charge; `MESA` when absent.
    pub area_asignada: String,
}

/// A validated mutation on an existing ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutacion {
    /// `asignar`.
    Asignar {
        /// New area; none keeps the current one.
        area: Option<String>,
        /// Agent in charge, if named.
        agente: Option<String>,
    },
    /// `transferir`.
    Transferir {
        /// The area to move to.
        area: String,
    },
    /// `reclasificar`; at least one field is given.
    Reclasificar {
        /// New type; none keeps it.
        tipo: Option<Tipo>,
        /// New category; none keeps it.
        categoria: Option<String>,
        /// New subcategory; none keeps it.
        subcategoria: Option<String>,
        /// New priority; none keeps it.
        prioridad: Option<Prioridad>,
    },
    /// `pausar`, with the wait it starts (v1.2: `espera`, `hasta`, `alVencer`).
    Pausar(Pausa),
    /// `reabrir`.
    Reabrir,
    /// `actualizar`.
    Actualizar {
        /// The note for the history, 1 to 5000 characters.
        nota: String,
        /// A reply to the requester, if any.
        respuesta_cliente: Option<String>,
    },
    /// `cancelar`.
    Cancelar,
    /// `archivar`.
    Archivar,
    /// `responder` (v1.2): a message of the actor's.
    Responder(Escrito),
}

/// A validated `seguimiento`: the requester's message, by label and e-mail.
#[derive(Debug, Clone, PartialEq)]
pub struct DatosSeguimiento {
    /// `ticketLabel`, upper case.
    pub label: String,
    /// The requester's e-mail, compared as `consultar` compares it.
    pub email: String,
    /// What they wrote (never `interno`).
    pub escrito: Escrito,
}

/// Whose data `anonimizar` erases (§11): every ticket of an e-mail, or one ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Titular {
    /// Every ticket whose requester has this e-mail, compared as `consultar` compares it.
    Email(String),
    /// This ticket.
    Ticket(Uuid),
}

/// A validated `anonimizar`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatosAnonimizacion {
    /// Whose data.
    pub titular: Titular,
    /// Why (the ADMIN's words; kept in the ANONIMIZACION entry).
    pub motivo: String,
}

/// A validated `exportar`: a page of one requester's tickets, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FiltroExportacion {
    /// The requester's e-mail, compared as `consultar` compares it.
    pub email: String,
    /// Tickets a page, 1–[`EXPORTAR_MAXIMO`].
    pub limite: i64,
    /// After this ticket number (`siguienteCursor` of the page before).
    pub despues_de: Option<i64>,
}

/// Most tickets one `exportar` reply carries (§11).
pub const EXPORTAR_MAXIMO: i64 = 100;

impl Mutacion {
    /// The history `accion` this mutation writes.
    pub fn accion(&self) -> Accion {
        match self {
            Mutacion::Asignar { .. } => Accion::Asignacion,
            Mutacion::Transferir { .. } => Accion::Transferencia,
            Mutacion::Reclasificar { .. } => Accion::Reclasificacion,
            Mutacion::Pausar(_) => Accion::Pausa,
            Mutacion::Reabrir => Accion::Reapertura,
            Mutacion::Actualizar { .. } => Accion::Actualizacion,
            Mutacion::Cancelar => Accion::Cancelacion,
            Mutacion::Archivar => Accion::Archivo,
            Mutacion::Responder(_) => Accion::Respuesta,
        }
    }

    /// The operation this mutation belongs to.
    pub fn operacion(&self) -> Operacion {
        match self {
            Mutacion::Asignar { .. } => Operacion::Asignar,
            Mutacion::Transferir { .. } => Operacion::Transferir,
            Mutacion::Reclasificar { .. } => Operacion::Reclasificar,
            Mutacion::Pausar(_) => Operacion::Pausar,
            Mutacion::Reabrir => Operacion::Reabrir,
            Mutacion::Actualizar { .. } => Operacion::Actualizar,
            Mutacion::Cancelar => Operacion::Cancelar,
            Mutacion::Archivar => Operacion::Archivar,
            Mutacion::Responder(_) => Operacion::Responder,
        }
    }
}

/// A validated mutation and the ticket it applies to.
#[derive(Debug, Clone)]
pub struct ComandoTicket {
    /// `ticketId`.
    pub ticket_id: Uuid,
    /// `motivo`; required by `transferir`, `reclasificar`, `pausar` and `cancelar`.
    pub motivo: Option<String>,
    /// What to do.
    pub mutacion: Mutacion,
}

/// Filters and page of `listar`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiltroListado {
    /// Only tickets in this state.
    pub estado: Option<Estado>,
    /// Only tickets of this area.
    pub area: Option<String>,
    /// Only tickets of this priority, upper case.
    pub prioridad: Option<String>,
    /// Only tickets of this type.
    pub tipo: Option<Tipo>,
    /// Only tickets whose `slaEstado` is this.
    pub sla_estado: Option<SlaEstado>,
    /// `slaPrimeraRespuesta` (v1.1): tickets without a first-response target never match.
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// Page size, 1 to `LIMITE_MAXIMO`.
    pub limite: i64,
    /// Continue after this ticket: its number (newest first), or with
    /// `pendienteRespuesta`, its place in that order.
    pub despues_de: Option<Cursor>,
    /// `espera` (v1.2): only paused tickets waiting for this.
    pub espera: Option<Espera>,
    /// `pendienteRespuesta` (v1.2): `true`, only the tickets whose latest
    /// PUBLICO message is the requester's, the longest-waiting first;
    /// `false`, only the others.
    pub pendiente_respuesta: Option<bool>,
}

/// Where a `listar` page continues (opaque to clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// After this ticket number, newest first: `v1.<num hex>`.
    Num(i64),
    /// After this (since, number), longest-waiting first (`pendienteRespuesta`):
    /// `p1.<epoch ms hex>.<num hex>`.
    Pendiente(DateTime<Utc>, i64),
}

impl Cursor {
    /// The cursor's text, as `siguienteCursor` carries it.
    pub fn texto(self) -> String {
        match self {
            Cursor::Num(num) => format!("v1.{num:x}"),
            Cursor::Pendiente(desde, num) => format!("p1.{:x}.{num:x}", desde.timestamp_millis()),
        }
    }

    /// A cursor `texto` wrote; anything else is none.
    pub fn leer(s: &str) -> Option<Cursor> {
        let hex = |t: &str| i64::from_str_radix(t, 16).ok().filter(|n| *n > 0);
        if let Some(resto) = s.strip_prefix("v1.") {
            return hex(resto).map(Cursor::Num);
        }
        let (ms, num) = s.strip_prefix("p1.")?.split_once('.')?;
        Some(Cursor::Pendiente(DateTime::from_timestamp_millis(hex(ms)?)?, hex(num)?))
    }
}

/// Longest `descripcion` (contract §3, v1.1): bounds what one ticket stores
/// and what a `listar` page of 200 weighs.
pub const DESCRIPCION_MAX: usize = 10_000;

/// `limite` of `listar` when absent.
pub const LIMITE_POR_DEFECTO: i64 = 50;
/// Largest `limite` of `listar`.
pub const LIMITE_MAXIMO: i64 = 200;

/// Window and scope of `estadisticas`; absent bounds are filled in by the
/// caller from the current time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiltroEstadisticas {
    /// Start of the window, inclusive.
    pub desde: Option<DateTime<Utc>>,
    /// End of the window, exclusive.
    pub hasta: Option<DateTime<Utc>>,
    /// Only tickets of this area.
    pub area: Option<String>,
}

/// A validated command of any operation.
#[derive(Debug, Clone)]
pub enum Peticion {
    /// `crear`.
    Crear(Box<DatosCreacion>),
    /// A mutation on one ticket.
    Ticket(ComandoTicket),
    /// `seguimiento` (v1.2): public, by label and e-mail.
    Seguimiento(Box<DatosSeguimiento>),
    /// `anonimizar` (v1.2, §11).
    Anonimizar(Box<DatosAnonimizacion>),
    /// `exportar` (v1.2, §11).
    Exportar(FiltroExportacion),
    /// `consultar`.
    Consultar {
        /// `ticketLabel`, upper case.
        label: String,
        /// The requester's email.
        email: String,
    },
    /// `detalle`.
    Detalle {
        /// `ticketId`.
        ticket_id: Uuid,
    },
    /// `listar`.
    Listar(FiltroListado),
    /// `estadisticas`.
    Estadisticas(FiltroEstadisticas),
    /// `catalogo`.
    Catalogo,
}

impl Peticion {
    /// A `listar` cursor belongs to its order: one written for the
    /// `pendienteRespuesta` order continues only that order, and the other
    /// way round.
    fn comprobar_cursor(self, l: &mut Lector<'_>) -> Peticion {
        if let Peticion::Listar(f) = &self {
            let pendiente = f.pendiente_respuesta == Some(true);
            let ajeno = matches!(
                (f.despues_de, pendiente),
                (Some(Cursor::Pendiente(..)), false) | (Some(Cursor::Num(_)), true)
            );
            if ajeno {
                l.error("cursor", "debe ser un cursor devuelto por listar con los mismos filtros");
            }
        }
        self
    }
}

/// Validates `body` for `op` at `ahora` (the time the command is applied
/// at: `pausar`'s `hasta` is checked against it), reporting every broken field.
pub fn validar(
    op: Operacion,
    body: &Map<String, Value>,
    reglas: &ReglasSla,
    ahora: DateTime<Utc>,
) -> Result<Peticion, Vec<CampoError>> {
    let mut l = Lector { body, errores: Vec::new(), reglas };
    let peticion = match op {
        Operacion::Crear => {
            let datos = DatosCreacion {
                nombre: l.texto("nombre", 3, 150, true).unwrap_or_default(),
                email: l.email("email").unwrap_or_default(),
                // A placeholder only when `tipo` is broken: the error then refuses the command.
                tipo: l.tipo("tipo", true).unwrap_or(Tipo::Peticion),
                categoria: l.texto("categoria", 2, 100, true).unwrap_or_default(),
                descripcion: l.texto("descripcion", 10, DESCRIPCION_MAX, true).unwrap_or_default(),
                prioridad: l
                    .prioridad("prioridad", true)
                    .unwrap_or_else(|| Prioridad { nombre: String::new(), objetivo: chrono::TimeDelta::zero() }),
                documento: l.texto("documento", 0, 50, false),
                telefono: l.texto("telefono", 0, 30, false),
                tiene_whatsapp: l.booleano("tieneWhatsapp").unwrap_or(false),
                empresa_departamento: l.texto("empresaDepartamento", 0, 150, false),
                subcategoria: l.texto("subcategoria", 0, 100, false),
                asunto: l.texto("asunto", 0, 200, false),
                area_asignada: l.texto("areaAsignada", 0, 100, false).unwrap_or_else(|| "MESA".to_string()),
            };
            Peticion::Crear(Box::new(datos))
        }
        Operacion::Consultar => Peticion::Consultar {
            label: l.texto("label", 1, 50, true).unwrap_or_default().to_uppercase(),
            email: l.texto("email", 1, 254, true).unwrap_or_default(),
        },
        Operacion::Detalle => Peticion::Detalle { ticket_id: l.uuid("ticketId").unwrap_or_default() },
        Operacion::Catalogo => Peticion::Catalogo,
        Operacion::Listar => Peticion::Listar(FiltroListado {
            estado: l.enumerado("estado", |s| s.parse::<Estado>().ok(), "un estado del catálogo"),
            area: l.texto("area", 1, 100, false),
            prioridad: l.prioridad("prioridad", false).map(|p| p.nombre),
            tipo: l.tipo("tipo", false),
            sla_estado: l.enumerado(
                "slaEstado",
                SlaEstado::parse,
                "EN_TIEMPO, POR_VENCER, VENCIDO, PAUSADO, CUMPLIDO o INCUMPLIDO",
            ),
            // PAUSADO too: with `primera_respuesta_termina = "respuesta"` a
            // paused ticket's first-response clock may still be running.
            sla_primera_respuesta: l.enumerado(
                "slaPrimeraRespuesta",
                SlaEstado::parse,
                "EN_TIEMPO, POR_VENCER, VENCIDO, PAUSADO, CUMPLIDO o INCUMPLIDO",
            ),
            limite: l.entero("limite", 1, LIMITE_MAXIMO).unwrap_or(LIMITE_POR_DEFECTO),
            despues_de: l.enumerado("cursor", Cursor::leer, "un cursor devuelto por listar"),
            espera: l.enumerado("espera", Espera::parse, "SOLICITANTE, TERCERO u OTRO"),
            pendiente_respuesta: l.booleano_o_texto("pendienteRespuesta"),
        })
        .comprobar_cursor(&mut l),
        Operacion::Estadisticas => {
            let desde = l.fecha("desde");
            let hasta = l.fecha("hasta");
            if let (Some(d), Some(h)) = (desde, hasta)
                && d >= h
            {
                l.error("hasta", "debe ser posterior a desde");
            }
            Peticion::Estadisticas(FiltroEstadisticas { desde, hasta, area: l.texto("area", 1, 100, false) })
        }
        Operacion::Asignar => ticket(&mut l, op, |l| Mutacion::Asignar {
            area: l.texto("area", 2, 100, false),
            agente: l.texto("agente", 0, 150, false),
        }),
        Operacion::Transferir => {
            ticket(&mut l, op, |l| Mutacion::Transferir { area: l.texto("area", 2, 100, true).unwrap_or_default() })
        }
        Operacion::Reclasificar => ticket(&mut l, op, |l| {
            let m = Mutacion::Reclasificar {
                tipo: l.tipo("tipo", false),
                categoria: l.texto("categoria", 2, 100, false),
                subcategoria: l.texto("subcategoria", 0, 100, false),
                prioridad: l.prioridad("prioridad", false),
            };
            let ninguno = ["tipo", "categoria", "subcategoria", "prioridad"].iter().all(|c| l.presente(c).is_none());
            if ninguno {
                l.errores
                    .push(CampoError::new("tipo", "indique al menos uno de tipo, categoria, subcategoria o prioridad"));
            }
            m
        }),
        Operacion::Pausar => ticket(&mut l, op, |l| {
            let espera = l.enumerado("espera", Espera::parse, "SOLICITANTE, TERCERO u OTRO").unwrap_or(Espera::Otro);
            let hasta = l.fecha("hasta");
            if let Some(problema) = hasta.and_then(|h| problema_de_hasta(h, ahora)) {
                l.error("hasta", problema);
            }
            let al_vencer = l.enumerado("alVencer", AlVencer::parse, "REABRIR o ARCHIVAR").unwrap_or(AlVencer::Reabrir);
            if al_vencer == AlVencer::Archivar && hasta.is_none() && l.presente("hasta").is_none() {
                l.error("hasta", "es obligatorio con alVencer ARCHIVAR");
            }
            Mutacion::Pausar(Pausa { espera, hasta, al_vencer })
        }),
        Operacion::Reabrir => ticket(&mut l, op, |_| Mutacion::Reabrir),
        Operacion::Actualizar => ticket(&mut l, op, |l| Mutacion::Actualizar {
            nota: l.texto("nota", 1, 5000, true).unwrap_or_default(),
            respuesta_cliente: l.texto("respuestaCliente", 0, 5000, false),
        }),
        Operacion::Cancelar => ticket(&mut l, op, |_| Mutacion::Cancelar),
        Operacion::Archivar => ticket(&mut l, op, |_| Mutacion::Archivar),
        Operacion::Responder => ticket(&mut l, op, |l| Mutacion::Responder(l.escrito(true))),
        Operacion::Seguimiento => Peticion::Seguimiento(Box::new(DatosSeguimiento {
            label: l.texto("label", 1, 50, true).unwrap_or_default().to_uppercase(),
            email: l.texto("email", 1, 254, true).unwrap_or_default(),
            escrito: l.escrito(false),
        })),
        Operacion::Anonimizar => {
            // Exactly one of the two: an erasure names whose data it is.
            let email = l.texto("email", 1, 254, false);
            let ticket = l.presente("ticketId").is_some().then(|| l.uuid("ticketId")).flatten();
            let motivo = l.texto("motivo", 1, 500, true).unwrap_or_default();
            let titular = match (email, ticket) {
                (Some(email), None) => Some(Titular::Email(email)),
                (None, Some(id)) => Some(Titular::Ticket(id)),
                (Some(_), Some(_)) => {
                    l.error("ticketId", "indique email o ticketId, no ambos");
                    None
                }
                (None, None) => {
                    if l.presente("email").is_none() && l.presente("ticketId").is_none() {
                        l.error("email", "indique email o ticketId");
                    }
                    None
                }
            };
            Peticion::Anonimizar(Box::new(DatosAnonimizacion {
                titular: titular.unwrap_or(Titular::Email(String::new())),
                motivo,
            }))
        }
        Operacion::Exportar => {
            let email = l.texto("email", 1, 254, true).unwrap_or_default();
            let limite = l.entero("limite", 1, EXPORTAR_MAXIMO).unwrap_or(EXPORTAR_MAXIMO);
            let despues_de = l.enumerado(
                "cursor",
                |s| match Cursor::leer(s) {
                    Some(Cursor::Num(num)) => Some(num),
                    _ => None,
                },
                "un cursor devuelto por exportar",
            );
            Peticion::Exportar(FiltroExportacion { email, limite, despues_de })
        }
    };
    if l.errores.is_empty() { Ok(peticion) } else { Err(l.errores) }
}

/// A mutation of an existing ticket: its `ticketId` and `motivo` (required
/// where the contract says so) are read first, then the operation's own
/// fields (`campos`), so errors come in the body's documented order.
fn ticket(l: &mut Lector<'_>, op: Operacion, campos: impl FnOnce(&mut Lector<'_>) -> Mutacion) -> Peticion {
    let ticket_id = l.uuid("ticketId").unwrap_or_default();
    let motivo_requerido =
        matches!(op, Operacion::Transferir | Operacion::Reclasificar | Operacion::Pausar | Operacion::Cancelar);
    let motivo = l.texto("motivo", 1, 500, motivo_requerido);
    let mutacion = campos(l);
    Peticion::Ticket(ComandoTicket { ticket_id, motivo, mutacion })
}

/// Reads fields from a JSON object, collecting errors instead of stopping.
struct Lector<'a> {
    body: &'a Map<String, Value>,
    errores: Vec<CampoError>,
    reglas: &'a ReglasSla,
}

impl Lector<'_> {
    /// The field's value; `null` and blank text count as absent.
    fn presente(&self, campo: &str) -> Option<&Value> {
        match self.body.get(campo) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => Some(v),
        }
    }

    fn error(&mut self, campo: &str, mensaje: impl Into<String>) {
        self.errores.push(CampoError::new(campo, mensaje));
    }

    /// Trimmed text of `min..=max` characters.
    fn texto(&mut self, campo: &str, min: usize, max: usize, requerido: bool) -> Option<String> {
        let valor = match self.presente(campo) {
            None => {
                if requerido {
                    self.error(campo, "es obligatorio");
                }
                return None;
            }
            Some(Value::String(s)) => s.trim(),
            Some(_) => {
                self.error(campo, "debe ser texto");
                return None;
            }
        };
        if !es_imprimible(valor) {
            self.error(campo, "contiene caracteres de control");
            return None;
        }
        let n = valor.chars().count();
        if n < min || n > max {
            let mensaje = match (min > 1, max < usize::MAX) {
                (true, true) => format!("debe tener entre {min} y {max} caracteres"),
                (true, false) => format!("debe tener al menos {min} caracteres"),
                _ => format!("debe tener como máximo {max} caracteres"),
            };
            self.error(campo, mensaje);
            return None;
        }
        Some(valor.to_string())
    }

    fn email(&mut self, campo: &str) -> Option<String> {
        let valor = self.texto(campo, 3, 254, true)?;
        if es_email(&valor) {
            Some(valor)
        } else {
            self.error(campo, "no es un correo electrónico válido");
            None
        }
    }

    fn tipo(&mut self, campo: &str, requerido: bool) -> Option<Tipo> {
        let valor = self.texto(campo, 1, 50, requerido)?;
        if let Some(tipo) = Tipo::parse(&valor) {
            Some(tipo)
        } else {
            self.error(campo, format!("debe ser uno de: {}", TIPOS.join(", ")));
            None
        }
    }

    fn prioridad(&mut self, campo: &str, requerido: bool) -> Option<Prioridad> {
        let valor = self.texto(campo, 1, 20, requerido)?;
        match self.reglas.prioridad(&valor) {
            Some(p) => Some(p.clone()),
            None => {
                let nombres: Vec<&str> = self.reglas.prioridades().iter().map(|p| p.nombre.as_str()).collect();
                self.error(campo, format!("debe ser una prioridad del catálogo: {}", nombres.join(", ")));
                None
            }
        }
    }

    /// Text that `parse` must accept.
    fn enumerado<T>(&mut self, campo: &str, parse: impl Fn(&str) -> Option<T>, esperado: &str) -> Option<T> {
        let valor = self.texto(campo, 1, 200, false)?;
        let v = parse(&valor);
        if v.is_none() {
            self.error(campo, format!("debe ser {esperado}"));
        }
        v
    }

    /// A message: `texto` (required), `interno` where staff write, `adjuntos`.
    fn escrito(&mut self, con_interno: bool) -> Escrito {
        let texto = self.texto("texto", 1, TEXTO_MAX, true).unwrap_or_default();
        let interno = if con_interno {
            self.booleano("interno").unwrap_or(false)
        } else {
            if self.presente("interno") == Some(&Value::Bool(true)) {
                self.error("interno", "un mensaje del solicitante siempre es público");
            }
            false
        };
        Escrito { texto, interno, adjuntos: self.adjuntos() }
    }

    /// `adjuntos`: at most [`ADJUNTOS_MAX`] references, each field checked
    /// and named by its place (`adjuntos[2].url`).
    fn adjuntos(&mut self) -> Vec<Adjunto> {
        // The body outlives `self`'s borrow: the errors may be written meanwhile.
        let body = self.body;
        let lista = match body.get("adjuntos") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => {
                self.error("adjuntos", "debe ser una lista");
                return Vec::new();
            }
        };
        if lista.len() > ADJUNTOS_MAX {
            self.error("adjuntos", format!("como mucho {ADJUNTOS_MAX} adjuntos"));
            return Vec::new();
        }
        let mut adjuntos = Vec::with_capacity(lista.len());
        for (i, valor) in lista.iter().enumerate() {
            let Value::Object(objeto) = valor else {
                self.error(&format!("adjuntos[{i}]"), "debe ser un objeto");
                continue;
            };
            let mut l = Lector { body: objeto, errores: Vec::new(), reglas: self.reglas };
            let nombre = l.texto("nombre", 1, 200, true);
            if let Some(n) = &nombre
                && n.chars().any(es_control_de_direccion)
            {
                l.error("nombre", "contiene caracteres de control de dirección del texto");
            }
            let url = l.texto("url", 1, 2000, true);
            if let Some(u) = &url
                && !es_url_https(u)
            {
                l.error("url", "debe ser una URL https://");
            }
            let tipo = l.texto("tipo", 1, 100, true);
            if let Some(t) = &tipo
                && !es_tipo_de_medio(t)
            {
                l.error("tipo", "debe ser un tipo de medio, p. ej. image/png");
            }
            let bytes = match l.presente("bytes") {
                Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
                None => {
                    l.error("bytes", "es obligatorio");
                    None
                }
                Some(_) => {
                    l.error("bytes", "debe ser un entero mayor o igual que 0");
                    None
                }
            };
            let sha256 = l.texto("sha256", 64, 64, true).map(|s| s.to_ascii_lowercase());
            if let Some(s) = &sha256
                && !s.bytes().all(|b| b.is_ascii_hexdigit())
            {
                l.error("sha256", "deben ser 64 dígitos hexadecimales");
            }
            let errores = std::mem::take(&mut l.errores);
            if errores.is_empty()
                && let (Some(nombre), Some(url), Some(tipo), Some(bytes), Some(sha256)) =
                    (nombre, url, tipo, bytes, sha256)
            {
                adjuntos.push(Adjunto { nombre, url, tipo, bytes, sha256 });
            }
            self.errores
                .extend(errores.into_iter().map(|e| CampoError { campo: format!("adjuntos[{i}].{}", e.campo), ..e }));
        }
        adjuntos
    }

    fn entero(&mut self, campo: &str, min: i64, max: i64) -> Option<i64> {
        let v = match self.presente(campo) {
            None => return None,
            Some(Value::Number(n)) => n.as_i64(),
            Some(_) => None,
        };
        match v {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(campo, format!("debe ser un entero entre {min} y {max}"));
                None
            }
        }
    }

    /// An RFC 3339 instant.
    fn fecha(&mut self, campo: &str) -> Option<DateTime<Utc>> {
        let valor = self.texto(campo, 1, 64, false)?;
        match DateTime::parse_from_rfc3339(&valor) {
            Ok(t) => Some(t.to_utc()),
            Err(_) => {
                self.error(campo, "debe ser una fecha RFC 3339, p. ej. 2026-03-24T10:15:00Z");
                None
            }
        }
    }

    /// A boolean, or its text (`"true"`, `"false"`, as a URL query carries it).
    fn booleano_o_texto(&mut self, campo: &str) -> Option<bool> {
        match self.presente(campo) {
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Some(false),
            Some(Value::String(_)) => {
                self.error(campo, "debe ser verdadero o falso");
                None
            }
            _ => self.booleano(campo),
        }
    }

    fn booleano(&mut self, campo: &str) -> Option<bool> {
        match self.presente(campo) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(campo, "debe ser verdadero o falso");
                None
            }
        }
    }

    fn uuid(&mut self, campo: &str) -> Option<Uuid> {
        let valor = self.texto(campo, 1, 100, true)?;
        let id = uuid_con_guiones(&valor);
        if id.is_none() {
            self.error(campo, "debe ser un UUID de 36 caracteres con guiones");
        }
        id
    }
}

/// A UUID in its hyphenated 36-character form, in any case (contract §3):
/// An `https://` URL with a host: the only scheme an attachment may name
/// (never fetched, but shown to people who may click it).
fn es_url_https(url: &str) -> bool {
    let Some(resto) = url.get(..8).filter(|p| p.eq_ignore_ascii_case("https://")).map(|_| &url[8..]) else {
        return false;
    };
    let autoridad = resto.split(['/', '?', '#']).next().unwrap_or_default();
    // No userinfo (`https://banco.example@otro.example/` shows one host and
    // opens another), a host with a letter or digit, ASCII only.
    url.is_ascii()
        && !autoridad.contains('@')
        && autoridad.split(':').next().is_some_and(|h| h.chars().any(|c| c.is_ascii_alphanumeric()))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\')
}

/// The Unicode bidirectional controls (U+202A–U+202E, U+2066–U+2069): a
/// file name `factura\u{202E}fdp.exe` reads as `factura` + `exe.pdf`.
fn es_control_de_direccion(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `type/subtype` of RFC 6838's restricted names (no parameters).
fn es_tipo_de_medio(texto: &str) -> bool {
    let nombre = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    matches!(texto.split_once('/'), Some((t, s)) if nombre(t) && nombre(s))
}

/// braced, urn and hyphen-less spellings are refused, so one ticket has
/// exactly one order key.
pub fn uuid_con_guiones(s: &str) -> Option<Uuid> {
    if s.len() != 36 {
        return None;
    }
    Uuid::try_parse(s).ok()
}

/// The `label` of a `seguimiento` body, trimmed and upper case as
/// validation reads it: the key that keeps a requester's follow-ups on one
/// ticket in order. `None` without one.
pub fn label_de_seguimiento(body: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(body).ok()?;
    Some(body.get("label")?.as_str()?.trim().to_uppercase()).filter(|l| !l.is_empty())
}

/// The order key of a command body: the ticket its `ticketId` names, read
/// the way [`validar`] reads it (a JSON object's last `ticketId`, trimmed,
/// hyphenated) without building the rest of the body. `None` when the body
/// is not a JSON object or names no valid ticket. The other values are only
/// skipped, not checked (invalid UTF-8 or an out-of-range number elsewhere
/// still yields the key): such a body is refused by decoding whatever lane
/// it takes, so its lane does not matter (found by `fuzz/clave_de_orden`).
pub fn clave_de_orden(body: &[u8]) -> Option<Uuid> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Clave;
    impl<'de> Visitor<'de> for Clave {
        type Value = Option<Uuid>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut mapa: A) -> Result<Self::Value, A::Error> {
            let mut clave = None;
            while let Some(nombre) = mapa.next_key::<std::borrow::Cow<'de, str>>()? {
                if nombre == "ticketId" {
                    // Later duplicates win, as in a parsed `Value`.
                    clave = Some(mapa.next_value::<Value>()?);
                } else {
                    mapa.next_value::<IgnoredAny>()?;
                }
            }
            Ok(clave.as_ref().and_then(Value::as_str).and_then(|s| uuid_con_guiones(s.trim())))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let clave = de.deserialize_map(Clave).ok()?;
    // Trailing garbage makes the body invalid for validation too.
    de.end().ok()?;
    clave
}

/// A deliberately plain e-mail check: one `@`, a non-empty local part, a
/// dotted domain, no spaces. Deliverability is the mail server's business.
fn es_email(s: &str) -> bool {
    let Some((local, dominio)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !dominio.contains('@')
        && !s.chars().any(char::is_whitespace)
        && dominio.split('.').count() >= 2
        && dominio.split('.').all(|parte| !parte.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::prioridades_por_defecto;
    use serde_json::json;

    #[test]
    fn a_mutation_writes_the_accion_its_operation_names() {
        let todas = [
            Mutacion::Asignar { area: None, agente: None },
            Mutacion::Transferir { area: "TI".into() },
            Mutacion::Reclasificar { tipo: None, categoria: None, subcategoria: None, prioridad: None },
            Mutacion::Pausar(Pausa { espera: Espera::Otro, hasta: None, al_vencer: AlVencer::Reabrir }),
            Mutacion::Reabrir,
            Mutacion::Actualizar { nota: "n".into(), respuesta_cliente: None },
            Mutacion::Cancelar,
            Mutacion::Archivar,
            Mutacion::Responder(Escrito { texto: "t".into(), interno: false, adjuntos: vec![] }),
        ];
        for m in &todas {
            assert_eq!(Some(m.accion()), m.operacion().accion(), "{m:?}");
        }
        // Every ticket mutation of the contract has its variant; `crear`,
        // `seguimiento` and `anonimizar` are no single ticket's (a new
        // ticket; a label; an e-mail or a ticket).
        let cubiertas: Vec<Operacion> = todas.iter().map(Mutacion::operacion).collect();
        let por_id = |o: &Operacion| {
            o.es_mutacion() && !matches!(o, Operacion::Crear | Operacion::Seguimiento | Operacion::Anonimizar)
        };
        for op in Operacion::TODAS.into_iter().filter(por_id) {
            assert!(cubiertas.contains(&op), "{op:?}");
        }
    }

    fn reglas() -> ReglasSla {
        ReglasSla::new(prioridades_por_defecto(), 20, true)
    }

    #[test]
    fn anonimizar_names_exactly_one_holder_and_a_reason() {
        let r = reglas();
        let id = "5f0c2b5e-8a43-4c3e-9d6b-2d7f1c3a9b10";
        let ok =
            validar(Operacion::Anonimizar, &obj(json!({"email": " Ana@x.co ", "motivo": "supresión"})), &r, ahora());
        let Ok(Peticion::Anonimizar(a)) = ok else { panic!("{ok:?}") };
        assert_eq!((a.titular, a.motivo.as_str()), (Titular::Email("Ana@x.co".into()), "supresión"));
        let ok = validar(Operacion::Anonimizar, &obj(json!({"ticketId": id, "motivo": "m"})), &r, ahora());
        assert!(matches!(ok, Ok(Peticion::Anonimizar(a)) if matches!(a.titular, Titular::Ticket(_))));
        let campos = |body: Value| -> Vec<String> {
            match validar(Operacion::Anonimizar, &obj(body), &r, ahora()) {
                Err(c) => c.into_iter().map(|c| c.campo).collect(),
                Ok(p) => panic!("accepted: {p:?}"),
            }
        };
        assert_eq!(campos(json!({"email": "a@x.co", "ticketId": id, "motivo": "m"})), ["ticketId"]);
        assert_eq!(campos(json!({"motivo": "m"})), ["email"]);
        assert_eq!(campos(json!({"email": "a@x.co"})), ["motivo"]);
        assert_eq!(campos(json!({"ticketId": "no-uuid", "motivo": "m"})), ["ticketId"]);
        assert_eq!(campos(json!({"email": "a\u{0}@x.co", "motivo": "m"})), ["email"]);
        assert_eq!(campos(json!({"email": 7, "motivo": "m"})), ["email"]);
        assert_eq!(campos(json!({"email": "a".repeat(255), "motivo": "m"})), ["email"]);
    }

    #[test]
    fn exportar_pages_by_a_cursor_of_its_own() {
        let r = reglas();
        let ok = validar(Operacion::Exportar, &obj(json!({"email": "a@x.co"})), &r, ahora());
        assert!(matches!(ok, Ok(Peticion::Exportar(FiltroExportacion { limite: 100, despues_de: None, .. }))));
        let cursor = Cursor::Num(42).texto();
        let ok =
            validar(Operacion::Exportar, &obj(json!({"email": "a@x.co", "cursor": cursor, "limite": 5})), &r, ahora());
        assert!(matches!(ok, Ok(Peticion::Exportar(FiltroExportacion { limite: 5, despues_de: Some(42), .. }))));
        let pendiente = Cursor::Pendiente(chrono::Utc::now(), 3).texto();
        for body in [
            json!({}),
            json!({"email": "a@x.co", "limite": 101}),
            json!({"email": "a@x.co", "limite": 0}),
            json!({"email": "a@x.co", "cursor": pendiente}),
            json!({"email": "a@x.co", "cursor": "v1.zz"}),
        ] {
            assert!(validar(Operacion::Exportar, &obj(body.clone()), &r, ahora()).is_err(), "{body}");
        }
    }

    /// The commands' time in these tests.
    fn ahora() -> DateTime<Utc> {
        "2026-12-08T10:00:00Z".parse().unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn campos(r: Result<Peticion, Vec<CampoError>>) -> Vec<String> {
        let mut c: Vec<String> = r.unwrap_err().into_iter().map(|e| e.campo).collect();
        c.sort();
        c
    }

    #[test]
    fn crear_reports_every_broken_field_at_once() {
        let body = obj(json!({"nombre": "A", "email": "no-es-correo", "tipo": "OTRO",
            "categoria": "S", "descripcion": "corta", "prioridad": "URGENTE", "tieneWhatsapp": "si"}));
        assert_eq!(
            campos(validar(Operacion::Crear, &body, &reglas(), ahora())),
            ["categoria", "descripcion", "email", "nombre", "prioridad", "tieneWhatsapp", "tipo"]
        );
    }

    /// Issue #26, gap 4: a bad `hasta` is a field error beside the others,
    /// decided from the body and the command's time, before any state check.
    #[test]
    fn pausar_reports_a_bad_hasta_beside_the_other_fields() {
        let p = reglas();
        let id = Uuid::new_v4().to_string();
        let pausar = |hasta: &str| {
            let body = obj(json!({"ticketId": id, "motivo": "x".repeat(501), "hasta": hasta}));
            validar(Operacion::Pausar, &body, &p, ahora())
        };
        // Now is 2026-12-08T10:00:00Z.
        assert_eq!(campos(pausar("2026-12-08T09:59:59Z")), ["hasta", "motivo"], "in the past");
        assert_eq!(campos(pausar("2026-12-08T10:00:00Z")), ["hasta", "motivo"], "now is not the future");
        assert_eq!(campos(pausar("2027-03-08T10:00:01Z")), ["hasta", "motivo"], "over 90 days ahead");
        assert_eq!(campos(pausar("2027-03-08T05:00:00-05:00")), ["motivo"], "90 days ahead, any offset");
    }

    #[test]
    fn crear_trims_defaults_and_normalises() {
        let body = obj(json!({"nombre": "  Ana García ", "email": "ana@empresa.com", "tipo": "incidente",
            "categoria": "Sistemas", "descripcion": "Desde esta mañana no puedo", "prioridad": "alta",
            "asunto": "   "}));
        let Peticion::Crear(d) = validar(Operacion::Crear, &body, &reglas(), ahora()).unwrap() else { panic!() };
        assert_eq!(d.nombre, "Ana García");
        assert_eq!(d.tipo, crate::domain::estado::Tipo::Incidente);
        assert_eq!(d.prioridad.nombre, "ALTA");
        assert_eq!(d.area_asignada, "MESA");
        assert_eq!(d.asunto, None);
        assert!(!d.tiene_whatsapp);
    }

    #[test]
    fn mutations_require_their_fields() {
        let p = reglas();
        assert_eq!(
            campos(validar(Operacion::Transferir, &obj(json!({})), &p, ahora())),
            ["area", "motivo", "ticketId"]
        );
        assert_eq!(
            campos(validar(Operacion::Actualizar, &obj(json!({"ticketId": "x"})), &p, ahora())),
            ["nota", "ticketId"]
        );
        let id = Uuid::new_v4().to_string();
        assert_eq!(
            campos(validar(Operacion::Reclasificar, &obj(json!({"ticketId": id, "motivo": "m"})), &p, ahora())),
            ["tipo"]
        );
        assert!(validar(Operacion::Reabrir, &obj(json!({"ticketId": id})), &p, ahora()).is_ok());
        assert_eq!(
            campos(validar(Operacion::Pausar, &obj(json!({"ticketId": id, "motivo": "x".repeat(501)})), &p, ahora())),
            ["motivo"]
        );
    }

    #[test]
    fn control_characters_are_refused_naming_the_field() {
        let p = reglas();
        let id = Uuid::new_v4().to_string();
        // Issue #11, item 4: a NUL in a nota reached Postgres and was dead-lettered.
        let body = obj(json!({"ticketId": id, "nota": "avance\u{0}oculto", "respuestaCliente": "ok\u{1b}[2J"}));
        assert_eq!(campos(validar(Operacion::Actualizar, &body, &p, ahora())), ["nota", "respuestaCliente"]);
        let body = obj(json!({"nombre": "Ana\u{7}", "email": "ana@empresa.com", "tipo": "INCIDENTE",
            "categoria": "Soporte", "descripcion": "Línea uno\r\n\tlínea dos", "prioridad": "ALTA",
            "asunto": "\u{0}"}));
        assert_eq!(
            campos(validar(Operacion::Crear, &body, &p, ahora())),
            ["asunto", "nombre"],
            "tab and line breaks pass"
        );
        let consulta = obj(json!({"label": "TKT-2026-00001\u{0}", "email": "ana@empresa.com"}));
        assert_eq!(campos(validar(Operacion::Consultar, &consulta, &p, ahora())), ["label"]);
    }

    #[test]
    fn descripcion_is_bounded() {
        let p = reglas();
        let crear = |descripcion: String| {
            obj(json!({"nombre": "Ana", "email": "ana@empresa.com", "tipo": "INCIDENTE", "categoria": "Soporte",
                "descripcion": descripcion, "prioridad": "ALTA"}))
        };
        assert!(
            validar(Operacion::Crear, &crear("ñ".repeat(DESCRIPCION_MAX)), &p, ahora()).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            campos(validar(Operacion::Crear, &crear("x".repeat(DESCRIPCION_MAX + 1)), &p, ahora())),
            ["descripcion"]
        );
    }

    #[test]
    fn ticket_id_is_accepted_only_hyphenated() {
        let p = reglas();
        let id = Uuid::new_v4();
        let detalle = |t: String| validar(Operacion::Detalle, &obj(json!({"ticketId": t})), &p, ahora());
        for ok in [id.to_string(), id.to_string().to_uppercase(), format!("  {id} ")] {
            let Ok(Peticion::Detalle { ticket_id }) = detalle(ok.clone()) else { panic!("{ok}") };
            assert_eq!(ticket_id, id);
        }
        for malo in [id.simple().to_string(), id.braced().to_string(), id.urn().to_string(), format!("{id}0")] {
            assert_eq!(campos(detalle(malo.clone())), ["ticketId"], "{malo}");
        }
    }

    #[test]
    fn listar_filters_and_cursor() {
        let p = reglas();
        let body = obj(json!({"estado": "asignado", "prioridad": "alta", "slaEstado": "VENCIDO", "limite": 10,
            "cursor": Cursor::Num(42).texto()}));
        let Peticion::Listar(f) = validar(Operacion::Listar, &body, &p, ahora()).unwrap() else { panic!() };
        assert_eq!(f.estado, Some(Estado::Asignado));
        assert_eq!(f.prioridad.as_deref(), Some("ALTA"));
        assert_eq!(f.sla_estado, Some(SlaEstado::Vencido));
        assert_eq!((f.limite, f.despues_de), (10, Some(Cursor::Num(42))));
        let Peticion::Listar(f) = validar(Operacion::Listar, &obj(json!({})), &p, ahora()).unwrap() else { panic!() };
        assert_eq!(f.limite, LIMITE_POR_DEFECTO);
        let malo = obj(json!({"estado": "ABIERTO", "limite": 500, "cursor": "zzz", "tipo": "X", "slaEstado": 3}));
        assert_eq!(
            campos(validar(Operacion::Listar, &malo, &p, ahora())),
            ["cursor", "estado", "limite", "slaEstado", "tipo"]
        );
        assert_eq!(campos(validar(Operacion::Listar, &obj(json!({"limite": 0})), &p, ahora())), ["limite"]);
    }

    #[test]
    fn estadisticas_window() {
        let p = reglas();
        let ok = obj(json!({"desde": "2026-01-01T00:00:00Z", "hasta": "2026-02-01T00:00:00-05:00"}));
        assert!(validar(Operacion::Estadisticas, &ok, &p, ahora()).is_ok());
        let al_reves = obj(json!({"desde": "2026-02-01T00:00:00Z", "hasta": "2026-01-01T00:00:00Z"}));
        assert_eq!(campos(validar(Operacion::Estadisticas, &al_reves, &p, ahora())), ["hasta"]);
        assert_eq!(campos(validar(Operacion::Estadisticas, &obj(json!({"desde": "ayer"})), &p, ahora())), ["desde"]);
    }

    #[test]
    fn emails() {
        assert!(es_email("ana@empresa.com"));
        assert!(!es_email("ana@empresa"));
        assert!(!es_email("@empresa.com"));
        assert!(!es_email("ana @empresa.com"));
        assert!(!es_email("ana@@empresa.com"));
    }
}
