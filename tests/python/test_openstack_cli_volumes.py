"""Volumes, quotas and limits with the `openstack` CLI (python-openstackclient 10.5, whose
volume commands go through openstacksdk), as a member of a project of this module's own,
on block-storage v3 (the default) and v2 (`--os-volume-api-version 2`)."""

import json
import uuid

import pytest

from support import wait_until

VERSIONS = pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])


@pytest.fixture(scope="module")
def osc(basalt, tenant):
    """Runs `openstack [--os-volume-api-version V] ...` as the module's member user."""

    def run(*args, api="3", check=True):
        return basalt.openstack("--os-volume-api-version", api, *args, env=tenant.env(),
                                check=check)

    def run_json(*args, api="3"):
        return json.loads(run(*args, "-f", "json", api=api).stdout)

    run.json = run_json
    return run


def _wait_available(osc, ref, api, size):
    def probe():
        vol = osc.json("volume", "show", ref, api=api)
        assert not vol["status"].startswith("error"), vol
        return vol if (vol["status"], vol["size"]) == ("available", size) else None

    return wait_until(probe, f"volume {ref} to be available with size {size}")


@VERSIONS
def test_volume_life_cycle(basalt, osc, tenant, api):
    name = f"osc{api}-{uuid.uuid4().hex[:8]}"
    created = osc.json("volume", "create", "--size", "1", name, api=api)
    volume_id = created["id"]
    try:
        assert created["name"] == name
        assert created["size"] == 1
        assert created["status"] in ("creating", "available"), created

        vol = _wait_available(osc, name, api, 1)
        assert vol["id"] == volume_id
        assert vol["type"] == "__DEFAULT__"
        assert vol["bootable"] is False
        assert vol["encrypted"] is False
        assert vol["properties"] == {}
        assert vol["os-vol-tenant-attr:tenant_id"] == tenant.project_id
        assert vol["user_id"] == tenant.user["id"]
        basalt.assert_volume_file(volume_id, 1)

        listed = osc.json("volume", "list", api=api)
        assert [(v["ID"], v["Name"], v["Status"], v["Size"]) for v in listed] == [
            (volume_id, name, "available", 1)
        ]

        osc("volume", "set", "--size", "2", name, api=api)
        _wait_available(osc, volume_id, api, 2)
        basalt.assert_volume_file(volume_id, 2)

        osc("volume", "set", "--property", "k=v", "--property", "gone=soon", name, api=api)
        osc("volume", "unset", "--property", "gone", name, api=api)
        if api == "3":
            # OSC 10.5's v2 `volume set` hands display_name/display_description to the SDK's
            # v2 Volume, which has no such attributes: no PUT is sent at all (client bug).
            osc("volume", "set", "--description", "described", name, api=api)
        vol = osc.json("volume", "show", volume_id, api=api)
        assert vol["properties"] == {"k": "v"}
        assert vol["description"] == ("described" if api == "3" else None)
        assert vol["size"] == 2

        long = osc.json("volume", "list", "--long", api=api)
        assert [(v["ID"], v["Properties"], v["Type"]) for v in long] == [
            (volume_id, {"k": "v"}, "__DEFAULT__")
        ]

        osc("volume", "delete", name, api=api)
    finally:
        osc("volume", "delete", volume_id, api=api, check=False)

    def gone():
        p = osc("volume", "show", volume_id, api=api, check=False)
        return p if p.returncode != 0 else None

    p = wait_until(gone, f"volume {volume_id} to be deleted")
    assert f"No Volume found for {volume_id}" in p.stderr, p.stderr
    assert not basalt.volume_file(volume_id).exists(), basalt.volume_files()
    assert osc.json("volume", "list", api=api) == []


@VERSIONS
def test_quota_show_volume(osc, tenant, api):
    for args in ([], [tenant.project_id]):
        rows = osc.json("quota", "show", "--volume", *args, api=api)
        limits = {r["Resource"]: r["Limit"] for r in rows}
        expected = {
            "volumes": 10,
            "snapshots": 10,
            "gigabytes": 1000,
            "backups": 10,
            "backup-gigabytes": 1000,
            "per-volume-gigabytes": -1,
            "volumes___DEFAULT__": -1,
        }
        assert {k: limits.get(k) for k in expected} == expected, rows


def test_quota_show_volume_usage_and_absolute_limits_count_a_volume(osc, tenant):
    def usage():
        rows = osc.json("quota", "show", "--volume", "--usage")
        return {r["Resource"]: (r["Limit"], r["In Use"], r["Reserved"]) for r in rows}

    def absolute(api):
        return {r["Name"]: r["Value"] for r in osc.json("limits", "show", "--absolute", api=api)}

    assert usage()["volumes"] == (10, 0, 0)
    created = osc.json("volume", "create", "--size", "1", "counted")
    try:
        _wait_available(osc, created["id"], "3", 1)
        assert usage()["volumes"] == (10, 1, 0)
        assert usage()["gigabytes"] == (1000, 1, 0)
        for api in ("3", "2"):
            assert absolute(api) == {
                "max_total_volumes": 10,
                "max_total_snapshots": 10,
                "max_total_volume_gigabytes": 1000,
                "max_total_backups": 10,
                "max_total_backup_gigabytes": 1000,
                "total_volumes_used": 1,
                "total_gigabytes_used": 1,
                "total_snapshots_used": 0,
                "total_backups_used": 0,
                "total_backup_gigabytes_used": 0,
            }
    finally:
        osc("volume", "delete", created["id"])
    wait_until(lambda: osc.json("volume", "list") == [], "volume counted to be deleted")


def test_admin_sets_and_deletes_the_project_volume_quotas(basalt, osc, tenant):
    def limits():
        return {r["Resource"]: r["Limit"] for r in osc.json("quota", "show", "--volume")}

    try:
        basalt.openstack(
            "quota", "set", "--volumes", "3", "--gigabytes", "30", "--per-volume-gigabytes", "5",
            tenant.project_id,
        )
        got = limits()
        assert (got["volumes"], got["gigabytes"], got["per-volume-gigabytes"]) == (3, 30, 5)
    finally:
        basalt.openstack("quota", "delete", "--volume", tenant.project_id)
    got = limits()
    assert (got["volumes"], got["gigabytes"], got["per-volume-gigabytes"]) == (10, 1000, -1)
