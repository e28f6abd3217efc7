"""openstacksdk (4.22, in-process) block_storage proxies, v3 (the default) and v2
(`block_storage_api_version='2'`), as a member of a project of this module's own."""

import contextlib
import uuid

import openstack
import openstack.exceptions
import pytest

from support import wait_until

VERSIONS = pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])
WAIT = {"interval": 0.2, "wait": 30}


def _connect(basalt, tenant, api):
    return openstack.connect(
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


@pytest.fixture
def bs(basalt, tenant, request):
    conn = _connect(basalt, tenant, request.node.callspec.params["api"])
    yield conn.block_storage
    conn.close()


@VERSIONS
def test_proxy_uses_the_requested_api_version(basalt, bs, tenant, api):
    assert bs.get_endpoint() == f"{basalt.volume}/v{api}/{tenant.project_id}"
    assert type(bs).__module__ == f"openstack.block_storage.v{api}._proxy"


@VERSIONS
def test_volume_life_cycle(basalt, bs, tenant, api):
    name = f"sdk{api}-{uuid.uuid4().hex[:8]}"
    vol = bs.create_volume(size=1, name=name, description="from the SDK", metadata={"a": "1"})
    try:
        assert vol.id
        assert vol.name == name
        assert vol.size == 1
        assert vol.status in ("creating", "available")

        vol = bs.wait_for_status(vol, "available", failures=["error"], **WAIT)
        assert vol.size == 1
        assert vol.description == "from the SDK"
        assert vol.metadata == {"a": "1"}
        assert vol.project_id == tenant.project_id
        assert vol.user_id == tenant.user["id"]
        assert vol.volume_type == "__DEFAULT__"
        assert vol.is_bootable is False
        basalt.assert_volume_file(vol.id, 1)

        assert [(v.id, v.name, v.status) for v in bs.volumes()] == [
            (vol.id, name, "available")
        ]
        assert [v.id for v in bs.volumes(details=False)] == [vol.id]
        assert [v.id for v in bs.volumes(name=name)] == [vol.id]
        assert list(bs.volumes(name="no-such-volume")) == []
        assert bs.find_volume(name, ignore_missing=False).id == vol.id
        with pytest.raises(openstack.exceptions.NotFoundException):
            bs.find_volume("no-such-volume", ignore_missing=False)

        # The SDK ignores the POST's answer (the merged set): read it back.
        bs.set_volume_metadata(vol, k="v")
        assert bs.fetch_volume_metadata(vol).metadata == {"a": "1", "k": "v"}
        bs.delete_volume_metadata(vol, keys=["a"])
        assert bs.fetch_volume_metadata(vol).metadata == {"k": "v"}

        bs.extend_volume(vol, 2)
        # wait_for_status would return at once: the local copy still says "available".
        vol = wait_until(
            lambda: (v := bs.get_volume(vol.id)).status == "available" and v.size == 2 and v,
            "the extended volume to be available with size 2",
        )
        basalt.assert_volume_file(vol.id, 2)

        updated = bs.update_volume(vol, name=f"{name}-renamed", description="renamed")
        assert (updated.name, updated.description) == (f"{name}-renamed", "renamed")
        assert bs.get_volume(vol.id).name == f"{name}-renamed"

        limits = bs.get_limits().absolute
        assert (limits.total_volumes_used, limits.total_gigabytes_used) == (1, 2)
        quotas = bs.get_quota_set(tenant.project_id, usage=True)
        assert quotas.volumes == 10
        assert quotas.usage["volumes"] == 1
        assert quotas.usage["gigabytes"] == 2
        assert quotas.reservation["volumes"] == 0

        bs.delete_volume(vol)
        bs.wait_for_delete(vol, **WAIT)
    finally:
        with contextlib.suppress(openstack.exceptions.SDKException):
            bs.delete_volume(vol.id, ignore_missing=True)
    with pytest.raises(openstack.exceptions.NotFoundException):
        bs.get_volume(vol.id)
    assert not basalt.volume_file(vol.id).exists(), basalt.volume_files()
    assert list(bs.volumes()) == []


@VERSIONS
def test_quota_set_and_defaults(bs, tenant, api):
    quotas = bs.get_quota_set(tenant.project_id)
    assert (quotas.volumes, quotas.gigabytes, quotas.snapshots) == (10, 1000, 10)
    assert (quotas.backups, quotas.backup_gigabytes, quotas.per_volume_gigabytes) == (
        10, 1000, -1,
    )
    if api == "3":
        # The SDK's v2 proxy asks for /os-quota-sets/defaults, i.e. the quotas of a project
        # whose id is "defaults", which a member may not read (Cinder answers 403 too).
        defaults = bs.get_quota_set_defaults(tenant.project_id)
        assert (defaults.volumes, defaults.gigabytes) == (10, 1000)
