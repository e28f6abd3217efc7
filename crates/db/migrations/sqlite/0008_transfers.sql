-- Volume transfers: one pending offer per volume, removed when accepted or cancelled (Cinder
-- keeps soft-deleted rows; Basalt keeps nothing it does not use). The auth key is not stored,
-- only SHA-256 over a per-transfer salt and the key.
--
-- Quota usage needs no new trigger: accepting changes project_id on the volume and snapshot
-- rows, and the update triggers of 0003 and 0004 already move the counters between projects.

CREATE TABLE transfers (
    id           TEXT PRIMARY KEY,
    -- An offered volume cannot be deleted; should its row go anyway, its offer goes with it.
    volume_id    TEXT NOT NULL UNIQUE REFERENCES volumes(id) ON DELETE CASCADE,
    -- The donor: the volume's project when the offer was made.
    project_id   TEXT NOT NULL,
    display_name TEXT,
    salt         TEXT NOT NULL,
    crypt_hash   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
-- Listings in their one order, per project and across projects.
CREATE INDEX transfers_project_created ON transfers (project_id, created_at, id);
CREATE INDEX transfers_created ON transfers (created_at, id);
