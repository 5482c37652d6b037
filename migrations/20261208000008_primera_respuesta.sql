-- #26 (contract §6.1, §10), two columns.
--
-- 1. `tickets.primera_respuesta_en`: when a ticket's first-response clock stopped —
-- the first `asignar`, or under `sla.primera_respuesta_termina = "respuesta"`
-- the first PUBLICO message of staff, or the close when it came first.
-- `estadisticas.cumplimientoPrimeraRespuesta` windows on it.
--
-- Cheap on a large table: the column is nullable without a default, so
-- adding it only touches the catalog; the one UPDATE rewrites only the rows
-- whose clock has stopped (`primera_respuesta_final` set), and the CHECK
-- and the index read the table once each.
ALTER TABLE tickets ADD COLUMN primera_respuesta_en TIMESTAMPTZ;

-- Backfill. Nothing stored says which setting stopped a clock, so the
-- default's (v1.1) reading comes first: the first assignment — exact for
-- every row written under "asignar" (a ticket is closed only once assigned)
-- and the very date the statistic counted these rows by until now, so the
-- upgrade moves no ticket between windows. A row without one stopped under
-- "respuesta": its first PUBLICO message of staff (on `mensajes_por_ticket`),
-- else its close. `actualizado_en` only so that no stopped row stays without
-- a date. A row that stopped under "respuesta" and was also assigned keeps
-- the assignment's date: the approximation the statistic made before.
UPDATE tickets t SET primera_respuesta_en = COALESCE(
    t.primera_asignacion_en,
    (SELECT min(m.fecha) FROM mensajes m
     WHERE m.ticket_uuid = t.uuid AND m.visibilidad = 'PUBLICO' AND m.autor_rol IN ('ADMIN', 'MESA', 'AREA')),
    t.cerrado_en,
    t.actualizado_en)
WHERE t.primera_respuesta_final IS NOT NULL;

-- A stopped clock has its result and its date, a running one neither
-- (the domain reads them as one value, `Veredicto`).
ALTER TABLE tickets ADD CONSTRAINT primera_respuesta_detenida
    CHECK ((primera_respuesta_final IS NULL) = (primera_respuesta_en IS NULL));

-- The statistic's window, on an index. The one it replaces could not serve
-- the old `coalesce(primera_asignacion_en, cerrado_en)` window and nothing
-- else reads it: dropped, one index less to write.
CREATE INDEX tickets_primera_respuesta ON tickets (primera_respuesta_en) WHERE primera_respuesta_en IS NOT NULL;
DROP INDEX tickets_primera_asignacion;

-- 2. `historial.interno`: the entry is an INTERNO note's RESPUESTA, which
-- `consultar` never shows as the ticket's latest entry (it would tell the
-- requester that a note was written, and by whom). NOT NULL with a constant
-- default: since PostgreSQL 11 only the catalog changes, no table rewrite.
ALTER TABLE historial ADD COLUMN interno BOOLEAN NOT NULL DEFAULT false;

-- Backfill, driven by the INTERNO messages (usually few) on
-- `historial_por_ticket`: a note's entry has its ticket, its instant and its
-- author. Two replies of one author on one ticket at one instant (one batch)
-- cannot be told apart: both are marked, erring towards hiding.
UPDATE historial h SET interno = true
FROM mensajes m
WHERE m.visibilidad = 'INTERNO' AND h.accion = 'RESPUESTA'
  AND h.ticket_uuid = m.ticket_uuid AND h.fecha = m.fecha AND h.actor_nombre = m.autor_nombre;
