-- Event bodies and stored replies are written once and read back whole,
-- never queried inside: `json` keeps the text as written (validated, not
-- decomposed), cheaper to write and to read back than `jsonb`. The relay
-- publishes the stored text as it is.
ALTER TABLE outbox ALTER COLUMN cuerpo TYPE json USING cuerpo::json;
ALTER TABLE comandos ALTER COLUMN respuesta TYPE json USING respuesta::json;
