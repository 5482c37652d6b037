-- v1.2 (contract §10): the conversation between requester and desk, and
-- waits that end by themselves. Nullable columns without defaults on
-- `tickets`: no table rewrite, so upgrading a large table is quick.

-- One row per message of a ticket's conversation, oldest first by `id`.
-- `adjuntos` are references (a claim check), never content.
CREATE TABLE mensajes (
    id            BIGSERIAL PRIMARY KEY,
    uuid          UUID NOT NULL UNIQUE,
    ticket_uuid   UUID NOT NULL REFERENCES tickets (uuid),
    fecha         TIMESTAMPTZ NOT NULL,
    autor_nombre  TEXT NOT NULL,
    autor_rol     TEXT NOT NULL CHECK (autor_rol IN ('USUARIO', 'ADMIN', 'MESA', 'AREA', 'SISTEMA')),
    visibilidad   TEXT NOT NULL CHECK (visibilidad IN ('PUBLICO', 'INTERNO')),
    texto         TEXT NOT NULL,
    adjuntos      JSONB NOT NULL DEFAULT '[]'
);

CREATE INDEX mensajes_por_ticket ON mensajes (ticket_uuid, id);

-- The wait of a paused ticket: what it waits for, until when, and what its
-- end does. All NULL unless PAUSADO. `pendiente_desde`: when the latest
-- PUBLICO message is the requester's, its date (the tickets where the
-- requester waits for the desk); NULL otherwise.
ALTER TABLE tickets
    ADD COLUMN espera TEXT CHECK (espera IN ('SOLICITANTE', 'TERCERO', 'OTRO')),
    ADD COLUMN espera_hasta TIMESTAMPTZ,
    ADD COLUMN al_vencer TEXT CHECK (al_vencer IN ('REABRIR', 'ARCHIVAR')),
    ADD COLUMN pendiente_desde TIMESTAMPTZ,
    ADD CONSTRAINT espera_completa CHECK ((espera IS NULL) = (al_vencer IS NULL)),
    ADD CONSTRAINT archivar_con_hasta CHECK (al_vencer IS DISTINCT FROM 'ARCHIVAR' OR espera_hasta IS NOT NULL);

-- The scheduler's scan of due waits and `listar`'s filters, on indexes.
CREATE INDEX tickets_espera_debida ON tickets (espera_hasta) WHERE espera_hasta IS NOT NULL;
CREATE INDEX tickets_pendientes ON tickets (pendiente_desde, num) WHERE pendiente_desde IS NOT NULL;
CREATE INDEX tickets_por_espera ON tickets (espera, num) WHERE espera IS NOT NULL;
-- The same two scoped to an area, as an AREA token's `listar` always is.
-- Without them the planner, taking the area and these columns as
-- independent, walks an index filtering by area, and an area with few or no
-- such tickets reads them all: over 1,000,000 tickets, `espera` in an area
-- with no waits walked the whole of `tickets_num_key` (215 ms), an empty
-- inbox the area's tickets or every pending one (5.5 ms; 91 ms as a generic
-- plan). `mesa-bench listar`, docs/performance.md.
CREATE INDEX tickets_pendientes_por_area ON tickets (area_asignada, pendiente_desde, num) WHERE pendiente_desde IS NOT NULL;
CREATE INDEX tickets_por_area_y_espera ON tickets (area_asignada, espera, num) WHERE espera IS NOT NULL;

-- A v1.1 `respuestaCliente` becomes the first PUBLICO message of its
-- ticket, once (this migration runs once), written by the actor of the
-- latest ACTUALIZACION — the command that set it — at that entry's date.
INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto)
SELECT gen_random_uuid(), t.uuid, COALESCE(h.fecha, t.actualizado_en), COALESCE(h.actor_nombre, 'Sistema'),
       CASE WHEN h.actor_rol IN ('ADMIN', 'MESA', 'AREA') THEN h.actor_rol ELSE 'SISTEMA' END,
       'PUBLICO', t.respuesta_cliente
FROM tickets t
LEFT JOIN LATERAL (
    SELECT fecha, actor_nombre, actor_rol FROM historial
    WHERE ticket_uuid = t.uuid AND accion = 'ACTUALIZACION'
    ORDER BY id DESC LIMIT 1
) h ON true
WHERE t.respuesta_cliente IS NOT NULL
ORDER BY t.num;

-- A ticket paused before v1.2 waits for nobody in particular: OTRO, a
-- reminder, no `hasta` — the defaults a v1.2 `pausar` gets.
UPDATE tickets SET espera = 'OTRO', al_vencer = 'REABRIR' WHERE estado = 'PAUSADO';
