"""Snapshots and volumes made from them with real clients: python-cinderclient 7.4.1 on v2,
cinderclient 9 on v3, openstacksdk on v2 and v3, as a member of a project of this module's own.
Data is checked in the backend's files: what was written before a snapshot is what a volume
made from it holds."""

import os
import uuid

import openstack
import pytest

from support import properties, table, wait_until

MiB = 1 << 20
WAIT = {"interval": 0.2, "wait": 30}


def _write(path, byte: int, offset: int = 0):
    """Writes 1 MiB of `byte` at `offset` into a volume file, durably."""
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


def _status_of(cli, kind: str, ref: str) -> str | None:
    p = cli(f"{kind}-show" if kind == "snapshot" else "show", ref, check=False)
    if p.returncode != 0:
        return None
    return properties(p.stdout)["status"]


def _wait_status(cli, kind: str, ref: str, status: str):
    def probe():
        now = _status_of(cli, kind, ref)
        assert now is None or not now.startswith("error"), f"{kind} {ref} is {now}"
        return now == status

    wait_until(probe, f"{kind} {ref} to be {status}")


def _wait_gone(cli, kind: str, ref: str):
    wait_until(lambda: _status_of(cli, kind, ref) is None, f"{kind} {ref} to be deleted")


@pytest.mark.parametrize("client", ["cinder7-v2", "cinder9-v3"])
def test_snapshot_and_volume_from_it_with_the_cinder_cli(basalt, tenant, client):
    env = tenant.env()

    def cli(*args, check=True):
        if client == "cinder7-v2":
            return basalt.cinder7(*args, env=env, check=check)
        return basalt.cinder(*args, env=env, check=check)

    tag = uuid.uuid4().hex[:8]
    vol = properties(cli("create", "--name", f"src-{tag}", "1").stdout)["id"]
    _wait_status(cli, "volume", vol, "available")
    _write(basalt.volume_file(vol), 0xA5)

    p = cli("snapshot-create", "--name", f"snap-{tag}", "--metadata", "k=v", vol)
    snap = properties(p.stdout)
    assert snap["volume_id"] == vol
    assert snap["status"] in ("creating", "available")
    _wait_status(cli, "snapshot", snap["id"], "available")
    shown = properties(cli("snapshot-show", snap["id"]).stdout)
    assert shown["name"] == f"snap-{tag}"
    assert shown["size"] == "1"
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == tenant.project_id
    assert "'k': 'v'" in shown["metadata"] or '"k": "v"' in shown["metadata"], shown
    rows = table(cli("snapshot-list").stdout)
    assert [(r["ID"], r["Volume ID"], r["Status"]) for r in rows] == [
        (snap["id"], vol, "available")
    ]

    # The volume moves on; a volume from the snapshot holds what was there before.
    _write(basalt.volume_file(vol), 0x5A)
    copy = properties(cli("create", "--snapshot-id", snap["id"], "--name", f"copy-{tag}").stdout)
    assert copy["snapshot_id"] == snap["id"]
    _wait_status(cli, "volume", copy["id"], "available")
    basalt.assert_volume_file(copy["id"], 1)
    assert _read(basalt.volume_file(copy["id"])) == {0xA5}

    # A clone of the volume holds what it holds now.
    clone = properties(cli("create", "--source-volid", vol, "2").stdout)
    _wait_status(cli, "volume", clone["id"], "available")
    assert _read(basalt.volume_file(clone["id"])) == {0x5A}
    assert _read(basalt.volume_file(clone["id"]), 1 << 30) == {0}

    # A volume with a snapshot is deleted only with its snapshots.
    p = cli("delete", vol, check=False)
    assert p.returncode != 0
    assert "Invalid volume" in p.stdout + p.stderr, (p.stdout, p.stderr)
    cli("snapshot-rename", snap["id"], f"renamed-{tag}", "--description", "new")
    shown = properties(cli("snapshot-show", f"renamed-{tag}").stdout)
    assert (shown["id"], shown["description"]) == (snap["id"], "new")
    cli("snapshot-delete", snap["id"])
    _wait_gone(cli, "snapshot", snap["id"])
    assert not basalt.snapshot_file(snap["id"]).exists()
    assert _read(basalt.volume_file(copy["id"])) == {0xA5}
    for v in (vol, copy["id"], clone["id"]):
        cli("delete", v)
    for v in (vol, copy["id"], clone["id"]):
        _wait_gone(cli, "volume", v)


def test_cascade_delete_with_cinderclient_v2(basalt, tenant):
    env = tenant.env()

    def cli(*args, check=True):
        return basalt.cinder7(*args, env=env, check=check)

    vol = properties(cli("create", "1").stdout)["id"]
    _wait_status(cli, "volume", vol, "available")
    snaps = [properties(cli("snapshot-create", vol).stdout)["id"] for _ in range(2)]
    for s in snaps:
        _wait_status(cli, "snapshot", s, "available")
    p = cli("delete", "--cascade", vol)
    assert "has been accepted" in p.stdout, p.stdout
    _wait_gone(cli, "volume", vol)
    for s in snaps:
        assert _status_of(cli, "snapshot", s) is None
        assert not basalt.snapshot_file(s).exists()


@pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])
def test_snapshots_with_openstacksdk(basalt, tenant, api):
    conn = openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_url=basalt.openrc["OS_AUTH_URL"],
        username=tenant.user["name"],
        password=tenant.password,
        project_name=tenant.name,
        user_domain_name="Default",
        project_domain_name="Default",
        cacert=basalt.ca,
        block_storage_api_version=api,
    )
    bs = conn.block_storage
    try:
        vol = bs.create_volume(size=1, name=f"sdk-src-{api}")
        vol = bs.wait_for_status(vol, "available", failures=["error"], **WAIT)
        _write(basalt.volume_file(vol.id), 0x33, 5 * MiB)

        snap = bs.create_snapshot(volume_id=vol.id, name=f"sdk-snap-{api}", description="d")
        assert snap.status in ("creating", "available")
        snap = bs.wait_for_status(snap, "available", failures=["error"], **WAIT)
        assert (snap.size, snap.volume_id, snap.description) == (1, vol.id, "d")
        assert [s.id for s in bs.snapshots()] == [snap.id]
        assert [s.id for s in bs.snapshots(details=False)] == [snap.id]
        assert bs.get_snapshot(snap.id).name == f"sdk-snap-{api}"

        copy = bs.create_volume(snapshot_id=snap.id, name=f"sdk-copy-{api}")
        copy = bs.wait_for_status(copy, "available", failures=["error"], **WAIT)
        assert (copy.size, copy.snapshot_id) == (1, snap.id)
        assert _read(basalt.volume_file(copy.id), 5 * MiB) == {0x33}

        clone = bs.create_volume(source_volume_id=vol.id, size=1)
        clone = bs.wait_for_status(clone, "available", failures=["error"], **WAIT)
        assert clone.source_volume_id == vol.id
        assert _read(basalt.volume_file(clone.id), 5 * MiB) == {0x33}

        bs.delete_snapshot(snap)
        bs.wait_for_delete(snap, **WAIT)
        for v in (copy, clone, vol):
            bs.delete_volume(v)
        for v in (copy, clone, vol):
            bs.wait_for_delete(v, **WAIT)
    finally:
        conn.close()
