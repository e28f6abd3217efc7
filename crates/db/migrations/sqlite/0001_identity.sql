-- Identity: domains, projects, users, roles, assignments, API keys, tokens.
-- Timestamps are microseconds since the Unix epoch (UTC).

CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains(id),
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    domain_id          TEXT NOT NULL REFERENCES domains(id),
    enabled            BOOLEAN NOT NULL DEFAULT TRUE,
    default_project_id TEXT,
    email              TEXT,
    description        TEXT,
    password_hash      TEXT,
    UNIQUE (domain_id, name)
);

CREATE TABLE roles (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE role_assignments (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id, role_id)
);
CREATE INDEX role_assignments_project ON role_assignments (project_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    key_hash    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Only the SHA-256 digest of a token id is stored; body is the token's JSON snapshot.
CREATE TABLE tokens (
    digest     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);
