-- v1.2 §11: the requesters' data. Erasure removes the e-mail, so it may be
-- null; `anonimizado_en` marks a ticket erased (once: a second `anonimizar`
-- and the retention pass skip it).
--
-- Every statement here is cheap on a large table: DROP NOT NULL and a
-- nullable column without a default change the catalogue only. The two
-- indexes are partial and small where it matters (`tickets_por_retener`
-- holds the closed tickets not yet erased); they are built without
-- CONCURRENTLY because sqlx runs a migration in a transaction, so on a very
-- large table build them by hand first (the names match; IF NOT EXISTS
-- then skips them here).
ALTER TABLE tickets ALTER COLUMN solicitante_email DROP NOT NULL;
ALTER TABLE tickets ADD COLUMN anonimizado_en TIMESTAMPTZ;

-- `exportar` and `anonimizar` find a requester's tickets as `consultar`
-- compares e-mails: lower(stored) = lower(given).
CREATE INDEX IF NOT EXISTS tickets_por_email ON tickets (lower(solicitante_email), num)
    WHERE solicitante_email IS NOT NULL;

-- Retention: closed tickets not erased yet, oldest closing first.
CREATE INDEX IF NOT EXISTS tickets_por_retener ON tickets (cerrado_en, uuid)
    WHERE cerrado_en IS NOT NULL AND anonimizado_en IS NULL;

-- Erasure rewrites the events of its tickets still in the outbox.
CREATE INDEX IF NOT EXISTS outbox_por_ticket ON outbox (ticket_uuid) WHERE ticket_uuid IS NOT NULL;
