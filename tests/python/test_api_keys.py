"""API keys (Basalt's own call to create them; the Rackspace `apiKeyCredentials` forms of
`POST /v2.0/tokens` to use them), with plain requests."""

import pytest

from conftest import UNAUTHORIZED_BODY


@pytest.fixture(scope="module")
def api_key(basalt):
    user_id = basalt.find_id("users", "admin")
    r = basalt.admin(
        "POST", f"/v3/users/{user_id}/api_keys", json={"api_key": {"description": "e2e"}}
    )
    assert r.status_code == 201, r.text
    key = r.json()["api_key"]
    assert key["id"] and key["key"]
    assert key["user_id"] == user_id
    assert key["description"] == "e2e"
    return key


def test_created_api_key_is_listed_without_its_secret(basalt, api_key):
    user_id = basalt.find_id("users", "admin")
    r = basalt.admin("GET", f"/v3/users/{user_id}/api_keys")
    assert r.status_code == 200, r.text
    listed = {k["id"]: k for k in r.json()["api_keys"]}
    assert api_key["id"] in listed
    assert "key" not in listed[api_key["id"]]


@pytest.mark.parametrize("form", ["RAX-KSKEY:apiKeyCredentials", "apiKeyCredentials"])
def test_api_key_authenticates_on_v2_tokens(basalt, http, api_key, form):
    body = {"auth": {form: {"username": "admin", "apiKey": api_key["key"]}, "tenantName": "admin"}}
    r = http.post(f"{basalt.identity}/v2.0/tokens", json=body)
    assert r.status_code == 200, r.text
    access = r.json()["access"]
    token = access["token"]["id"]
    assert token
    assert access["token"]["tenant"]["name"] == "admin"
    assert access["user"]["name"] == "admin"
    assert access["serviceCatalog"]

    # The token works on the volume API.
    project_id = access["token"]["tenant"]["id"]
    r = http.get(
        f"{basalt.volume}/v3/{project_id}/extensions", headers={"X-Auth-Token": token}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("form", ["RAX-KSKEY:apiKeyCredentials", "apiKeyCredentials"])
def test_wrong_api_key_is_unauthorized_with_a_keystone_challenge(basalt, http, api_key, form):
    body = {
        "auth": {form: {"username": "admin", "apiKey": api_key["key"] + "x"}, "tenantName": "admin"}
    }
    r = http.post(f"{basalt.identity}/v2.0/tokens", json=body)
    assert r.status_code == 401, r.text
    assert r.json() == UNAUTHORIZED_BODY
    assert r.headers["WWW-Authenticate"] == f'Keystone uri="{basalt.identity}"'


def test_deleted_api_key_no_longer_authenticates(basalt, http):
    user_id = basalt.find_id("users", "admin")
    r = basalt.admin("POST", f"/v3/users/{user_id}/api_keys")
    assert r.status_code == 201, r.text
    key = r.json()["api_key"]
    body = {"auth": {"apiKeyCredentials": {"username": "admin", "apiKey": key["key"]}}}
    assert http.post(f"{basalt.identity}/v2.0/tokens", json=body).status_code == 200

    r = basalt.admin("DELETE", f"/v3/users/{user_id}/api_keys/{key['id']}")
    assert r.status_code == 204, r.text
    r = http.post(f"{basalt.identity}/v2.0/tokens", json=body)
    assert r.status_code == 401, r.text
    assert r.json() == UNAUTHORIZED_BODY
