-- Services (the scheduler, one volume service per backend) with their heartbeats and the
-- pool stats each volume service reports, and the capacity the volumes on each pool hold,
-- kept by triggers so that the scheduler reads one row per pool.

CREATE TABLE services (
    host            TEXT NOT NULL,
    binary          TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    -- JSON: the pool stats of a volume service (Cinder's capabilities report).
    capabilities    TEXT,
    created_at      BIGINT NOT NULL,
    heartbeat_at    BIGINT NOT NULL,
    PRIMARY KEY (host, binary)
);

-- Provisioned GiB per pool (a volume's `host`), an extension counting at its target size.
CREATE TABLE pool_usage (
    host            TEXT PRIMARY KEY,
    volumes         BIGINT NOT NULL DEFAULT 0,
    provisioned_gib BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO pool_usage (host, volumes, provisioned_gib)
SELECT host, COUNT(*), SUM(MAX(size, COALESCE(new_size, 0)))
FROM volumes WHERE host IS NOT NULL GROUP BY host;

CREATE TRIGGER volumes_pool_insert AFTER INSERT ON volumes WHEN NEW.host IS NOT NULL
BEGIN
    INSERT INTO pool_usage (host, volumes, provisioned_gib)
    VALUES (NEW.host, 1, MAX(NEW.size, COALESCE(NEW.new_size, 0)))
    ON CONFLICT (host) DO UPDATE
        SET volumes = volumes + 1, provisioned_gib = provisioned_gib + excluded.provisioned_gib;
END;

CREATE TRIGGER volumes_pool_delete AFTER DELETE ON volumes WHEN OLD.host IS NOT NULL
BEGIN
    UPDATE pool_usage
        SET volumes = volumes - 1,
            provisioned_gib = provisioned_gib - MAX(OLD.size, COALESCE(OLD.new_size, 0))
        WHERE host = OLD.host;
END;

CREATE TRIGGER volumes_pool_update AFTER UPDATE OF size, new_size, host ON volumes
WHEN OLD.host IS NOT NEW.host OR OLD.size IS NOT NEW.size OR OLD.new_size IS NOT NEW.new_size
BEGIN
    UPDATE pool_usage
        SET volumes = volumes - 1,
            provisioned_gib = provisioned_gib - MAX(OLD.size, COALESCE(OLD.new_size, 0))
        WHERE host = OLD.host;
    INSERT INTO pool_usage (host, volumes, provisioned_gib)
    SELECT NEW.host, 1, MAX(NEW.size, COALESCE(NEW.new_size, 0)) WHERE NEW.host IS NOT NULL
    ON CONFLICT (host) DO UPDATE
        SET volumes = volumes + 1, provisioned_gib = provisioned_gib + excluded.provisioned_gib;
END;
