"""The `openstack` CLI (python-openstackclient) with the environment from Basalt's openrc."""

import uuid

import pytest


def _as_user(basalt, name, password, project):
    return basalt.cli_env(OS_USERNAME=name, OS_PASSWORD=password, OS_PROJECT_NAME=project)


def test_token_issue_with_the_admin_openrc(basalt):
    token = basalt.openstack_json("token", "issue")
    assert token["id"]
    assert token["project_id"] == basalt.find_id("projects", "admin")
    assert token["user_id"] == basalt.find_id("users", "admin")
    assert token["expires"]


@pytest.fixture(scope="module")
def demo(basalt):
    """The project `demo` with the member `alice` (password `pw`), made with the CLI."""
    project = basalt.openstack_json("project", "create", "demo")
    assert project["name"] == "demo"
    assert project["domain_id"] == "default"
    assert project["enabled"] is True

    user = basalt.openstack_json(
        "user", "create", "--password", "pw", "--project", "demo", "alice"
    )
    assert user["name"] == "alice"
    assert user["default_project_id"] == project["id"]
    assert user["enabled"] is True

    basalt.openstack("role", "add", "--user", "alice", "--project", "demo", "member")
    return {"project": project, "user": user}


ALICE = ["--os-username", "alice", "--os-password", "pw", "--os-project-name", "demo"]


def test_role_assignment_list_shows_alice_as_member_of_demo(basalt, demo):
    assignments = basalt.openstack_json(
        "role", "assignment", "list", "--user", "alice", "--project", "demo", "--names"
    )
    assert [(a["Role"], a["User"], a["Project"]) for a in assignments] == [
        ("member", "alice@Default", "demo@Default")
    ]


def test_alice_logs_in_with_her_own_credentials(basalt, demo):
    # Command-line options override the admin openrc in the environment.
    token = basalt.openstack_json(*ALICE, "token", "issue")
    assert token["project_id"] == demo["project"]["id"]
    assert token["user_id"] == demo["user"]["id"]


def test_admin_lists_users_projects_roles_and_shows_the_default_domain(basalt, demo):
    users = {u["Name"]: u["ID"] for u in basalt.openstack_json("user", "list")}
    assert users["alice"] == demo["user"]["id"]
    assert "admin" in users
    projects = {p["Name"]: p["ID"] for p in basalt.openstack_json("project", "list")}
    assert projects["demo"] == demo["project"]["id"]
    assert "admin" in projects
    roles = {r["Name"] for r in basalt.openstack_json("role", "list")}
    assert {"admin", "member", "reader"} <= roles
    domain = basalt.openstack_json("domain", "show", "default")
    assert domain["id"] == "default"
    assert domain["name"] == "Default"
    assert domain["enabled"] is True


def test_alice_as_a_member_may_not_list_users(basalt, demo):
    p = basalt.openstack(*ALICE, "user", "list", check=False)
    assert p.returncode != 0
    assert "403" in p.stderr, p.stderr
    assert "identity:list_users" in p.stderr, p.stderr


def test_disabled_alice_can_no_longer_log_in_until_enabled(basalt, demo):
    basalt.openstack("user", "set", "--disable", "alice")
    try:
        assert basalt.openstack_json("user", "show", "alice")["enabled"] is False
        p = basalt.openstack(*ALICE, "token", "issue", check=False)
        assert p.returncode != 0
        assert "HTTP 401" in p.stderr, p.stderr
    finally:
        basalt.openstack("user", "set", "--enable", "alice")
    basalt.openstack(*ALICE, "token", "issue")


def test_member_changes_own_password(basalt):
    project = basalt.create_project()
    user = basalt.create_user(password="old-pw", project=project, role="member")
    env = _as_user(basalt, user["name"], "old-pw", project["name"])
    basalt.openstack(
        "user", "password", "set", "--original-password", "old-pw", "--password", "new-pw",
        env=env,
    )
    assert basalt.openstack("token", "issue", env=env, check=False).returncode != 0
    basalt.openstack(
        "token", "issue", env=_as_user(basalt, user["name"], "new-pw", project["name"])
    )


def test_admin_updates_and_deletes_users_projects_and_roles(basalt):
    suffix = uuid.uuid4().hex[:8]
    pname, uname, rname = f"proj-{suffix}", f"user-{suffix}", f"role-{suffix}"
    basalt.openstack("project", "create", "--description", "before", pname)
    basalt.openstack("project", "set", "--description", "after", pname)
    assert basalt.openstack_json("project", "show", pname)["description"] == "after"

    basalt.openstack("user", "create", "--password", "pw", "--email", "x@example.com", uname)
    basalt.openstack("user", "set", "--email", "y@example.com", uname)
    assert basalt.openstack_json("user", "show", uname)["email"] == "y@example.com"

    role = basalt.openstack_json("role", "create", rname)
    assert role["name"] == rname
    basalt.openstack("role", "add", "--user", uname, "--project", pname, rname)
    listed = basalt.openstack_json("role", "assignment", "list", "--project", pname, "--names")
    assert [(a["Role"], a["User"]) for a in listed] == [(rname, f"{uname}@Default")]
    basalt.openstack("role", "remove", "--user", uname, "--project", pname, rname)
    assert basalt.openstack_json("role", "assignment", "list", "--project", pname) == []

    basalt.openstack("role", "delete", rname)
    basalt.openstack("user", "delete", uname)
    basalt.openstack("project", "delete", pname)
    names = {p["Name"] for p in basalt.openstack_json("project", "list")}
    assert pname not in names
    p = basalt.openstack("user", "show", uname, check=False)
    assert p.returncode != 0


def test_duplicate_project_name_is_a_conflict(basalt):
    name = f"dup-{uuid.uuid4().hex[:8]}"
    basalt.openstack("project", "create", name)
    p = basalt.openstack("project", "create", name, check=False)
    assert p.returncode != 0
    assert "409" in p.stderr, p.stderr


def test_token_revoke_invalidates_the_token(basalt, http):
    token = basalt.openstack_json("token", "issue")
    url = f"{basalt.volume}/v3/{token['project_id']}/extensions"
    assert http.get(url, headers={"X-Auth-Token": token["id"]}).status_code == 200
    basalt.openstack("token", "revoke", token["id"])
    assert http.get(url, headers={"X-Auth-Token": token["id"]}).status_code == 401


@pytest.mark.parametrize(
    "args",
    [
        ["versions", "show", "--service", "block-storage"],
        ["extension", "list", "--volume"],
        ["catalog", "list"],
    ],
    ids=lambda a: " ".join(a),
)
def test_discovery_commands_succeed(basalt, args):
    basalt.openstack_json(*args)


def test_identity_v2_only_environment_issues_tokens(basalt):
    env = basalt.cli_env(
        OS_AUTH_URL=f"{basalt.identity}/v2.0", OS_IDENTITY_API_VERSION="2"
    )
    for key in ("OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME"):
        env.pop(key)
    token = basalt.openstack_json("token", "issue", env=env)
    assert token["project_id"] == basalt.find_id("projects", "admin")


def test_unversioned_auth_url_without_api_version_issues_tokens(basalt):
    env = basalt.cli_env(OS_AUTH_URL=basalt.identity)
    env.pop("OS_IDENTITY_API_VERSION")
    token = basalt.openstack_json("token", "issue", env=env)
    assert token["project_id"] == basalt.find_id("projects", "admin")
