-- SLA v1.1 (contract §6.1): policies, the first-response clock, several
-- thresholds per meta. Nullable columns without defaults: no table rewrite,
-- so upgrading a large table is quick.
--
-- Rows written before this migration keep their meaning: `sla_alerta =
-- 'POR_VENCER'` with `sla_alerta_umbral` NULL is "the one v1 warning was
-- sent", read as every threshold sent (`Progreso::Aviso(0)`), so an upgrade
-- neither repeats an alert nor skips VENCIDO.

ALTER TABLE tickets
    ADD COLUMN sla_politica TEXT,
    ADD COLUMN sla_alerta_umbral SMALLINT CHECK (sla_alerta_umbral BETWEEN 1 AND 99),
    ADD COLUMN primera_respuesta_objetivo_ms BIGINT CHECK (primera_respuesta_objetivo_ms > 0),
    ADD COLUMN fecha_limite_primera_respuesta TIMESTAMPTZ,
    ADD COLUMN fecha_aviso_primera_respuesta TIMESTAMPTZ,
    ADD COLUMN primera_respuesta_alerta TEXT CHECK (primera_respuesta_alerta IN ('POR_VENCER', 'VENCIDO')),
    ADD COLUMN primera_respuesta_umbral SMALLINT CHECK (primera_respuesta_umbral BETWEEN 1 AND 99),
    ADD COLUMN primera_respuesta_final TEXT CHECK (primera_respuesta_final IN ('CUMPLIDO', 'INCUMPLIDO')),
    ADD CONSTRAINT primera_respuesta_completa CHECK (
        (primera_respuesta_objetivo_ms IS NULL) =
        (fecha_limite_primera_respuesta IS NULL AND fecha_aviso_primera_respuesta IS NULL));

-- Exactly one alert per (ticket, meta, threshold or VENCIDO, deadline).
-- `umbral` is the threshold's percent; 0 for VENCIDO and for the warnings
-- recorded before v1.1, which did not keep theirs.
ALTER TABLE sla_alertas
    ADD COLUMN meta TEXT NOT NULL DEFAULT 'RESOLUCION' CHECK (meta IN ('RESOLUCION', 'PRIMERA_RESPUESTA')),
    ADD COLUMN umbral SMALLINT NOT NULL DEFAULT 0 CHECK (umbral BETWEEN 0 AND 99);
ALTER TABLE sla_alertas DROP CONSTRAINT sla_alertas_pkey;
ALTER TABLE sla_alertas ADD PRIMARY KEY (ticket_uuid, meta, nivel, umbral, fecha_limite_sla);

-- First-response compliance in `estadisticas`: tickets whose clock stopped in a window.
CREATE INDEX tickets_primera_asignacion ON tickets (primera_asignacion_en)
    WHERE primera_respuesta_objetivo_ms IS NOT NULL;
