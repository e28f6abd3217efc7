-- Volume types in full (extra specs, project access, encryption) and QoS specs.

CREATE TABLE qos_specs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    consumer   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE qos_spec_values (
    qos_specs_id TEXT NOT NULL REFERENCES qos_specs(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (qos_specs_id, key)
);

ALTER TABLE volume_types ADD COLUMN updated_at BIGINT;
-- A type's QoS spec; deleting a spec that types still use is refused unless forced, and a
-- forced delete clears this first.
ALTER TABLE volume_types ADD COLUMN qos_specs_id TEXT REFERENCES qos_specs(id);

CREATE TABLE volume_type_extra_specs (
    volume_type_id TEXT NOT NULL REFERENCES volume_types(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    -- Cinder's schema lets a spec be null.
    value          TEXT,
    PRIMARY KEY (volume_type_id, key)
);

-- Projects that may use a private type.
CREATE TABLE volume_type_projects (
    volume_type_id TEXT NOT NULL REFERENCES volume_types(id) ON DELETE CASCADE,
    project_id     TEXT NOT NULL,
    PRIMARY KEY (volume_type_id, project_id)
);
CREATE INDEX volume_type_projects_project ON volume_type_projects (project_id);

CREATE TABLE volume_type_encryption (
    volume_type_id   TEXT PRIMARY KEY REFERENCES volume_types(id) ON DELETE CASCADE,
    encryption_id    TEXT NOT NULL,
    provider         TEXT,
    cipher           TEXT,
    key_size         BIGINT,
    control_location TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT
);

-- "Is this type in use" is asked of every guarded type change.
CREATE INDEX volumes_type ON volumes (volume_type_id);
