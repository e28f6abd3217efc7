"""The `cinder` CLI (python-cinderclient 9, block-storage v3 only) with the admin openrc, and
the volume life cycle as a member of a project of this module's own."""

import uuid

from support import properties, table, wait_until


def test_list_extensions_succeeds_without_a_microversion(basalt):
    p = basalt.cinder("--debug", "list-extensions")
    # The server's maximum microversion is 3.0, so the client negotiates down to it and
    # sends no OpenStack-API-Version header at all.
    assert "downgrading to 3.0 based on server support" in p.stderr
    requests_sent = [line for line in p.stderr.splitlines() if line.startswith("REQ: curl")]
    assert requests_sent, p.stderr
    assert not [line for line in requests_sent if "openstack-api-version" in line.lower()]
    assert "/extensions" in p.stderr
    for column in ("Name", "Summary", "Alias", "Updated"):
        assert column in p.stdout


def test_version_list_shows_v3_as_current(basalt):
    p = basalt.cinder("version-list")
    lines = [line for line in p.stdout.splitlines() if "v3.0" in line]
    assert len(lines) == 1, p.stdout
    assert "CURRENT" in lines[0]
    assert "3.0" in lines[0].replace("v3.0", "")


def test_explicit_microversion_3_0_is_accepted(basalt):
    basalt.cinder("--os-volume-api-version", "3.0", "list-extensions")


def test_client_asking_for_a_higher_microversion_negotiates_down_to_3_0(basalt):
    p = basalt.cinder("--os-volume-api-version", "3.5", "list-extensions")
    assert "downgrading to 3.0 based on server support" in p.stderr


def test_volume_life_cycle_as_a_member(basalt, tenant):
    env = tenant.env()

    def cinder(*args, check=True):
        return basalt.cinder(*args, env=env, check=check)

    def show(ref):
        return properties(cinder("show", ref).stdout)

    def wait_available(ref, size):
        def probe():
            vol = show(ref)
            assert not vol["status"].startswith("error"), vol
            return vol if (vol["status"], vol["size"]) == ("available", size) else None

        return wait_until(probe, f"volume {ref} to be available with size {size}")

    name = f"c9-{uuid.uuid4().hex[:8]}"
    p = cinder("--debug", "create", "--name", name, "1")
    created = properties(p.stdout)
    volume_id = created["id"]
    try:
        assert f"POST {basalt.volume}/v3/{tenant.project_id}/volumes " in p.stderr, p.stderr
        assert created["name"] == name
        assert created["size"] == "1"
        # A name lookup from a non-admin carries all_tenants=1, which the server ignores.
        vol = wait_available(name, "1")
        assert vol["id"] == volume_id
        assert vol["os-vol-tenant-attr:tenant_id"] == tenant.project_id
        basalt.assert_volume_file(volume_id, 1)

        rows = table(cinder("list").stdout)
        assert [(r["ID"], r["Name"], r["Status"], r["Size"]) for r in rows] == [
            (volume_id, name, "available", "1")
        ]

        cinder("extend", name, "2")
        wait_available(volume_id, "2")
        basalt.assert_volume_file(volume_id, 2)

        p = cinder("delete", name)
        assert f"Request to delete volume {name} has been accepted." in p.stdout, p.stdout
    finally:
        cinder("delete", volume_id, check=False)

    def gone():
        p = cinder("show", volume_id, check=False)
        return p if p.returncode != 0 else None

    p = wait_until(gone, f"volume {volume_id} to be deleted")
    assert f"No volume with a name or ID of '{volume_id}' exists." in p.stderr, p.stderr
    assert not basalt.volume_file(volume_id).exists(), basalt.volume_files()
    assert table(cinder("list").stdout) == []
