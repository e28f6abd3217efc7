"""Volume transfers with python-cinderclient 7.4.1 on v2 between two tenants of this test's
own: transfer-create, -list, -show, -delete and -accept, a snapshot moving with its volume,
a wrong key refused, and both projects' quota usage following the volume."""

import uuid

import pytest

from support import properties, table, wait_until


def _usage(basalt, project_id: str) -> dict[str, int]:
    r = basalt.admin_volume("GET", f"/os-quota-sets/{project_id}?usage=true")
    assert r.status_code == 200, r.text
    q = r.json()["quota_set"]
    return {k: q[k]["in_use"] for k in ("volumes", "gigabytes", "snapshots")}


def _wait_status(cli, kind: str, ref: str, status: str):
    def probe():
        p = cli(f"{kind}-show" if kind == "snapshot" else "show", ref, check=False)
        now = properties(p.stdout)["status"] if p.returncode == 0 else None
        assert now is None or not now.startswith("error"), f"{kind} {ref} is {now}"
        return now == status

    wait_until(probe, f"{kind} {ref} to be {status}")


@pytest.fixture
def donor_and_acceptor(basalt):
    donor, acceptor = basalt.new_tenant(), basalt.new_tenant()
    yield donor, acceptor
    basalt.drop_tenant(donor)
    basalt.drop_tenant(acceptor)


def test_a_volume_and_its_snapshot_change_hands_with_the_v2_cinder_cli(
    basalt, donor_and_acceptor
):
    donor, acceptor = donor_and_acceptor

    def give(*args, check=True):
        return basalt.cinder7(*args, env=donor.env(), check=check)

    def take(*args, check=True):
        return basalt.cinder7(*args, env=acceptor.env(), check=check)

    tag = uuid.uuid4().hex[:8]
    vol = properties(give("create", "--name", f"gift-{tag}", "1").stdout)["id"]
    _wait_status(give, "volume", vol, "available")
    snap = properties(give("snapshot-create", "--name", f"snap-{tag}", vol).stdout)["id"]
    _wait_status(give, "snapshot", snap, "available")
    assert _usage(basalt, donor.project_id) == {"volumes": 1, "gigabytes": 2, "snapshots": 1}
    assert _usage(basalt, acceptor.project_id) == {"volumes": 0, "gigabytes": 0, "snapshots": 0}

    # An offer cancelled gives the volume back.
    first = properties(give("transfer-create", vol).stdout)
    assert properties(give("show", vol).stdout)["status"] == "awaiting-transfer"
    give("transfer-delete", first["id"])
    assert properties(give("show", vol).stdout)["status"] == "available"
    assert table(give("transfer-list").stdout) == []

    offer = properties(give("transfer-create", "--name", f"t-{tag}", vol).stdout)
    assert sorted(offer) == ["auth_key", "created_at", "id", "name", "volume_id"]
    assert len(offer["auth_key"]) == 16 and offer["volume_id"] == vol
    rows = table(give("transfer-list").stdout)
    assert [(r["ID"], r["Volume ID"], r["Name"]) for r in rows] == [
        (offer["id"], vol, f"t-{tag}")
    ]
    shown = properties(give("transfer-show", offer["id"]).stdout)
    assert sorted(shown) == ["created_at", "id", "name", "volume_id"]
    # The acceptor sees no offers of its own, and a wrong key is refused.
    assert table(take("transfer-list").stdout) == []
    p = take("transfer-accept", offer["id"], "0" * 16, check=False)
    assert p.returncode != 0
    assert (
        f"Invalid auth key: Attempt to transfer {offer['id']} with invalid auth key."
        in p.stderr
    ), p.stderr

    accepted = properties(take("transfer-accept", offer["id"], offer["auth_key"]).stdout)
    assert accepted == {"id": offer["id"], "name": f"t-{tag}", "volume_id": vol}
    assert properties(take("show", vol).stdout)["status"] == "available"
    assert properties(take("snapshot-show", snap).stdout)["status"] == "available"
    p = give("show", vol, check=False)
    assert p.returncode != 0 and f"No volume with a name or ID of '{vol}' exists." in p.stderr
    assert _usage(basalt, donor.project_id) == {"volumes": 0, "gigabytes": 0, "snapshots": 0}
    assert _usage(basalt, acceptor.project_id) == {"volumes": 1, "gigabytes": 2, "snapshots": 1}

    # The offer is gone: accepting again finds nothing.
    p = take("transfer-accept", offer["id"], offer["auth_key"], check=False)
    assert p.returncode != 0
    assert f"Transfer {offer['id']} could not be found." in p.stderr, p.stderr
