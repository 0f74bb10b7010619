-- Cluster nodes and subscriptions, SQLite dialect (timestamps are INTEGER microseconds). Keep in step with
-- ../postgres/0020_cluster_subscriptions.sql. Never edit an applied migration.

-- One row per node that ever joined: its heartbeat and what it runs.
CREATE TABLE cluster_nodes (
    id                      TEXT        NOT NULL PRIMARY KEY,
    admin_addr              TEXT,
    proxy_addr              TEXT,
    pylon_version           TEXT        NOT NULL,
    config_version          INTEGER,
    subscription_generation INTEGER     NOT NULL,
    health                  TEXT        NOT NULL CHECK (health IN ('ok', 'degraded', 'stopped')),
    last_error              TEXT,
    failed_version          INTEGER,
    started_at              INTEGER     NOT NULL,
    last_seen               INTEGER     NOT NULL
);

-- Exactly one row: bumped by every subscription change, so nodes can tell whether
-- their in-memory set is current and acknowledge what they applied.
CREATE TABLE subscription_head (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO subscription_head (id, generation) VALUES (1, 0);

CREATE TABLE subscriptions (
    id           TEXT        NOT NULL PRIMARY KEY,
    service      TEXT        NOT NULL,
    consumer     TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'revoked')),
    note         TEXT,
    requested_by TEXT        NOT NULL,
    decided_by   TEXT,
    created_at   INTEGER     NOT NULL,
    updated_at   INTEGER     NOT NULL,
    version      INTEGER     NOT NULL,
    UNIQUE (service, consumer)
);
CREATE INDEX subscriptions_consumer ON subscriptions (consumer, service);
CREATE INDEX subscriptions_state ON subscriptions (state);
