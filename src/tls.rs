//! The process's one TLS crypto provider. reqwest is built without one of its
//! own (`rustls-no-provider`) so the binary carries one crypto library only:
//! ring, the provider lapin already uses. Every HTTP client — the JWKS
//! fetcher, the OTLP exporter, the tests' and the benchmark's — goes through
//! here.

/// Installs ring as the process-wide rustls provider; later calls are no-ops.
pub fn instalar_proveedor() {
    // Err only when a provider is installed already: the same one, by us.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client builder whose TLS uses [`instalar_proveedor`]'s provider.
pub fn cliente_http() -> reqwest::ClientBuilder {
    instalar_proveedor();
    reqwest::Client::builder()
}
