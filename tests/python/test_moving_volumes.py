"""Moving volumes and the admin's volume actions with the real clients: `openstack volume set
--state` (os-reset_status) and `volume delete --force` (os-force_delete), `volume delete
--remote` (os-unmanage), cinder 7's `manageable-list` and `manage` (os-volume-manage),
`volume set --type --migration-policy` (os-retype) and `volume migrate` (os-migrate_volume)
between the session's two backends, its data checked byte for byte."""

import json

from support import properties, wait_until


def _admin_json(basalt, *args):
    return basalt.openstack_json(*args)


def _host_of(basalt, backend: str) -> str:
    services = _admin_json(basalt, "volume", "service", "list")
    host = next(s["Host"] for s in services
                if s["Binary"] == "cinder-volume" and s["Host"].endswith("@" + backend))
    return f"{host}#{backend}"


def _create(basalt, tenant, name: str, *extra: str) -> str:
    vol = json.loads(basalt.openstack("volume", "create", "--size", "1", *extra, name,
                                      "-f", "json", env=tenant.env()).stdout)
    wait_until(lambda: tenant.volume_status(vol["id"]) == "available", f"{name} available")
    return vol["id"]


def _admin_show(basalt, volume_id: str) -> dict:
    return _admin_json(basalt, "volume", "show", volume_id)


def test_reset_state_and_force_delete(basalt, tenant):
    vid = _create(basalt, tenant, "stuck")
    denied = basalt.openstack("volume", "set", "--state", "error", vid,
                              env=tenant.env(), check=False)
    assert denied.returncode != 0 and "403" in denied.stderr, denied.stderr
    basalt.openstack("volume", "set", "--state", "error_deleting", vid)
    assert tenant.volume_status(vid) == "error_deleting"
    refused = basalt.openstack("volume", "delete", vid, env=tenant.env(), check=False)
    assert refused.returncode != 0, refused.stdout
    basalt.openstack("volume", "delete", "--force", vid)
    wait_until(lambda: tenant.volume_status(vid) is None, "force-deleted volume gone")
    assert not basalt.volume_file(vid).exists()


def test_unmanage_list_and_manage_again(basalt):
    host = _host_of(basalt, "file")
    vol = basalt.openstack_json("volume", "create", "--size", "1", "to-forget")
    wait_until(lambda: _admin_show(basalt, vol["id"])["status"] == "available", "available")
    path = basalt.volume_file(vol["id"])
    with open(path, "r+b") as f:
        f.write(b"kept across unmanage")
    basalt.openstack("volume", "delete", "--remote", vol["id"])
    gone = basalt.openstack("volume", "show", vol["id"], check=False)
    assert gone.returncode != 0
    assert path.is_file()

    listed = basalt.cinder7("manageable-list", "--detailed", "True", host).stdout
    row = next(line for line in listed.splitlines() if f"volume-{vol['id']}" in line)
    assert "True" in row, listed

    out = basalt.cinder7("manage", "--name", "adopted", host, f"volume-{vol['id']}").stdout
    adopted = properties(out)
    wait_until(lambda: _admin_show(basalt, adopted["id"])["status"] == "available",
               "adopted volume available")
    new_path = basalt.volume_file(adopted["id"])
    assert new_path.read_bytes()[:20] == b"kept across unmanage"
    assert not path.exists()
    basalt.openstack("volume", "delete", adopted["id"])


def test_retype_and_migrate_between_backends(basalt, tenant):
    to_host = _host_of(basalt, "file-iscsi")
    vid = _create(basalt, tenant, "mover")
    data = bytes(range(256)) * 4096
    with open(basalt.volume_file(vid), "r+b") as f:
        f.seek(300 << 20)
        f.write(data)
    # In place: the default backend suits a type without specs.
    basalt.openstack("volume", "type", "create", "plain-move")
    basalt.openstack("volume", "set", "--type", "plain-move", vid, env=tenant.env())
    assert _admin_show(basalt, vid)["type"] == "plain-move"
    # A type for the other backend needs a move, which `never` refuses.
    basalt.openstack("volume", "type", "create", "--property",
                     "volume_backend_name=file-iscsi", "iscsi-move")
    refused = basalt.openstack("volume", "set", "--type", "iscsi-move", "--migration-policy",
                               "never", vid, env=tenant.env(), check=False)
    assert refused.returncode != 0
    assert _admin_show(basalt, vid)["type"] == "plain-move"

    basalt.openstack("volume", "migrate", "--host", to_host, "--lock-volume", vid)
    wait_until(lambda: _admin_show(basalt, vid)["os-vol-mig-status-attr:migstat"] == "success",
               "migration done")
    shown = _admin_show(basalt, vid)
    assert shown["id"] == vid and shown["status"] == "available", shown
    assert shown["os-vol-host-attr:host"] == to_host, shown
    moved = basalt.data_dir / "volumes-iscsi" / f"volume-{vid}"
    with open(moved, "rb") as f:
        f.seek(300 << 20)
        assert f.read(len(data)) == data
    wait_until(lambda: not basalt.volume_file(vid).exists(), "source copy dropped")
    basalt.openstack("volume", "delete", vid, env=tenant.env())
    wait_until(lambda: tenant.volume_status(vid) is None, "moved volume deleted")
    for t in ("plain-move", "iscsi-move"):
        basalt.openstack("volume", "type", "delete", t)
