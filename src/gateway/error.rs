//! What the gateway itself answers (never the worker's refusals, which pass
//! through as they came): each variant has its status, its code and the §4
//! error body `{"error": {"codigo", "http", "mensaje", "campos"}}`.

use super::esquemas::{CuerpoError, DetalleError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A request the gateway answers without a reply from the worker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorGateway {
    /// Malformed JSON, a body that is not an object, a bad `ticketId`,
    /// `Idempotency-Key` or query: 400, nothing published.
    #[error("{0}")]
    SolicitudInvalida(String),
    /// No such route: 404.
    #[error("no existe la ruta")]
    RutaNoEncontrada,
    /// The route exists, not with this method: 405.
    #[error("método no permitido en esta ruta")]
    MetodoNoPermitido,
    /// The body is over the limit: 413.
    #[error("el cuerpo supera {0} bytes")]
    CuerpoDemasiadoGrande(usize),
    /// The request head, or a value of it carried into the command
    /// (`Authorization`), is over its limit: 431, nothing published.
    #[error("{0}")]
    CabecerasDemasiadoGrandes(String),
    /// The body did not arrive within `gateway.tiempo_cuerpo`: 408, and the
    /// connection closes.
    #[error("el cuerpo no llegó completo en {0} s")]
    CuerpoIncompleto(u64),
    /// A POST body that is not `application/json`: 415.
    #[error("el cuerpo debe ser application/json")]
    TipoNoSoportado,
    /// The client went over the public routes' limit: 429, retry after this many seconds.
    #[error("demasiadas solicitudes: reintente en {0} s")]
    DemasiadasSolicitudes(u64),
    /// The broker is unreachable: 503.
    #[error("el servicio no está disponible: reintente con la misma Idempotency-Key")]
    NoDisponible,
    /// No reply in time: 504; the command may still be applied.
    #[error("no llegó respuesta a tiempo: el comando puede aplicarse aún; reintente con la misma Idempotency-Key")]
    TiempoAgotado,
    /// The worker's reply could not be read: 502.
    #[error("la respuesta del worker no es válida")]
    RespuestaInvalida,
}

impl ErrorGateway {
    /// The HTTP status.
    pub fn estado(&self) -> StatusCode {
        match self {
            ErrorGateway::SolicitudInvalida(_) => StatusCode::BAD_REQUEST,
            ErrorGateway::RutaNoEncontrada => StatusCode::NOT_FOUND,
            ErrorGateway::MetodoNoPermitido => StatusCode::METHOD_NOT_ALLOWED,
            ErrorGateway::CuerpoDemasiadoGrande(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorGateway::TipoNoSoportado => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorGateway::CabecerasDemasiadoGrandes(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorGateway::CuerpoIncompleto(_) => StatusCode::REQUEST_TIMEOUT,
            ErrorGateway::DemasiadasSolicitudes(_) => StatusCode::TOO_MANY_REQUESTS,
            ErrorGateway::NoDisponible => StatusCode::SERVICE_UNAVAILABLE,
            ErrorGateway::TiempoAgotado => StatusCode::GATEWAY_TIMEOUT,
            ErrorGateway::RespuestaInvalida => StatusCode::BAD_GATEWAY,
        }
    }

    /// The code, as §4 and §8 write it (the ones §4 has no name for are the gateway's).
    pub fn codigo(&self) -> &'static str {
        match self {
            ErrorGateway::SolicitudInvalida(_) => "SOLICITUD_INVALIDA",
            ErrorGateway::RutaNoEncontrada => "NO_ENCONTRADO",
            ErrorGateway::MetodoNoPermitido => "METODO_NO_PERMITIDO",
            ErrorGateway::CuerpoDemasiadoGrande(_) => "CUERPO_DEMASIADO_GRANDE",
            ErrorGateway::TipoNoSoportado => "TIPO_NO_SOPORTADO",
            ErrorGateway::CabecerasDemasiadoGrandes(_) => "CABECERAS_DEMASIADO_GRANDES",
            ErrorGateway::CuerpoIncompleto(_) => "SOLICITUD_INCOMPLETA",
            ErrorGateway::DemasiadasSolicitudes(_) => "DEMASIADAS_SOLICITUDES",
            ErrorGateway::NoDisponible => "NO_DISPONIBLE",
            ErrorGateway::TiempoAgotado => "TIEMPO_AGOTADO",
            ErrorGateway::RespuestaInvalida => "RESPUESTA_INVALIDA",
        }
    }

    /// The body `{"error": {...}}`.
    pub fn cuerpo(&self) -> serde_json::Value {
        let error = DetalleError {
            codigo: self.codigo(),
            http: self.estado().as_u16(),
            mensaje: self.to_string(),
            campos: &[],
            estado: None,
            operacion: None,
        };
        json!(CuerpoError { error })
    }
}

impl IntoResponse for ErrorGateway {
    fn into_response(self) -> Response {
        let mut r = (self.estado(), axum::Json(self.cuerpo())).into_response();
        match self {
            ErrorGateway::DemasiadasSolicitudes(segundos) => {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(segundos));
            }
            // The rest of the body may still be on its way: the connection
            // cannot carry another request.
            ErrorGateway::CuerpoIncompleto(_) => {
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_has_the_contract_shape_and_its_status() {
        for e in [
            ErrorGateway::SolicitudInvalida("x".into()),
            ErrorGateway::RutaNoEncontrada,
            ErrorGateway::MetodoNoPermitido,
            ErrorGateway::CuerpoDemasiadoGrande(65536),
            ErrorGateway::TipoNoSoportado,
            ErrorGateway::CabecerasDemasiadoGrandes("x".into()),
            ErrorGateway::CuerpoIncompleto(10),
            ErrorGateway::DemasiadasSolicitudes(3),
            ErrorGateway::NoDisponible,
            ErrorGateway::TiempoAgotado,
            ErrorGateway::RespuestaInvalida,
        ] {
            let c = e.cuerpo();
            assert_eq!(c["error"]["http"], e.estado().as_u16());
            assert_eq!(c["error"]["codigo"], e.codigo());
            assert!(c["error"]["campos"].as_array().is_some_and(Vec::is_empty));
            assert!(!c["error"]["mensaje"].as_str().unwrap_or_default().is_empty());
        }
        let r = ErrorGateway::DemasiadasSolicitudes(7).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}
