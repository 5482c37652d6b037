-- Tickets, their history, processed commands (idempotency) and the event outbox.

CREATE SEQUENCE ticket_num_seq AS BIGINT START 1;

CREATE TABLE tickets (
    uuid                   UUID PRIMARY KEY,
    num                    BIGINT NOT NULL UNIQUE,
    label                  TEXT NOT NULL UNIQUE,
    solicitante_nombre     TEXT NOT NULL,
    solicitante_email      TEXT NOT NULL,
    solicitante_telefono   TEXT,
    tiene_whatsapp         BOOLEAN NOT NULL DEFAULT FALSE,
    documento              TEXT,
    empresa_departamento   TEXT,
    tipo                   TEXT NOT NULL,
    categoria              TEXT NOT NULL,
    subcategoria           TEXT,
    asunto                 TEXT,
    descripcion            TEXT NOT NULL,
    respuesta_cliente      TEXT,
    area_asignada          TEXT NOT NULL,
    agente_asignado        TEXT,
    prioridad              TEXT NOT NULL,
    estado                 TEXT NOT NULL CHECK (estado IN ('NUEVO', 'ASIGNADO', 'PAUSADO', 'TRANSFERIDO',
                               'RECLASIFICADO', 'ACTUALIZADO', 'CANCELADO', 'ARCHIVADO')),
    sla_objetivo_ms        BIGINT NOT NULL CHECK (sla_objetivo_ms > 0),
    fecha_limite_sla       TIMESTAMPTZ NOT NULL,
    pausado_desde          TIMESTAMPTZ,
    pausa_acumulada_ms     BIGINT NOT NULL DEFAULT 0,
    sla_final              TEXT CHECK (sla_final IN ('CUMPLIDO', 'INCUMPLIDO')),
    creado_en              TIMESTAMPTZ NOT NULL,
    actualizado_en         TIMESTAMPTZ NOT NULL,
    primera_asignacion_en  TIMESTAMPTZ,
    cerrado_en             TIMESTAMPTZ,
    version                BIGINT NOT NULL
);

-- Open tickets by deadline: what the SLA scan walks.
CREATE INDEX tickets_abiertos_por_limite ON tickets (fecha_limite_sla) WHERE cerrado_en IS NULL;

CREATE TABLE historial (
    id                 BIGSERIAL PRIMARY KEY,
    ticket_uuid        UUID NOT NULL REFERENCES tickets (uuid),
    fecha              TIMESTAMPTZ NOT NULL,
    accion             TEXT NOT NULL,
    motivo             TEXT,
    actor_id           TEXT,
    actor_nombre       TEXT NOT NULL,
    actor_rol          TEXT NOT NULL,
    estado_antes       TEXT,
    estado_despues     TEXT NOT NULL,
    prioridad_antes    TEXT,
    prioridad_despues  TEXT,
    area_antes         TEXT,
    area_despues       TEXT,
    comando_id         TEXT
);

CREATE INDEX historial_por_ticket ON historial (ticket_uuid, id);

-- One row per applied or refused mutation: the idempotency record.
CREATE TABLE comandos (
    message_id    TEXT PRIMARY KEY,
    operacion     TEXT NOT NULL,
    ticket_uuid   UUID,
    respuesta     JSONB NOT NULL,
    procesado_en  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX comandos_por_fecha ON comandos (procesado_en);

-- Transactional outbox: written with the change, published by the relay.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    evento_id     UUID NOT NULL UNIQUE,
    tipo          TEXT NOT NULL,
    ticket_uuid   UUID,
    cuerpo        JSONB NOT NULL,
    traceparent   TEXT,
    creado_en     TIMESTAMPTZ NOT NULL DEFAULT now(),
    publicado_en  TIMESTAMPTZ
);

CREATE INDEX outbox_pendientes ON outbox (id) WHERE publicado_en IS NULL;
