//! The conversation between requester and desk (contract §10): messages,
//! their visibility and attachment references, and the waits a pause may
//! carry — pure, time passed in.

use super::estado::RolActor;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// Longest message text, in characters.
pub const TEXTO_MAX: usize = 5000;
/// Most attachment references on one message.
pub const ADJUNTOS_MAX: usize = 10;
/// Longest `hasta` ahead of the command, in days.
pub const HASTA_MAX_DIAS: i64 = 90;
/// Most messages a reply shows (`detalle`, `consultar`): the latest ones,
/// the older ones counted in `mensajesOmitidos`. A conversation grows
/// without bound, a broker message does not: 200 of the largest messages
/// (5000 characters, at most 4 bytes each in UTF-8, and 10 references of
/// about 2.4 kB) stay under 9 MB, below RabbitMQ 4's default 16 MiB.
pub const MENSAJES_POR_RESPUESTA: usize = 200;

/// Who may read a message.
// The same enum describes the documents' schemas, as `Estado` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibilidad {
    /// `PUBLICO`: the requester sees it (`consultar`, notifications).
    Publico,
    /// `INTERNO`: staff only, never shown to the requester.
    Interno,
}

impl Visibilidad {
    /// Both, in the contract's order.
    pub const TODAS: [Visibilidad; 2] = [Visibilidad::Publico, Visibilidad::Interno];

    /// The contract's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibilidad::Publico => "PUBLICO",
            Visibilidad::Interno => "INTERNO",
        }
    }

    /// Reads the contract's text back (a stored row).
    pub fn parse(s: &str) -> Option<Visibilidad> {
        Visibilidad::TODAS.into_iter().find(|v| v.as_str() == s)
    }
}

/// A reference to a file kept in the upstream's own storage: shown, never
/// fetched (a claim check).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjunto {
    /// File name, 1–200 characters.
    pub nombre: String,
    /// Where it lives: `https://`, at most 2000 characters.
    pub url: String,
    /// Its media type (`image/png`), at most 100 characters.
    pub tipo: String,
    /// Its size.
    pub bytes: u64,
    /// SHA-256 of its content, 64 lower-case hex digits.
    pub sha256: String,
}

/// A message as a command writes it: text and attachment references
/// (`responder`, `seguimiento`).
#[derive(Debug, Clone, PartialEq)]
pub struct Escrito {
    /// The text, 1–5000 characters, printable.
    pub texto: String,
    /// Staff only (`interno`); a requester's message is always public.
    pub interno: bool,
    /// Attachment references, at most 10, each validated.
    pub adjuntos: Vec<Adjunto>,
}

impl Escrito {
    /// The message it becomes, by `autor` at `fecha`: INTERNO only when
    /// staff asked for it.
    pub fn mensaje(
        &self,
        uuid: Uuid,
        fecha: DateTime<Utc>,
        autor_nombre: &str,
        autor_rol: RolActor,
    ) -> MensajeConversacion {
        let interno = self.interno && matches!(autor_rol, RolActor::Staff(_));
        MensajeConversacion {
            uuid,
            fecha,
            autor_nombre: autor_nombre.to_string(),
            autor_rol,
            visibilidad: if interno { Visibilidad::Interno } else { Visibilidad::Publico },
            texto: self.texto.clone(),
            adjuntos: self.adjuntos.clone(),
        }
    }
}

/// One message of a ticket's conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct MensajeConversacion {
    /// `id`: the message's identity, `mensajeId` in replies.
    pub uuid: Uuid,
    /// When it was written.
    pub fecha: DateTime<Utc>,
    /// Its author's display name.
    pub autor_nombre: String,
    /// Its author's role: USUARIO (the requester) or staff.
    pub autor_rol: RolActor,
    /// Who may read it.
    pub visibilidad: Visibilidad,
    /// The text, 1–5000 characters, printable.
    pub texto: String,
    /// Attachment references, at most 10.
    pub adjuntos: Vec<Adjunto>,
}

impl MensajeConversacion {
    /// Whether the requester may see it.
    pub fn es_publico(&self) -> bool {
        self.visibilidad == Visibilidad::Publico
    }
}

/// What a paused ticket waits for (`espera`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Espera {
    /// `SOLICITANTE`: the requester; their `seguimiento` ends the wait.
    Solicitante,
    /// `TERCERO`: a third party.
    Tercero,
    /// `OTRO`: anything else (the default).
    Otro,
}

impl Espera {
    /// Every value, in the contract's order (`catalogo`).
    pub const TODAS: [Espera; 3] = [Espera::Solicitante, Espera::Tercero, Espera::Otro];

    /// The contract's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Espera::Solicitante => "SOLICITANTE",
            Espera::Tercero => "TERCERO",
            Espera::Otro => "OTRO",
        }
    }

    /// The value named `s`, in any case.
    pub fn parse(s: &str) -> Option<Espera> {
        Espera::TODAS.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(s))
    }
}

/// What the end of a wait by its `hasta` does (`alVencer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlVencer {
    /// `REABRIR`: a reminder: the ticket is reopened (the default).
    Reabrir,
    /// `ARCHIVAR`: the wait closes the ticket: reopened, then archived.
    Archivar,
}

impl AlVencer {
    /// Every value, in the contract's order (`catalogo`).
    pub const TODOS: [AlVencer; 2] = [AlVencer::Reabrir, AlVencer::Archivar];

    /// The contract's text.
    pub fn as_str(self) -> &'static str {
        match self {
            AlVencer::Reabrir => "REABRIR",
            AlVencer::Archivar => "ARCHIVAR",
        }
    }

    /// The value named `s`, in any case.
    pub fn parse(s: &str) -> Option<AlVencer> {
        AlVencer::TODOS.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// A paused ticket's wait: what for, until when, and what its end does.
/// `ARCHIVAR` always has a `hasta` (validation refuses it otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pausa {
    /// What it waits for.
    pub espera: Espera,
    /// When the wait ends by itself; none: only a command ends it.
    pub hasta: Option<DateTime<Utc>>,
    /// What the end by `hasta` does.
    pub al_vencer: AlVencer,
}

impl Pausa {
    /// Whether a `seguimiento` of the requester ends this wait.
    pub fn termina_con_seguimiento(&self) -> bool {
        self.espera == Espera::Solicitante
    }

    /// Whether the wait has run out at `ahora`.
    pub fn vencida(&self, ahora: DateTime<Utc>) -> bool {
        self.hasta.is_some_and(|h| h <= ahora)
    }
}

/// Why a `hasta` is refused at `ahora`, if it is: it must lie in the future
/// and at most [`HASTA_MAX_DIAS`] ahead.
pub fn problema_de_hasta(hasta: DateTime<Utc>, ahora: DateTime<Utc>) -> Option<&'static str> {
    if hasta <= ahora {
        Some("debe ser una fecha futura")
    } else if hasta - ahora > TimeDelta::days(HASTA_MAX_DIAS) {
        Some("como mucho 90 días en el futuro")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn hasta_lies_in_the_future_and_at_most_ninety_days_ahead() {
        let ahora = t("2026-12-07T10:00:00Z");
        assert_eq!(problema_de_hasta(ahora, ahora), Some("debe ser una fecha futura"));
        assert_eq!(problema_de_hasta(t("2026-12-07T09:59:59Z"), ahora), Some("debe ser una fecha futura"));
        assert_eq!(problema_de_hasta(t("2026-12-07T10:00:01Z"), ahora), None);
        assert_eq!(problema_de_hasta(ahora + TimeDelta::days(90), ahora), None);
        assert_eq!(
            problema_de_hasta(ahora + TimeDelta::days(90) + TimeDelta::seconds(1), ahora),
            Some("como mucho 90 días en el futuro")
        );
    }

    #[test]
    fn only_a_wait_for_the_requester_ends_with_their_follow_up_and_only_hasta_makes_it_run_out() {
        let ahora = t("2026-12-07T10:00:00Z");
        for espera in Espera::TODAS {
            let p = Pausa { espera, hasta: None, al_vencer: AlVencer::Reabrir };
            assert_eq!(p.termina_con_seguimiento(), espera == Espera::Solicitante);
            assert!(!p.vencida(ahora + TimeDelta::days(1000)), "no hasta: never runs out");
        }
        let p = Pausa { espera: Espera::Tercero, hasta: Some(ahora), al_vencer: AlVencer::Archivar };
        assert!(!p.vencida(ahora - TimeDelta::milliseconds(1)));
        assert!(p.vencida(ahora));
    }

    #[test]
    fn texts_read_back_in_any_case() {
        for e in Espera::TODAS {
            assert_eq!(Espera::parse(&e.as_str().to_lowercase()), Some(e));
        }
        for a in AlVencer::TODOS {
            assert_eq!(AlVencer::parse(&a.as_str().to_lowercase()), Some(a));
        }
        for v in Visibilidad::TODAS {
            assert_eq!(Visibilidad::parse(v.as_str()), Some(v));
        }
        assert_eq!(Espera::parse("NADIE"), None);
        assert_eq!(AlVencer::parse(""), None);
    }
}
