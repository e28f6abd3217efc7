-- Volume attachments (the legacy os-attach sequence) and the exports made for connectors.
-- Both go with their volume's row. Timestamps are microseconds since the Unix epoch (UTC).

CREATE TABLE volume_attachments (
    id            TEXT PRIMARY KEY,
    volume_id     TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    instance_uuid TEXT,
    attached_host TEXT,
    mountpoint    TEXT,
    -- 'rw' or 'ro'.
    attach_mode   TEXT NOT NULL,
    attached_at   BIGINT
);
CREATE INDEX volume_attachments_volume ON volume_attachments (volume_id);

-- Where a volume is exported to one connector, so that terminate, force-detach and a restart
-- know what to undo or restore.
CREATE TABLE volume_exports (
    id            TEXT PRIMARY KEY,
    volume_id     TEXT NOT NULL REFERENCES volumes(id) ON DELETE CASCADE,
    -- The connector's host, else its initiator, else its ip.
    connector_key TEXT NOT NULL,
    -- driver_volume_type: nbd, iscsi, local.
    protocol      TEXT NOT NULL,
    read_only     BOOLEAN NOT NULL,
    -- JSON: the exporter's own record of the export.
    handle        TEXT NOT NULL,
    -- JSON: connection_info.data as given to the connector.
    data          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX volume_exports_volume ON volume_exports (volume_id);
