"""Error answers of the identity and block-storage endpoints, with plain requests."""

import socket
import ssl
import uuid

import pytest
import requests

from conftest import UNAUTHORIZED_BODY

TEN_MB = 10 * 1024 * 1024


def _assert_unauthorized(basalt, r):
    assert r.status_code == 401, r.text
    assert r.json() == UNAUTHORIZED_BODY
    assert r.headers["WWW-Authenticate"] == f'Keystone uri="{basalt.identity}"'


@pytest.fixture(scope="module")
def people(basalt):
    """A project with a member, a disabled member, and a user without any role there."""
    project = basalt.create_project()
    member = basalt.create_user(password="pw", project=project, role="member")
    disabled = basalt.create_user(password="pw", project=project, role="member")
    r = basalt.admin("PATCH", f"/v3/users/{disabled['id']}", json={"user": {"enabled": False}})
    assert r.status_code == 200, r.text
    roleless = basalt.create_user(password="pw")
    return {"project": project, "member": member, "disabled": disabled, "roleless": roleless}


CASES = {
    "wrong-password": lambda p: ("member", "wrong"),
    "unknown-user": lambda p: (None, "pw"),
    "disabled-user": lambda p: ("disabled", "pw"),
    "user-without-role-on-project": lambda p: ("roleless", "pw"),
}


def _credentials(people, case):
    who, password = CASES[case](people)
    name = people[who]["name"] if who else f"nobody-{uuid.uuid4().hex[:8]}"
    return name, password, people["project"]["name"]


@pytest.mark.parametrize("case", list(CASES))
def test_v2_authentication_failures_look_alike(basalt, people, case):
    name, password, project = _credentials(people, case)
    _assert_unauthorized(basalt, basalt.v2_password_auth(name, password, project))


@pytest.mark.parametrize("case", list(CASES))
def test_v3_authentication_failures_look_alike(basalt, people, case):
    name, password, project = _credentials(people, case)
    _assert_unauthorized(basalt, basalt.v3_password_auth(name, password, project))


def test_the_member_control_case_authenticates(basalt, people):
    project = people["project"]["name"]
    name = people["member"]["name"]
    assert basalt.v2_password_auth(name, "pw", project).status_code == 200
    assert basalt.v3_password_auth(name, "pw", project).status_code == 201


def _assert_bad_request(r):
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == 400
    assert error["title"] == "Bad Request"
    assert error["message"]


def test_malformed_json_is_a_bad_request(basalt, http):
    r = http.post(
        f"{basalt.identity}/v2.0/tokens",
        data='{"auth": {"passwordCredentials": ',
        headers={"Content-Type": "application/json"},
    )
    _assert_bad_request(r)


def test_body_without_auth_is_a_bad_request(basalt, http):
    _assert_bad_request(http.post(f"{basalt.identity}/v2.0/tokens", json={}))
    _assert_bad_request(http.post(f"{basalt.identity}/v3/auth/tokens", json={}))


def test_password_credentials_without_a_user_is_a_bad_request(basalt, http):
    body = {"auth": {"passwordCredentials": {"password": "pw"}, "tenantName": "admin"}}
    _assert_bad_request(http.post(f"{basalt.identity}/v2.0/tokens", json=body))


def test_text_plain_body_is_an_unsupported_media_type(basalt, http):
    r = http.post(
        f"{basalt.identity}/v2.0/tokens",
        data='{"auth": {}}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == 415


def _big_body():
    return b'{"auth": "' + b"a" * TEN_MB + b'"}'


def test_ten_megabyte_body_is_too_large_for_requests(basalt, http):
    r = http.post(
        f"{basalt.identity}/v2.0/tokens",
        data=_big_body(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == 413


def test_ten_megabyte_body_gets_413_on_the_wire_and_the_server_stays_up(basalt):
    """A client that reads the answer even when its upload is cut short (as curl does) sees
    the 413; the server keeps serving afterwards."""
    host, port = basalt.identity.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=basalt.ca)
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(
                (
                    f"POST /v2.0/tokens HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {TEN_MB}\r\n\r\n"
                ).encode()
            )
            chunk = b"a" * 65536
            try:
                for _ in range(TEN_MB // len(chunk)):
                    tls.sendall(chunk)
            except (ssl.SSLError, OSError):
                pass  # the server closed the connection after answering
            answer = b""
            try:
                while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                    data = tls.recv(65536)
                    if not data:
                        break
                    answer += data
            except (ssl.SSLError, OSError):
                pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"code":413' in answer.replace(b" ", b"")
    basalt.assert_alive()


def test_token_of_one_project_on_another_projects_url_is_a_malformed_url(basalt, http, people):
    token, body = basalt.token()  # admin, scoped to the admin project
    other = people["project"]["id"]
    assert other != body["project"]["id"]
    for version in ("v2", "v3"):
        r = http.get(
            f"{basalt.volume}/{version}/{other}/extensions", headers={"X-Auth-Token": token}
        )
        assert r.status_code == 400, (version, r.text)
        assert r.json() == {"badRequest": {"code": 400, "message": "Malformed request url"}}


def test_revoked_token_is_unauthorized_on_the_volume_api(basalt, http):
    token, body = basalt.token()
    url = f"{basalt.volume}/v3/{body['project']['id']}/extensions"
    assert http.get(url, headers={"X-Auth-Token": token}).status_code == 200

    r = http.delete(
        f"{basalt.identity}/v3/auth/tokens",
        headers={"X-Auth-Token": basalt.admin_token, "X-Subject-Token": token},
    )
    assert r.status_code == 204, r.text

    _assert_unauthorized(basalt, http.get(url, headers={"X-Auth-Token": token}))
    # The validation call of identity v3 no longer knows the token either.
    r = http.get(
        f"{basalt.identity}/v3/auth/tokens",
        headers={"X-Auth-Token": basalt.admin_token, "X-Subject-Token": token},
    )
    assert r.status_code == 404, r.text


def test_missing_or_garbage_token_is_unauthorized_on_the_volume_api(basalt, http):
    project_id = basalt.find_id("projects", "admin")
    url = f"{basalt.volume}/v3/{project_id}/extensions"
    _assert_unauthorized(basalt, http.get(url))
    _assert_unauthorized(basalt, http.get(url, headers={"X-Auth-Token": "garbage"}))




def test_v2_validation_with_a_foreign_belongs_to_names_the_identity_url(basalt, http, people):
    token, _ = basalt.token()
    r = http.get(
        f"{basalt.identity}/v2.0/tokens/{token}",
        params={"belongsTo": people["project"]["id"]},
        headers={"X-Auth-Token": basalt.admin_token},
    )
    _assert_unauthorized(basalt, r)


def test_password_change_with_a_wrong_original_names_the_identity_url(basalt, http):
    project = basalt.create_project()
    user = basalt.create_user(password="pw", project=project, role="member")
    token, _ = basalt.token(user["name"], "pw", project["name"])
    r = http.post(
        f"{basalt.identity}/v3/users/{user['id']}/password",
        headers={"X-Auth-Token": token},
        json={"user": {"original_password": "wrong", "password": "new-pw"}},
    )
    _assert_unauthorized(basalt, r)
