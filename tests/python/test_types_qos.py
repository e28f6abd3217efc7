"""Volume types and QoS specs with the `openstack` CLI as the admin (types with properties,
private types with project access, QoS specs and their association), and typed volumes made
by a member, on block-storage v3 and v2. Every type and spec is removed again, since the
session's server is shared with the other modules (quota sets list every type)."""

import json
import uuid

import pytest

from support import wait_until

VERSIONS = pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])


def _admin(basalt, api):
    def run(*args, check=True):
        return basalt.openstack("--os-volume-api-version", api, *args, check=check)

    run.json = lambda *args: json.loads(run(*args, "-f", "json").stdout)
    return run


@VERSIONS
def test_types_qos_and_typed_volumes(basalt, tenant, api):
    osc = _admin(basalt, api)
    suffix = uuid.uuid4().hex[:6]
    gold, secret, fast = f"gold-{suffix}", f"secret-{suffix}", f"fast-{suffix}"
    member = lambda *a, check=True: basalt.openstack(  # noqa: E731
        "--os-volume-api-version", api, *a, env=tenant.env(), check=check)
    volume_id = None
    try:
        t = osc.json("volume", "type", "create", "--description", "fast disks",
                     "--property", "volume_backend_name=file", gold)
        assert t["name"] == gold, t
        # openstackclient's v2 type commands do not print the description.
        assert t.get("description", "fast disks") == "fast disks", t
        shown = osc.json("volume", "type", "show", gold)
        assert "volume_backend_name='file'" in str(shown["properties"]) or \
            shown["properties"] == {"volume_backend_name": "file"}, shown
        assert shown["is_public"] is True

        q = osc.json("volume", "qos", "create", "--consumer", "front-end",
                     "--property", "total_iops_sec=100", fast)
        assert q["consumer"] == "front-end", q
        osc("volume", "qos", "associate", fast, gold)
        qs = osc.json("volume", "qos", "show", fast)
        assert qs["associations"] in ([gold], gold) or gold in str(qs["associations"]), qs
        assert "total_iops_sec" in str(qs["properties"]), qs

        # A member creates a volume of the type; the connection info carries the spec.
        created = json.loads(member("volume", "create", "--size", "1", "--type", gold,
                                    f"typed-{suffix}", "-f", "json").stdout)
        volume_id = created["id"]
        wait_until(lambda: tenant.volume_status(volume_id) == "available",
                   f"volume {volume_id} available")
        vol = json.loads(member("volume", "show", volume_id, "-f", "json").stdout)
        assert vol["type"] == gold, vol
        r = tenant.volume_api("POST", f"/volumes/{volume_id}/action",
                              json={"os-initialize_connection": {
                                  "connector": {"host": "c1", "do_local_attach": True}}})
        assert r.status_code == 200, r.text
        assert r.json()["connection_info"]["data"]["qos_specs"] == {"total_iops_sec": "100"}

        # In use: the type keeps its properties and cannot be deleted.
        p = osc("volume", "type", "set", "--property", "x=y", gold, check=False)
        assert p.returncode != 0 and "currently in use" in p.stderr, (p.stdout, p.stderr)
        p = osc("volume", "type", "delete", gold, check=False)
        assert p.returncode != 0, p.stdout
        member("volume", "delete", volume_id)
        wait_until(lambda: tenant.volume_status(volume_id) is None, "volume gone")
        volume_id = None
        osc("volume", "type", "set", "--property", "x=y", gold)
        assert osc.json("volume", "type", "show", gold)["properties"] in (
            {"volume_backend_name": "file", "x": "y"},
            "volume_backend_name='file', x='y'")

        # A private type: invisible to the member until its project is granted access.
        # (By id: like Cinder, an admin's listing shows public types unless asked, and the
        # v2 commands of openstackclient find a type by name through the listing.)
        secret_id = osc.json("volume", "type", "create", "--private", secret)["id"]
        p = member("volume", "type", "show", secret_id, check=False)
        assert p.returncode != 0
        osc("volume", "type", "set", "--project", tenant.project_id, secret_id)
        assert json.loads(member("volume", "type", "show", secret_id, "-f", "json").stdout)[
            "name"] == secret
        osc("volume", "type", "unset", "--project", tenant.project_id, secret_id)
        assert member("volume", "type", "show", secret_id, check=False).returncode != 0

        # Bad input: a duplicate name and a 256-character name are refused.
        p = osc("volume", "type", "create", gold, check=False)
        assert p.returncode != 0 and "already exists" in p.stderr, p.stderr
        p = osc("volume", "type", "create", "n" * 256, check=False)
        assert p.returncode != 0, p.stdout
        p = osc("volume", "qos", "create", "--consumer", "sideways", f"bad-{suffix}",
                check=False)
        assert p.returncode != 0

        osc("volume", "qos", "disassociate", "--volume-type", gold, fast)
    finally:
        if volume_id:
            member("volume", "delete", volume_id, check=False)
            wait_until(lambda: tenant.volume_status(volume_id) is None, "volume gone")
        for t in osc.json("volume", "type", "list", "--long", "--private") + \
                osc.json("volume", "type", "list"):
            if t["Name"] in (gold, secret):
                osc("volume", "type", "delete", t["ID"], check=False)
        osc("volume", "qos", "delete", "--force", fast, check=False)
    names = [t["Name"] for t in osc.json("volume", "type", "list") +
             osc.json("volume", "type", "list", "--private")]
    assert gold not in names and secret not in names
