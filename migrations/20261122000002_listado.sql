-- listar walks tickets newest first (num DESC, the unique index) under
-- filters; these let the common single filters stay index scans.
CREATE INDEX tickets_estado_num ON tickets (estado, num DESC);
CREATE INDEX tickets_area_num ON tickets (area_asignada, num DESC);
CREATE INDEX tickets_prioridad_num ON tickets (prioridad, num DESC);
CREATE INDEX tickets_tipo_num ON tickets (tipo, num DESC);
-- estadisticas windows on creation time.
CREATE INDEX tickets_creado_en ON tickets (creado_en);
