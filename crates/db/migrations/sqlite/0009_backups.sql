-- Backups (Cinder's `backups` table, the columns Basalt uses) and their quota usage, kept by
-- triggers like volumes' and snapshots' (0003, 0004). Every backup row counts, whatever its
-- status, until it is deleted: Cinder commits a backup's reservation at create and releases
-- it only at delete.

CREATE TABLE backups (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    -- No foreign keys: a backup outlives its volume and snapshot.
    volume_id           TEXT NOT NULL,
    snapshot_id         TEXT,
    display_name        TEXT,
    display_description TEXT,
    container           TEXT,
    availability_zone   TEXT,
    host                TEXT,
    status              TEXT NOT NULL,
    fail_reason         TEXT,
    -- GiB: the volume's size when it was backed up.
    size                BIGINT NOT NULL,
    object_count        BIGINT NOT NULL DEFAULT 0,
    parent_id           TEXT,
    -- The volume a restore in progress writes to.
    restore_volume_id   TEXT,
    data_timestamp      BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT
);
CREATE INDEX backups_project_created ON backups (project_id, created_at, id);
CREATE INDEX backups_created ON backups (created_at, id);
CREATE INDEX backups_volume ON backups (volume_id, data_timestamp);
CREATE INDEX backups_parent ON backups (parent_id);
CREATE INDEX backups_status ON backups (status);

CREATE TABLE backup_usage (
    project_id  TEXT PRIMARY KEY,
    backups     BIGINT NOT NULL DEFAULT 0,
    backup_gib  BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TRIGGER backups_usage_insert AFTER INSERT ON backups
BEGIN
    INSERT INTO backup_usage (project_id, backups, backup_gib)
    VALUES (NEW.project_id, 1, NEW.size)
    ON CONFLICT (project_id) DO UPDATE
        SET backups = backups + 1, backup_gib = backup_gib + excluded.backup_gib;
END;

CREATE TRIGGER backups_usage_delete AFTER DELETE ON backups
BEGIN
    UPDATE backup_usage SET backups = backups - 1, backup_gib = backup_gib - OLD.size
        WHERE project_id = OLD.project_id;
END;

CREATE TRIGGER backups_usage_update AFTER UPDATE OF size, project_id ON backups
WHEN OLD.size IS NOT NEW.size OR OLD.project_id IS NOT NEW.project_id
BEGIN
    UPDATE backup_usage SET backups = backups - 1, backup_gib = backup_gib - OLD.size
        WHERE project_id = OLD.project_id;
    INSERT INTO backup_usage (project_id, backups, backup_gib)
    VALUES (NEW.project_id, 1, NEW.size)
    ON CONFLICT (project_id) DO UPDATE
        SET backups = backups + 1, backup_gib = backup_gib + excluded.backup_gib;
END;
