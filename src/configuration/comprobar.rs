//! The checks of the settings as a whole: every semantic problem at once.

use super::*;

impl Settings {
    /// Every semantic problem, as (dotted key, message).
    pub(super) fn problemas(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut si = |cond: bool, clave: &str, mensaje: &str| {
            if cond {
                p.push((clave.to_string(), mensaje.to_string()));
            }
        };
        let url_db = self.database.url.expose_secret();
        si(
            !(url_db.starts_with("postgres://") || url_db.starts_with("postgresql://")),
            "database.url",
            "se espera una URL postgres:// o postgresql://",
        );
        si(!(1..=1000).contains(&self.database.max_connections), "database.max_connections", "entre 1 y 1000");
        si(
            self.amqp.url.expose_secret().split(',').any(|u| {
                let u = u.trim();
                !(u.starts_with("amqp://") || u.starts_with("amqps://"))
            }),
            "amqp.url",
            "se esperan URLs amqp:// o amqps://, separadas por comas",
        );
        si(self.amqp.prefetch == 0, "amqp.prefetch", "debe ser mayor que 0");
        si(
            self.amqp.max_cuerpo_bytes == 0 || self.amqp.max_cuerpo_bytes > CUERPO_MAX_BYTES,
            "amqp.max_cuerpo_bytes",
            "debe estar entre 1 y 134217728 (el máximo de RabbitMQ)",
        );
        let prefijo = &self.topology.prefix;
        si(
            prefijo.is_empty()
                || prefijo.len() > 100
                || !prefijo.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "topology.prefix",
            "de 1 a 100 caracteres: letras, dígitos, '-', '_' o '.'",
        );
        si(self.topology.delivery_limit == 0, "topology.delivery_limit", "debe ser mayor que 0");
        si(
            self.auth.jwt_secret.as_ref().is_some_and(|s| s.expose_secret().len() < JWT_SECRET_MIN_BYTES),
            "auth.jwt_secret",
            "el secreto HS256 debe tener al menos 32 bytes",
        );
        si(
            self.auth.secreto_autoridad.as_ref().is_some_and(|s| s.expose_secret().len() < JWT_SECRET_MIN_BYTES),
            "auth.secreto_autoridad",
            "el secreto debe tener al menos 32 bytes",
        );
        si(
            self.auth.jwks_url.as_ref().is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))),
            "auth.jwks_url",
            "se espera una URL https:// (o http://)",
        );
        si(
            self.auth.jwks_file.as_ref().is_some_and(|f| f.as_os_str().is_empty()),
            "auth.jwks_file",
            "no puede estar vacío",
        );
        si(self.auth.issuer.as_ref().is_some_and(|i| i.trim().is_empty()), "auth.issuer", "no puede estar vacío");
        si(self.auth.audience.iter().any(|a| a.trim().is_empty()), "auth.audience", "un valor vacío");
        for (clave, ruta) in [
            ("auth.claims.rol", &self.auth.claims.rol),
            ("auth.claims.area", &self.auth.claims.area),
            ("auth.claims.nombre", &self.auth.claims.nombre),
        ] {
            si(ruta.split('.').any(str::is_empty), clave, "ruta de claim vacía o con un segmento vacío");
        }
        si(self.http.host.trim().is_empty(), "http.host", "no puede estar vacío");
        si(
            self.telemetria.otlp_endpoint.as_ref().is_some_and(|u| {
                let u = u.trim();
                let resto = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
                resto.is_none_or(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()))
            }),
            "telemetria.otlp_endpoint",
            "se espera una URL http:// o https:// (p. ej. http://jaeger:4318)",
        );
        si(!(1..=100_000).contains(&self.scheduler.lote), "scheduler.lote", "entre 1 y 100000");
        si(!(1..=256).contains(&self.worker.lanes), "worker.lanes", "entre 1 y 256");
        si(!(1..=10_000).contains(&self.worker.lote), "worker.lote", "entre 1 y 10000");
        si(self.worker.shutdown_grace > HORA, "worker.shutdown_grace", "una hora como mucho");
        si(self.worker.juntar > JUNTAR_MAX, "worker.juntar", "100ms como mucho");
        si(self.outbox.juntar > JUNTAR_MAX, "outbox.juntar", "100ms como mucho");
        si(!(1..=10_000).contains(&self.outbox.batch), "outbox.batch", "entre 1 y 10000");
        si(
            self.outbox.poll_interval.is_zero() || self.outbox.poll_interval > HORA,
            "outbox.poll_interval",
            "mayor que cero y una hora como mucho",
        );
        // Retention is subtracted from the current date: bounded, it cannot overflow it.
        for (clave, d) in
            [("retencion.eventos", self.retencion.eventos), ("retencion.comandos", self.retencion.comandos)]
        {
            si(d < MINUTO || d > RETENCION_MAX, clave, "entre 1 minuto y 10 años (3650 días)");
        }
        if let Some(d) = self.retencion.anonimizar_cerrados {
            si(
                d < MINUTO || d > RETENCION_MAX,
                "retencion.anonimizar_cerrados",
                "entre 1 minuto y 10 años (3650 días)",
            );
        }
        p.extend(self.gateway.problemas());
        p
    }
}
