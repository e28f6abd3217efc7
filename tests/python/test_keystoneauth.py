"""keystoneauth1, the library under every OpenStack Python client: password authentication on
identity v2.0 and v3, version discovery, the catalog, and TLS with Basalt's CA."""

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import identity, session
from keystoneauth1.identity import v2, v3


def _v2_session(basalt, verify=None):
    auth = v2.Password(
        auth_url=f"{basalt.identity}/v2.0",
        username="admin",
        password=basalt.admin_password,
        tenant_name="admin",
    )
    return session.Session(auth=auth, verify=basalt.ca if verify is None else verify)


def _v3_session(basalt):
    auth = v3.Password(
        auth_url=f"{basalt.identity}/v3",
        username="admin",
        password=basalt.admin_password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth, verify=basalt.ca)


def _assert_volume_endpoints(basalt, sess):
    project_id = sess.get_project_id()
    assert project_id
    v2_url = sess.get_endpoint(service_type="volumev2", interface="public")
    assert v2_url == f"{basalt.volume}/v2/{project_id}"
    for service_type in ("volumev3", "block-storage"):
        url = sess.get_endpoint(service_type=service_type, interface="public")
        assert url == f"{basalt.volume}/v3/{project_id}", service_type
    return project_id


def test_openrc_points_at_the_running_server(basalt):
    assert basalt.openrc["OS_AUTH_URL"].startswith(basalt.identity + "/")
    assert basalt.openrc["OS_CACERT"] == basalt.ca
    assert basalt.openrc["OS_USERNAME"] == "admin"
    assert basalt.openrc["OS_PASSWORD"] == basalt.admin_password
    assert basalt.openrc["OS_PROJECT_NAME"] == "admin"


def test_v2_password_auth_gets_a_token_and_a_volume_catalog(basalt):
    sess = _v2_session(basalt)
    token = sess.get_token()
    assert token
    access = sess.auth.get_access(sess)
    assert access.version == "v2.0"
    assert access.project_name == "admin"
    assert "admin" in access.role_names
    project_id = _assert_volume_endpoints(basalt, sess)

    # The token is accepted on the volume API, on both versions.
    for version in ("v2", "v3"):
        r = sess.get(f"{basalt.volume}/{version}/{project_id}/extensions", raise_exc=False)
        assert r.status_code == 200, (version, r.text)
        assert "extensions" in r.json()


def test_v3_password_auth_gets_a_token_and_a_volume_catalog(basalt):
    sess = _v3_session(basalt)
    assert sess.get_token()
    access = sess.auth.get_access(sess)
    assert access.version == "v3"
    assert access.project_name == "admin"
    assert access.user_domain_name == "Default"
    assert "admin" in access.role_names
    project_id = _assert_volume_endpoints(basalt, sess)

    # The identity entry of the catalog must be v3-capable (OSC needs it).
    assert sess.get_endpoint(service_type="identity", interface="public").startswith(
        basalt.identity
    )

    r = sess.get(f"{basalt.volume}/v3/{project_id}/extensions", raise_exc=False)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert "extensions" in r.json()

    # The same call through the catalog, as a client would make it.
    r = sess.get(
        "/extensions",
        endpoint_filter={"service_type": "block-storage", "interface": "public"},
        raise_exc=False,
    )
    assert r.status_code == 200, r.text


def test_identity_root_offers_v3_and_v2_with_multiple_choices(basalt, http):
    r = http.get(f"{basalt.identity}/", headers={"Accept": "application/json"})
    assert r.status_code == 300, r.text
    values = r.json()["versions"]["values"]
    by_id = {v["id"].split(".")[0]: v for v in values}
    assert set(by_id) == {"v3", "v2"}
    for prefix, path in (("v3", "/v3/"), ("v2", "/v2.0/")):
        entry = by_id[prefix]
        assert entry["status"] in ("stable", "current", "supported", "deprecated")
        selfs = [link["href"] for link in entry["links"] if link["rel"] == "self"]
        assert selfs == [f"{basalt.identity}{path}"]


@pytest.mark.parametrize("with_domain", [False, True], ids=["no-domain", "with-domain"])
def test_generic_password_plugin_discovers_the_version_from_the_unversioned_url(
    basalt, with_domain
):
    kwargs = {}
    if with_domain:
        kwargs = {"user_domain_name": "Default", "project_domain_name": "Default"}
    auth = identity.Password(
        auth_url=basalt.identity,
        username="admin",
        password=basalt.admin_password,
        project_name="admin",
        **kwargs,
    )
    sess = session.Session(auth=auth, verify=basalt.ca)
    assert sess.get_token()
    # keystoneauth prefers v2.0 without a domain and v3 with one.
    assert auth.get_access(sess).version == ("v3" if with_domain else "v2.0")
    _assert_volume_endpoints(basalt, sess)


def test_client_that_does_not_trust_the_ca_fails_and_the_server_keeps_serving(basalt):
    sess = _v2_session(basalt, verify=True)  # the system CAs only
    with pytest.raises(ks_exc.SSLError):
        sess.get_token()
    # The same with plain requests, several times (each is a failed TLS handshake).
    for _ in range(3):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{basalt.volume}/", verify=requests.certs.where(), timeout=10)
    # The server answers the next, trusting, client.
    assert _v2_session(basalt).get_token()
    basalt.assert_alive()
    assert basalt.http().get(f"{basalt.volume}/", timeout=10).status_code in (200, 300)
