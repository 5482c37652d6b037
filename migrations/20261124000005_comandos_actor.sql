-- Who sent a recorded command (the verified token's `sub`; NULL for public
-- operations and for records made before this column existed): a replay of
-- its message_id gets the recorded reply only with the same `sub` (§3).
-- Nullable without a default: no table rewrite.
ALTER TABLE comandos ADD COLUMN actor_sub TEXT;
