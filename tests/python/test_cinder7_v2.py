"""python-cinderclient 7.4.1 with `--os-volume-api-version 2` (its own venv, see
scripts/python-env.sh): the volume life cycle on /v2, quotas and limits, as a member of a
project of this module's own."""

import uuid

import pytest

from support import properties, table, wait_until


@pytest.fixture(scope="module")
def cinder7(basalt, tenant):
    """Runs the v2 cinder CLI as the module's member user; returns the completed process."""

    def run(*args, check=True):
        return basalt.cinder7(*args, env=tenant.env(), check=check)

    return run


def _show(cinder7, ref):
    return properties(cinder7("show", ref).stdout)


def _wait_available(cinder7, ref, **expect):
    def probe():
        vol = _show(cinder7, ref)
        assert not vol["status"].startswith("error"), vol
        if vol["status"] == "available" and all(vol[k] == v for k, v in expect.items()):
            return vol
        return None

    return wait_until(probe, f"volume {ref} to be available with {expect}")


def _wait_gone(cinder7, volume_id):
    def probe():
        p = cinder7("show", volume_id, check=False)
        return p if p.returncode != 0 else None

    p = wait_until(probe, f"volume {volume_id} to be deleted")
    assert f"No volume with a name or ID of '{volume_id}' exists." in p.stderr, p.stderr


def test_v2_client_talks_to_the_v2_endpoint(basalt, cinder7, tenant):
    p = cinder7("--debug", "list")
    sent = [line for line in p.stderr.splitlines() if "REQ: curl" in line]
    to_volume = [line for line in sent if basalt.volume in line]
    assert len(to_volume) == 1, sent
    assert f"GET {basalt.volume}/v2/{tenant.project_id}/volumes/detail " in to_volume[0]
    assert "openstack-api-version" not in to_volume[0].lower()
    assert table(p.stdout) == []


def test_without_a_version_the_client_negotiates_v3_down_to_3_0(basalt, tenant):
    p = basalt.cinder7("--debug", "list", env=tenant.env(), api_version=None)
    sent = [line for line in p.stderr.splitlines() if "REQ: curl" in line]
    to_volume = [line for line in sent if basalt.volume in line]
    # 7.4.1 asks for its maximum (3.64) on the version document, then speaks 3.0 without
    # a header, as the server's maximum is 3.0.
    assert len(to_volume) == 2, sent
    assert f"GET {basalt.volume}/ " in to_volume[0]
    assert "OpenStack-API-Version: volume 3.64" in to_volume[0]
    assert f"GET {basalt.volume}/v3/{tenant.project_id}/volumes/detail " in to_volume[1]
    assert "openstack-api-version" not in to_volume[1].lower()
    assert table(p.stdout) == []


def test_volume_life_cycle(basalt, cinder7, tenant):
    name = f"c7-{uuid.uuid4().hex[:8]}"
    created = properties(cinder7("create", "--name", name, "1").stdout)
    volume_id = created["id"]
    try:
        assert created["name"] == name
        assert created["size"] == "1"
        assert created["status"] in ("creating", "available"), created
        assert created["os-vol-tenant-attr:tenant_id"] == tenant.project_id
        assert created["user_id"] == tenant.user["id"]

        vol = _wait_available(cinder7, name)
        assert vol["id"] == volume_id
        assert vol["volume_type"] == "__DEFAULT__"
        assert vol["bootable"] == "false"
        assert vol["metadata"] == ""
        basalt.assert_volume_file(volume_id, 1)

        rows = table(cinder7("list").stdout)
        assert [(r["ID"], r["Name"], r["Status"], r["Size"]) for r in rows] == [
            (volume_id, name, "available", "1")
        ]

        cinder7("metadata", name, "set", "k=v", "other=x y")
        shown = properties(cinder7("metadata-show", name).stdout)
        assert shown == {"k": "v", "other": "x y"}
        cinder7("metadata", name, "unset", "other")
        assert properties(cinder7("metadata-show", name).stdout) == {"k": "v"}
        assert _show(cinder7, volume_id)["metadata"] == "k : v"

        cinder7("extend", name, "2")
        vol = _wait_available(cinder7, volume_id, size="2")
        basalt.assert_volume_file(volume_id, 2)
        limits = properties(cinder7("absolute-limits").stdout)
        assert limits["totalGigabytesUsed"] == "2"

        renamed = f"{name}-renamed"
        cinder7("rename", name, renamed, "--description", "grown to 2 GiB")
        vol = _show(cinder7, renamed)
        assert vol["id"] == volume_id
        assert vol["name"] == renamed
        assert vol["description"] == "grown to 2 GiB"
        p = cinder7("show", name, check=False)
        assert p.returncode != 0
        assert f"No volume with a name or ID of '{name}' exists." in p.stderr, p.stderr

        p = cinder7("delete", renamed)
        assert f"Request to delete volume {renamed} has been accepted." in p.stdout, p.stdout
    finally:
        cinder7("delete", volume_id, check=False)
    _wait_gone(cinder7, volume_id)
    assert not basalt.volume_file(volume_id).exists(), basalt.volume_files()
    assert table(cinder7("list").stdout) == []


def test_quota_show_lists_the_default_limits(cinder7, tenant):
    quotas = properties(cinder7("quota-show", tenant.project_id).stdout)
    expected = {
        "volumes": "10",
        "snapshots": "10",
        "gigabytes": "1000",
        "backups": "10",
        "backup_gigabytes": "1000",
        "per_volume_gigabytes": "-1",
        "volumes___DEFAULT__": "-1",
        "gigabytes___DEFAULT__": "-1",
        "snapshots___DEFAULT__": "-1",
    }
    assert {k: quotas.get(k) for k in expected} == expected, quotas


def test_quota_usage_and_absolute_limits_count_a_volume(cinder7, tenant):
    def usage():
        rows = table(cinder7("quota-usage", tenant.project_id).stdout)
        return {r["Type"]: (r["In_use"], r["Reserved"], r["Limit"]) for r in rows}

    before = usage()
    assert before["volumes"] == ("0", "0", "10"), before
    assert before["gigabytes"] == ("0", "0", "1000"), before

    created = properties(cinder7("create", "--name", "counted", "1").stdout)
    try:
        _wait_available(cinder7, created["id"])
        after = usage()
        assert after["volumes"] == ("1", "0", "10"), after
        assert after["gigabytes"] == ("1", "0", "1000"), after
        assert after["volumes___DEFAULT__"] == ("1", "0", "-1"), after

        limits = properties(cinder7("absolute-limits").stdout)
        assert limits == {
            "maxTotalVolumes": "10",
            "maxTotalSnapshots": "10",
            "maxTotalVolumeGigabytes": "1000",
            "maxTotalBackups": "10",
            "maxTotalBackupGigabytes": "1000",
            "totalVolumesUsed": "1",
            "totalGigabytesUsed": "1",
            "totalSnapshotsUsed": "0",
            "totalBackupsUsed": "0",
            "totalBackupGigabytesUsed": "0",
        }
    finally:
        cinder7("delete", created["id"])
    _wait_gone(cinder7, created["id"])
    assert usage()["volumes"] == ("0", "0", "10")


def test_admin_updates_and_resets_the_project_quotas(basalt, cinder7, tenant):
    admin = basalt.cli_env()
    try:
        updated = properties(basalt.cinder7(
            "quota-update", "--volumes", "5", "--gigabytes", "50",
            "--per-volume-gigabytes", "10", tenant.project_id, env=admin,
        ).stdout)
        assert (updated["volumes"], updated["gigabytes"], updated["per_volume_gigabytes"]) == (
            "5", "50", "10",
        )
        shown = properties(cinder7("quota-show", tenant.project_id).stdout)
        assert (shown["volumes"], shown["gigabytes"], shown["per_volume_gigabytes"]) == (
            "5", "50", "10",
        )
        defaults = properties(cinder7("quota-defaults", tenant.project_id).stdout)
        assert (defaults["volumes"], defaults["gigabytes"]) == ("10", "1000")

        p = cinder7("quota-update", "--volumes", "100", tenant.project_id, check=False)
        assert p.returncode != 0
        assert (
            "ERROR: Policy doesn't allow volume_extension:quotas:update to be performed. "
            "(HTTP 403)" in p.stderr
        ), p.stderr
    finally:
        basalt.cinder7("quota-delete", tenant.project_id, env=admin)
    shown = properties(cinder7("quota-show", tenant.project_id).stdout)
    assert (shown["volumes"], shown["gigabytes"], shown["per_volume_gigabytes"]) == (
        "10", "1000", "-1",
    )
