-- Pylon control plane, SQLite dialect. Keep in step with ../postgres/0001_control_plane.sql:
-- same tables, columns and constraints; only types differ (timestamps are INTEGER
-- microseconds since the Unix epoch, JSON is TEXT, digests are BLOB).
-- Never edit an applied migration: add a new numbered file.

CREATE TABLE tenants (
    id           TEXT    NOT NULL PRIMARY KEY,
    display_name TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL
);

CREATE TABLE teams (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE admin_users (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
);

CREATE TABLE admin_user_roles (
    user_id   TEXT NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX admin_user_roles_tenant ON admin_user_roles (tenant_id);

CREATE TABLE team_members (
    team_id  TEXT    NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE admin_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES admin_users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_sha256 BLOB    NOT NULL UNIQUE,
    hint         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX admin_tokens_user ON admin_tokens (user_id);

-- Exactly one row: the draft and the version counters. Publish and rollback lock it first.
CREATE TABLE config_head (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    draft            TEXT    NOT NULL,
    draft_version    INTEGER NOT NULL,
    draft_updated_at INTEGER,
    draft_updated_by TEXT,
    latest_version   INTEGER NOT NULL,
    active_version   INTEGER
);
INSERT INTO config_head (id, draft, draft_version, latest_version) VALUES (1, '{}', 0, 0);

CREATE TABLE config_versions (
    number      INTEGER NOT NULL PRIMARY KEY,
    document    TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    parent      INTEGER,
    rollback_of INTEGER,
    diff        TEXT    NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_kind TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    tenant      TEXT,
    before_doc  TEXT,
    after_doc   TEXT
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_object ON audit_log (object_kind, object_id, id);
CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
CREATE INDEX audit_log_at ON audit_log (at);
