"""Deleting a role must end the tokens that carry it (Keystone revokes by role id)."""

import uuid

import pytest


@pytest.fixture
def role_holder(basalt):
    """A role, a user holding it on a fresh project, and that user's token."""
    role_name = f"r-{uuid.uuid4().hex[:8]}"
    r = basalt.admin("POST", "/v3/roles", json={"role": {"name": role_name}})
    assert r.status_code == 201, r.text
    role = r.json()["role"]
    project = basalt.create_project()
    user = basalt.create_user(password="pw", project=project, role=role_name)
    token, body = basalt.token(user["name"], "pw", project["name"])
    assert [r["name"] for r in body["roles"]] == [role_name]
    return {"role": role, "project": project, "token": token}


def _volume_status(basalt, http, token, project_id):
    url = f"{basalt.volume}/v3/{project_id}/extensions"
    return http.get(url, headers={"X-Auth-Token": token}).status_code


def test_deleting_a_role_revokes_the_tokens_that_carry_it(basalt, http, role_holder):
    pid = role_holder["project"]["id"]
    assert _volume_status(basalt, http, role_holder["token"], pid) == 200
    r = basalt.admin("DELETE", f"/v3/roles/{role_holder['role']['id']}")
    assert r.status_code == 204, r.text
    assert _volume_status(basalt, http, role_holder["token"], pid) == 401


def test_deleting_a_role_leaves_other_tokens_valid(basalt, http, role_holder):
    bystander, body = basalt.token()  # admin: does not hold the deleted role
    pid = body["project"]["id"]
    assert _volume_status(basalt, http, bystander, pid) == 200
    r = basalt.admin("DELETE", f"/v3/roles/{role_holder['role']['id']}")
    assert r.status_code == 204, r.text
    assert _volume_status(basalt, http, bystander, pid) == 200
