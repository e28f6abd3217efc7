-- Snapshots. Jobs now work on volumes or snapshots: their subject.

ALTER TABLE jobs RENAME COLUMN volume_id TO subject_id;

CREATE TABLE snapshots (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    -- No foreign key: a volume and its snapshots are removed in an order the code chooses
    -- (a cascade removes the snapshots in the transaction that removes the volume).
    volume_id           TEXT NOT NULL,
    display_name        TEXT,
    display_description TEXT,
    -- GiB: the volume's size when the snapshot was taken.
    volume_size         BIGINT NOT NULL,
    status              TEXT NOT NULL,
    progress            TEXT NOT NULL DEFAULT '0%',
    volume_type_id      TEXT NOT NULL REFERENCES volume_types(id),
    host                TEXT,
    -- False after a failed create: the snapshot no longer counts against the quota.
    use_quota           BOOLEAN NOT NULL DEFAULT TRUE,
    status_reason       TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT
);
-- Keyset pagination in the default order, per project and across projects.
CREATE INDEX snapshots_project_created ON snapshots (project_id, created_at, id);
CREATE INDEX snapshots_created ON snapshots (created_at, id);
CREATE INDEX snapshots_volume ON snapshots (volume_id);
CREATE INDEX snapshots_status ON snapshots (status);

CREATE TABLE snapshot_metadata (
    snapshot_id TEXT NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, key)
);

-- "No volume is being created from it": asked before deleting a snapshot or a volume.
CREATE INDEX volumes_snapshot ON volumes (snapshot_id);
CREATE INDEX volumes_source ON volumes (source_volid);

-- Snapshot usage beside volume usage, kept by triggers the same way (0003). The gigabytes
-- quota counts volume_gib + snapshot_gib, as Cinder does.
ALTER TABLE quota_usage ADD COLUMN snapshots BIGINT NOT NULL DEFAULT 0;
ALTER TABLE quota_usage ADD COLUMN snapshot_gib BIGINT NOT NULL DEFAULT 0;

CREATE TRIGGER snapshots_usage_insert AFTER INSERT ON snapshots WHEN NEW.use_quota
BEGIN
    INSERT INTO quota_usage (project_id, volume_type_id, snapshots, snapshot_gib)
    VALUES (NEW.project_id, NEW.volume_type_id, 1, NEW.volume_size)
    ON CONFLICT (project_id, volume_type_id) DO UPDATE
        SET snapshots = snapshots + 1, snapshot_gib = snapshot_gib + excluded.snapshot_gib;
END;

CREATE TRIGGER snapshots_usage_delete AFTER DELETE ON snapshots WHEN OLD.use_quota
BEGIN
    UPDATE quota_usage
        SET snapshots = snapshots - 1, snapshot_gib = snapshot_gib - OLD.volume_size
        WHERE project_id = OLD.project_id AND volume_type_id = OLD.volume_type_id;
END;

CREATE TRIGGER snapshots_usage_update
AFTER UPDATE OF use_quota, volume_size, project_id, volume_type_id ON snapshots
WHEN OLD.use_quota IS NOT NEW.use_quota OR OLD.volume_size IS NOT NEW.volume_size
    OR OLD.project_id IS NOT NEW.project_id OR OLD.volume_type_id IS NOT NEW.volume_type_id
BEGIN
    UPDATE quota_usage
        SET snapshots = snapshots - OLD.use_quota,
            snapshot_gib = snapshot_gib - OLD.use_quota * OLD.volume_size
        WHERE project_id = OLD.project_id AND volume_type_id = OLD.volume_type_id;
    INSERT INTO quota_usage (project_id, volume_type_id, snapshots, snapshot_gib)
    VALUES (NEW.project_id, NEW.volume_type_id, NEW.use_quota, NEW.use_quota * NEW.volume_size)
    ON CONFLICT (project_id, volume_type_id) DO UPDATE
        SET snapshots = snapshots + excluded.snapshots,
            snapshot_gib = snapshot_gib + excluded.snapshot_gib;
END;
