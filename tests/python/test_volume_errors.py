"""What a user sees through each client when the server refuses a volume request: quota
exceeded on create and extend, and an extend that does not grow the volume. The quotas are
lowered by the admin (with `cinder quota-update`) on a project of this module's own."""

import uuid

import openstack
import openstack.exceptions
import pytest

from support import properties, table, wait_until

VOLUMES_OVER = (
    "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'."
)
GIGABYTES_OVER = (
    "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes "
    "quota. Requested 2G, quota is 2G and 1G has been consumed."
)
NOT_BIGGER = (
    "Invalid input received: New size for extend must be greater than current size. "
    "(current: 1, extended: {new})."
)


@pytest.fixture(scope="module")
def limited(basalt, tenant):
    """The module's project with quotas volumes=1, gigabytes=2 and one volume of 1 GiB in it
    (the project is full); returns that volume's id."""
    basalt.cinder("quota-update", "--volumes", "1", "--gigabytes", "2", tenant.project_id)
    shown = properties(basalt.cinder7("quota-show", tenant.project_id, env=tenant.env()).stdout)
    assert (shown["volumes"], shown["gigabytes"]) == ("1", "2"), shown

    name = f"only-{uuid.uuid4().hex[:8]}"
    created = properties(basalt.cinder("create", "--name", name, "1", env=tenant.env()).stdout)
    volume_id = created["id"]
    wait_until(
        lambda: tenant.volume_status(volume_id) == "available", f"volume {name} to be available"
    )
    yield volume_id
    r = tenant.volume_api("DELETE", f"/volumes/{volume_id}")
    assert r.status_code == 202, r.text
    wait_until(lambda: tenant.volume_status(volume_id) is None, f"volume {name} to be deleted")


def _assert_still_alone(tenant, volume_id):
    """The refused request left nothing behind: no new volume, the old one unchanged."""
    assert tenant.volume_ids() == [volume_id]
    vol = tenant.volume_api("GET", f"/volumes/{volume_id}").json()["volume"]
    assert (vol["status"], vol["size"]) == ("available", 1), vol


def _cli_error(p) -> str:
    assert p.returncode != 0, p.stdout
    return p.stderr


def test_cinder9_create_over_the_volumes_quota(basalt, tenant, limited):
    p = basalt.cinder("create", "--name", "one-too-many", "1", env=tenant.env(), check=False)
    assert f"ERROR: {VOLUMES_OVER} (HTTP 413)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


def test_cinder7_v2_create_over_the_volumes_quota(basalt, tenant, limited):
    p = basalt.cinder7("create", "--name", "one-too-many", "1", env=tenant.env(), check=False)
    assert f"ERROR: {VOLUMES_OVER} (HTTP 413)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


@pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])
def test_openstack_volume_create_over_the_volumes_quota(basalt, tenant, limited, api):
    p = basalt.openstack(
        "--os-volume-api-version", api, "volume", "create", "--size", "1", "one-too-many",
        env=tenant.env(), check=False,
    )
    err = _cli_error(p)
    assert "HttpException: 413" in err, err
    assert f"/v{api}/{tenant.project_id}/volumes, {VOLUMES_OVER}" in err, err
    _assert_still_alone(tenant, limited)


@pytest.mark.parametrize("api", ["3", "2"], ids=["volume-v3", "volume-v2"])
def test_openstacksdk_create_over_the_volumes_quota(basalt, tenant, limited, api):
    conn = openstack.connect(
        load_yaml_config=False, load_envvars=False,
        auth_url=basalt.openrc["OS_AUTH_URL"], cacert=basalt.ca,
        username=tenant.user["name"], password=tenant.password, project_name=tenant.name,
        user_domain_name="Default", project_domain_name="Default",
        block_storage_api_version=api,
    )
    try:
        with pytest.raises(openstack.exceptions.HttpException) as caught:
            conn.block_storage.create_volume(size=1, name="one-too-many")
    finally:
        conn.close()
    assert caught.value.status_code == 413
    assert caught.value.details == VOLUMES_OVER
    assert caught.value.response.headers.get("Retry-After") == "0"
    _assert_still_alone(tenant, limited)


def test_cinder9_extend_over_the_gigabytes_quota(basalt, tenant, limited):
    p = basalt.cinder("extend", limited, "3", env=tenant.env(), check=False)
    assert f"ERROR: {GIGABYTES_OVER} (HTTP 413)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


def test_cinder7_v2_extend_over_the_gigabytes_quota(basalt, tenant, limited):
    p = basalt.cinder7("extend", limited, "3", env=tenant.env(), check=False)
    assert f"ERROR: {GIGABYTES_OVER} (HTTP 413)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


def test_openstack_volume_set_size_over_the_gigabytes_quota(basalt, tenant, limited):
    p = basalt.openstack("volume", "set", "--size", "3", limited, env=tenant.env(), check=False)
    err = _cli_error(p)
    assert "Failed to set volume size: HttpException: 413" in err, err
    assert GIGABYTES_OVER in err, err
    _assert_still_alone(tenant, limited)


@pytest.mark.parametrize(
    "new, message",
    [
        ("1", NOT_BIGGER.format(new=1)),
        ("0", "Invalid input for field/attribute new_size. Value: 0. "
              "0 is less than the minimum of 1"),
    ],
    ids=["same-size", "zero"],
)
def test_cinder9_extend_to_a_size_not_bigger_fails(basalt, tenant, limited, new, message):
    p = basalt.cinder("extend", limited, new, env=tenant.env(), check=False)
    assert f"ERROR: {message} (HTTP 400)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


def test_cinder7_v2_extend_to_the_same_size_fails(basalt, tenant, limited):
    p = basalt.cinder7("extend", limited, "1", env=tenant.env(), check=False)
    assert f"ERROR: {NOT_BIGGER.format(new=1)} (HTTP 400)" in _cli_error(p)
    _assert_still_alone(tenant, limited)


def test_quota_usage_shows_the_full_project(basalt, tenant, limited):
    rows = table(basalt.cinder7("quota-usage", tenant.project_id, env=tenant.env()).stdout)
    usage = {r["Type"]: (r["In_use"], r["Reserved"], r["Limit"]) for r in rows}
    assert usage["volumes"] == ("1", "0", "1")
    assert usage["gigabytes"] == ("1", "0", "2")


def test_concurrent_sdk_creates_never_exceed_the_volumes_quota(basalt):
    """Eight threads create at once into a project allowed two volumes: exactly two get a
    volume, the others the quota error, and the usage counts two."""
    from concurrent.futures import ThreadPoolExecutor

    crowded = basalt.new_tenant(quotas={"volumes": 2})
    try:
        def create(i):
            conn = openstack.connect(
                load_yaml_config=False, load_envvars=False,
                auth_url=basalt.openrc["OS_AUTH_URL"], cacert=basalt.ca,
                username=crowded.user["name"], password=crowded.password,
                project_name=crowded.name,
                user_domain_name="Default", project_domain_name="Default",
            )
            try:
                return conn.block_storage.create_volume(size=1, name=f"race-{i}").id
            except openstack.exceptions.HttpException as e:
                return e
            finally:
                conn.close()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(create, range(8)))
        created = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if not isinstance(r, str)]
        assert len(created) == 2, results
        message = VOLUMES_OVER.replace("(1)", "(2)")
        assert [(e.status_code, e.details) for e in refused] == [(413, message)] * 6
        assert sorted(crowded.volume_ids()) == sorted(created)
        usage = crowded.volume_api("GET", f"/os-quota-sets/{crowded.project_id}",
                                   params={"usage": "True"}).json()["quota_set"]
        assert usage["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0}
    finally:
        basalt.drop_tenant(crowded)
