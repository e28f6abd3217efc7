-- Quota usage per project and volume type, kept by triggers in the same transaction as every
-- change to a volume row, so that a quota check reads a handful of rows instead of counting
-- every volume of the project (a create was O(volumes held) before). The rows stay the truth:
-- the reconciler recounts at start-up and repairs any drift.

CREATE TABLE quota_usage (
    project_id     TEXT NOT NULL,
    volume_type_id TEXT NOT NULL,
    volumes        BIGINT NOT NULL DEFAULT 0,
    -- An extension in progress counts at its target size (new_size), as before.
    volume_gib     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, volume_type_id)
) WITHOUT ROWID;

INSERT INTO quota_usage (project_id, volume_type_id, volumes, volume_gib)
SELECT project_id, volume_type_id, COUNT(*), SUM(MAX(size, COALESCE(new_size, 0)))
FROM volumes WHERE use_quota GROUP BY project_id, volume_type_id;

CREATE TRIGGER volumes_usage_insert AFTER INSERT ON volumes WHEN NEW.use_quota
BEGIN
    INSERT INTO quota_usage (project_id, volume_type_id, volumes, volume_gib)
    VALUES (NEW.project_id, NEW.volume_type_id, 1, MAX(NEW.size, COALESCE(NEW.new_size, 0)))
    ON CONFLICT (project_id, volume_type_id) DO UPDATE
        SET volumes = volumes + 1, volume_gib = volume_gib + excluded.volume_gib;
END;

CREATE TRIGGER volumes_usage_delete AFTER DELETE ON volumes WHEN OLD.use_quota
BEGIN
    UPDATE quota_usage
        SET volumes = volumes - 1,
            volume_gib = volume_gib - MAX(OLD.size, COALESCE(OLD.new_size, 0))
        WHERE project_id = OLD.project_id AND volume_type_id = OLD.volume_type_id;
END;

CREATE TRIGGER volumes_usage_update
AFTER UPDATE OF size, new_size, use_quota, project_id, volume_type_id ON volumes
WHEN OLD.use_quota IS NOT NEW.use_quota OR OLD.size IS NOT NEW.size
    OR OLD.new_size IS NOT NEW.new_size OR OLD.project_id IS NOT NEW.project_id
    OR OLD.volume_type_id IS NOT NEW.volume_type_id
BEGIN
    UPDATE quota_usage
        SET volumes = volumes - OLD.use_quota,
            volume_gib = volume_gib - OLD.use_quota * MAX(OLD.size, COALESCE(OLD.new_size, 0))
        WHERE project_id = OLD.project_id AND volume_type_id = OLD.volume_type_id;
    INSERT INTO quota_usage (project_id, volume_type_id, volumes, volume_gib)
    VALUES (NEW.project_id, NEW.volume_type_id, NEW.use_quota,
            NEW.use_quota * MAX(NEW.size, COALESCE(NEW.new_size, 0)))
    ON CONFLICT (project_id, volume_type_id) DO UPDATE
        SET volumes = volumes + excluded.volumes, volume_gib = volume_gib + excluded.volume_gib;
END;
