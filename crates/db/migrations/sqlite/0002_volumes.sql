-- Volumes, their metadata, volume types, quota limits and the job outbox.
-- Timestamps are microseconds since the Unix epoch (UTC).

CREATE TABLE volume_types (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE volumes (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    display_name        TEXT,
    display_description TEXT,
    size                BIGINT NOT NULL,
    -- The size an extension in progress is heading to; counted in the quota meanwhile.
    new_size            BIGINT,
    status              TEXT NOT NULL,
    attach_status       TEXT NOT NULL,
    migration_status    TEXT,
    availability_zone   TEXT NOT NULL,
    volume_type_id      TEXT NOT NULL REFERENCES volume_types(id),
    snapshot_id         TEXT,
    source_volid        TEXT,
    bootable            BOOLEAN NOT NULL DEFAULT FALSE,
    multiattach         BOOLEAN NOT NULL DEFAULT FALSE,
    encrypted           BOOLEAN NOT NULL DEFAULT FALSE,
    replication_status  TEXT NOT NULL DEFAULT 'disabled',
    consistencygroup_id TEXT,
    group_id            TEXT,
    host                TEXT,
    -- False after a failed create: the volume no longer counts against the quota.
    use_quota           BOOLEAN NOT NULL DEFAULT TRUE,
    status_reason       TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT
);
-- Keyset pagination in the default order, per project and across projects.
CREATE INDEX volumes_project_created ON volumes (project_id, created_at, id);
CREATE INDEX volumes_created ON volumes (created_at, id);
CREATE INDEX volumes_status ON volumes (status);

CREATE TABLE volume_metadata (
    volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (volume_id, key)
);

CREATE TABLE volume_admin_metadata (
    volume_id TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (volume_id, key)
);

CREATE TABLE quota_limits (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE quota_class_limits (
    class_name TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);

-- The outbox: written with the status change that asks for the work, deleted with the one
-- that ends it. lease_until set = a worker holds it.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    volume_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_after   BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (lease_until, run_after);
CREATE INDEX jobs_volume ON jobs (volume_id);
