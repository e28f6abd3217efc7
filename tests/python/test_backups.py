"""Backups with python-cinderclient 7.4.1 on v2, as a member of a project of this module's
own: backup-create, backup-list, backup-show, backup-restore (to a new volume and over an
existing one) and backup-delete. Data is checked in the backend's files: a restore holds
what the volume held when it was backed up."""

import os
import uuid

from support import properties, table, wait_until

MiB = 1 << 20


def _write(path, byte: int, offset: int = 0):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([byte]) * MiB, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path, offset: int = 0) -> set[int]:
    with open(path, "rb") as f:
        f.seek(offset)
        return set(f.read(MiB))


def _status(cli, kind: str, ref: str) -> str | None:
    p = cli("backup-show" if kind == "backup" else "show", ref, check=False)
    if p.returncode != 0:
        return None
    return properties(p.stdout)["status"]


def _wait(cli, kind: str, ref: str, status: str):
    def probe():
        now = _status(cli, kind, ref)
        assert now is None or not now.startswith("error"), f"{kind} {ref} is {now}"
        return now == status

    wait_until(probe, f"{kind} {ref} to be {status}")


def test_backup_and_restore_with_cinderclient_7_on_v2(basalt, tenant):
    env = tenant.env()

    def cli(*args, check=True):
        return basalt.cinder7(*args, env=env, check=check)

    tag = uuid.uuid4().hex[:8]
    vol = properties(cli("create", "--name", f"src-{tag}", "1").stdout)["id"]
    _wait(cli, "volume", vol, "available")
    _write(basalt.volume_file(vol), 0xA5)
    _write(basalt.volume_file(vol), 0x3C, 512 * MiB)

    created = properties(cli("backup-create", "--name", f"b-{tag}", vol).stdout)
    backup = created["id"]
    _wait(cli, "backup", backup, "available")
    shown = properties(cli("backup-show", backup).stdout)
    assert shown["name"] == f"b-{tag}"
    assert shown["volume_id"] == vol
    assert shown["size"] == "1"
    assert shown["is_incremental"] == "False"
    assert int(shown["object_count"]) == 2
    rows = table(cli("backup-list").stdout)
    assert [(r["ID"], r["Volume ID"], r["Status"]) for r in rows] == [
        (backup, vol, "available")
    ]
    _wait(cli, "volume", vol, "available")

    # The volume moves on; a restore to a new volume holds what was backed up.
    _write(basalt.volume_file(vol), 0x5A)
    restored = properties(cli("backup-restore", backup).stdout)
    assert restored["backup_id"] == backup
    assert restored["volume_name"] == f"restore_backup_{backup}"
    new = restored["volume_id"]
    _wait(cli, "volume", new, "available")
    assert _read(basalt.volume_file(new)) == {0xA5}
    assert _read(basalt.volume_file(new), 512 * MiB) == {0x3C}

    # Over the existing volume: it goes back to what it held.
    p = cli("backup-restore", "--volume", vol, backup)
    assert properties(p.stdout)["volume_id"] == vol
    _wait(cli, "volume", vol, "available")
    assert _read(basalt.volume_file(vol)) == {0xA5}

    cli("backup-delete", backup)
    wait_until(lambda: _status(cli, "backup", backup) is None, f"backup {backup} to go")
    assert table(cli("backup-list").stdout) == []
    for v in (vol, new):
        cli("delete", v)
