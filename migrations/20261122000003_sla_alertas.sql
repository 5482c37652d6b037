-- SLA alerting: when the warning window opens, which alert was last sent for
-- the current deadline, and when the scheduler must look at a ticket next.

ALTER TABLE tickets
    ADD COLUMN fecha_aviso_sla TIMESTAMPTZ,
    ADD COLUMN sla_alerta TEXT CHECK (sla_alerta IN ('POR_VENCER', 'VENCIDO')),
    ADD COLUMN proxima_alerta_sla TIMESTAMPTZ;

-- Rows written before this migration: the default 20 % window, 24x7.
UPDATE tickets SET fecha_aviso_sla = fecha_limite_sla - (sla_objetivo_ms * 20 / 100) * interval '1 millisecond';
UPDATE tickets SET proxima_alerta_sla = fecha_aviso_sla WHERE cerrado_en IS NULL AND estado <> 'PAUSADO';
ALTER TABLE tickets ALTER COLUMN fecha_aviso_sla SET NOT NULL;

-- The scan reads only what is due: its cost follows due tickets, not stored ones.
DROP INDEX tickets_abiertos_por_limite;
CREATE INDEX tickets_alertas_pendientes ON tickets (proxima_alerta_sla) WHERE proxima_alerta_sla IS NOT NULL;

-- Exactly one alert per ticket, level and deadline, whatever runs the scan.
CREATE TABLE sla_alertas (
    ticket_uuid       UUID NOT NULL REFERENCES tickets (uuid),
    nivel             TEXT NOT NULL CHECK (nivel IN ('POR_VENCER', 'VENCIDO')),
    fecha_limite_sla  TIMESTAMPTZ NOT NULL,
    evento_id         UUID NOT NULL,
    emitida_en        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_uuid, nivel, fecha_limite_sla)
);
