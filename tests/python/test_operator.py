"""The operator's view with the `openstack` CLI as the admin: volume services and their
state, availability zones, backend pools with their capacity, disabling a service so that
the scheduler places new volumes elsewhere, and a type that chooses its backend. The session's
server has two backends: "file" in zone nova (NBD) and "file-iscsi" in zone iscsi."""

import json

import pytest

from support import wait_until


def _osc(basalt, *args, check=True):
    return basalt.openstack(*args, check=check)


def _json(basalt, *args):
    return json.loads(_osc(basalt, *args, "-f", "json").stdout)


def test_services_zones_and_pools(basalt):
    services = _json(basalt, "volume", "service", "list", "--long")
    volume = [s for s in services if s["Binary"] == "cinder-volume"]
    assert sorted(s["Host"].split("@")[1] for s in volume) == ["file", "file-iscsi"], services
    assert all(s["Status"] == "enabled" and s["State"] == "up" for s in services), services
    assert any(s["Binary"] == "cinder-scheduler" for s in services), services

    zones = _json(basalt, "availability", "zone", "list", "--volume")
    assert {(z["Zone Name"], z["Zone Status"]) for z in zones} >= {
        ("nova", "available"), ("iscsi", "available")}, zones

    pools = _json(basalt, "volume", "backend", "pool", "list", "--long")
    names = sorted(p["Name"] for p in pools)
    assert [n.split("#")[1] for n in names] == ["file", "file-iscsi"], pools
    for p in pools:
        caps = p["Capabilities"]
        assert caps["total_capacity_gb"] > 0 and caps["thin_provisioning_support"], p
        assert caps["storage_protocol"] in ("NBD", "iSCSI"), p


def test_a_disabled_service_takes_no_new_volumes(basalt, tenant):
    services = _json(basalt, "volume", "service", "list")
    host = next(s["Host"] for s in services
                if s["Binary"] == "cinder-volume" and s["Host"].endswith("@file"))
    created = []
    try:
        _osc(basalt, "volume", "service", "set", "--disable", "--disable-reason", "maintenance",
             host, "cinder-volume")
        row = next(s for s in _json(basalt, "volume", "service", "list", "--long")
                   if s["Host"] == host)
        assert (row["Status"], row["Disabled Reason"]) == ("disabled", "maintenance"), row
        # The only backend of zone nova is disabled: the volume is in error, with a reason.
        vol = json.loads(basalt.openstack("volume", "create", "--size", "1", "nowhere",
                                          "-f", "json", env=tenant.env()).stdout)
        created.append(vol["id"])
        wait_until(lambda: tenant.volume_status(vol["id"]) == "error", "volume in error")
    finally:
        _osc(basalt, "volume", "service", "set", "--enable", host, "cinder-volume")
    vol = json.loads(basalt.openstack("volume", "create", "--size", "1", "again",
                                      "-f", "json", env=tenant.env()).stdout)
    created.append(vol["id"])
    wait_until(lambda: tenant.volume_status(vol["id"]) == "available", "volume available")
    for vid in created:
        basalt.openstack("volume", "delete", vid, env=tenant.env())
    for vid in created:
        wait_until(lambda vid=vid: tenant.volume_status(vid) is None, f"volume {vid} gone")


@pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])
def test_a_type_chooses_its_backend(basalt, tenant, api):
    name = f"on-iscsi-{api}"
    t = _json(basalt, "--os-volume-api-version", api, "volume", "type", "create",
              "--property", "volume_backend_name=file-iscsi", name)
    try:
        vol = json.loads(basalt.openstack(
            "--os-volume-api-version", api, "volume", "create", "--size", "1", "--type", name,
            "--availability-zone", "iscsi", f"typed-{api}", "-f", "json",
            env=tenant.env()).stdout)
        wait_until(lambda: tenant.volume_status(vol["id"]) == "available", "volume available")
        shown = _json(basalt, "volume", "show", vol["id"])
        assert shown["os-vol-host-attr:host"].endswith("@file-iscsi#file-iscsi"), shown
        assert (basalt.data_dir / "volumes-iscsi" / f"volume-{vol['id']}").is_file()
        basalt.openstack("volume", "delete", vol["id"], env=tenant.env())
        wait_until(lambda: tenant.volume_status(vol["id"]) is None, "volume gone")
    finally:
        _osc(basalt, "volume", "type", "delete", t["id"], check=False)
