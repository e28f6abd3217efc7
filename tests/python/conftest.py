"""End-to-end fixtures: one real `basalt serve` per test session, over HTTPS with the CA that
Basalt generates, driven by the real OpenStack Python clients.

Environment:
  BASALT_BIN           the binary to run (default: target/debug/basalt, built with cargo if
                       missing)
  BASALT_VENV_CINDER7  the venv with python-cinderclient 7.4.1, the v2 client (default:
                       target/python-venv-cinder7, made by scripts/python-env.sh)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from support import GiB, wait_until

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CINDER7_BIN = (
    Path(os.environ.get("BASALT_VENV_CINDER7") or REPO / "target" / "python-venv-cinder7") / "bin"
)
READY_TIMEOUT = 30
STOP_TIMEOUT = 10
CLI_TIMEOUT = 120

READY_LINE = re.compile(
    r"is serving: identity (?P<identity>https://\S+) block-storage (?P<volume>https://\S+)"
)

# The body every authentication failure must carry, whatever the reason (no user
# enumeration: wrong password, unknown user, disabled user, no role on the project).
UNAUTHORIZED_BODY = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


def parse_openrc(path: Path) -> dict[str, str]:
    """The `export OS_X=value` lines of Basalt's openrc (values may be shell-quoted)."""
    env = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def http_session(verify) -> requests.Session:
    """A requests session that really uses `verify`. This machine exports REQUESTS_CA_BUNDLE,
    and with trust_env requests lets that variable override Session.verify."""
    s = requests.Session()
    s.trust_env = False
    s.verify = verify
    return s


@dataclass
class Basalt:
    identity: str  # e.g. https://127.0.0.1:5000 (no trailing slash)
    volume: str  # e.g. https://127.0.0.1:8776
    ca: str
    data_dir: Path
    admin_password: str
    openrc: dict[str, str]
    process: subprocess.Popen
    log: Path
    stdout_lines: list[str] = field(default_factory=list)
    _admin_token: str | None = None

    # ---- HTTP helpers (plain requests) ------------------------------------------------

    def http(self) -> requests.Session:
        return http_session(self.ca)

    def v3_password_auth(self, user: str, password: str, project: str | None = "admin"):
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"id": "default"}, "password": password}
                    },
                }
            }
        }
        if project is not None:
            body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
        return self.http().post(f"{self.identity}/v3/auth/tokens", json=body, timeout=30)

    def v2_password_auth(self, user: str, password: str, tenant: str | None = "admin"):
        auth = {"passwordCredentials": {"username": user, "password": password}}
        if tenant is not None:
            auth["tenantName"] = tenant
        return self.http().post(f"{self.identity}/v2.0/tokens", json={"auth": auth}, timeout=30)

    def token(self, user: str = "admin", password: str | None = None, project="admin"):
        """A v3 token (X-Subject-Token) and its body; asserts the authentication succeeds."""
        r = self.v3_password_auth(user, password or self.admin_password, project)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"], r.json()["token"]

    @property
    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token, _ = self.token()
        return self._admin_token

    def admin(self, method: str, path: str, **kw) -> requests.Response:
        """A call to the identity API as admin; path starts with /v3/...

        Like keystoneauth, it authenticates again once when its cached token is refused:
        some admin calls (deleting a role) revoke every token on the server."""
        extra = kw.pop("headers", {})
        for attempt in range(2):
            headers = {"X-Auth-Token": self.admin_token, **extra}
            r = self.http().request(
                method, f"{self.identity}{path}", headers=headers, timeout=30, **kw
            )
            if r.status_code != 401 or attempt:
                return r
            self._admin_token = None
        return r

    def find_id(self, kind: str, name: str) -> str:
        r = self.admin("GET", f"/v3/{kind}", params={"name": name})
        assert r.status_code == 200, r.text
        (item,) = r.json()[kind]
        return item["id"]

    def create_project(self, name: str | None = None) -> dict:
        name = name or f"p-{uuid.uuid4().hex[:8]}"
        r = self.admin("POST", "/v3/projects", json={"project": {"name": name}})
        assert r.status_code == 201, r.text
        return r.json()["project"]

    def create_user(self, name=None, password="pw", project=None, role=None) -> dict:
        """A user in the default domain; with `role`, granted that role on `project`."""
        name = name or f"u-{uuid.uuid4().hex[:8]}"
        user = {"name": name, "password": password}
        if project:
            user["default_project_id"] = project["id"]
        r = self.admin("POST", "/v3/users", json={"user": user})
        assert r.status_code == 201, r.text
        created = r.json()["user"]
        if role:
            role_id = self.find_id("roles", role)
            r = self.admin(
                "PUT", f"/v3/projects/{project['id']}/users/{created['id']}/roles/{role_id}"
            )
            assert r.status_code == 204, r.text
        return created

    # ---- CLI helpers ------------------------------------------------------------------

    def cli_env(self, **overrides: str) -> dict[str, str]:
        """The process environment less any OS_* variable, plus the admin openrc."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(self.openrc)
        env.update(overrides)
        return env

    def run(
        self, tool: str, *args: str, env=None, check=True, bin_dir: Path = VENV_BIN
    ) -> subprocess.CompletedProcess:
        cmd = [str(bin_dir / tool), *args]
        p = subprocess.run(
            cmd,
            env=env or self.cli_env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        if check and p.returncode != 0:
            pytest.fail(
                f"{shlex.join([tool, *args])} exited {p.returncode}\n"
                f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}"
            )
        return p

    def openstack(self, *args: str, env=None, check=True) -> subprocess.CompletedProcess:
        return self.run("openstack", *args, env=env, check=check)

    def openstack_json(self, *args: str, env=None):
        return json.loads(self.openstack(*args, "-f", "json", env=env).stdout)

    def cinder(self, *args: str, env=None, check=True) -> subprocess.CompletedProcess:
        return self.run("cinder", *args, env=env, check=check)

    def cinder7(
        self, *args: str, env=None, check=True, api_version: str | None = "2"
    ) -> subprocess.CompletedProcess:
        """python-cinderclient 7.4.1 (its own venv), by default speaking block-storage v2
        (`--os-volume-api-version 2`); with api_version=None it negotiates v3 itself."""
        if not (CINDER7_BIN / "cinder").is_file():
            pytest.fail(f"{CINDER7_BIN / 'cinder'} is missing: run scripts/python-env.sh")
        version = ["--os-volume-api-version", api_version] if api_version else []
        return self.run("cinder", *version, *args, env=env, check=check, bin_dir=CINDER7_BIN)

    # ---- volumes ----------------------------------------------------------------------

    def volume_file(self, volume_id: str) -> Path:
        """Where the file backend keeps a volume's data."""
        return self.data_dir / "volumes" / f"volume-{volume_id}"

    def assert_volume_file(self, volume_id: str, size_gib: int):
        """The volume's file exists, is exactly `size_gib` GiB long and is sparse."""
        path = self.volume_file(volume_id)
        assert path.is_file(), f"{path} is missing; volumes: {self.volume_files()}"
        st = path.stat()
        assert st.st_size == size_gib * GiB, (path, st.st_size)
        assert st.st_blocks * 512 < GiB, f"{path} is not sparse: {st.st_blocks} blocks"

    def snapshot_file(self, snapshot_id: str) -> Path:
        """Where the file backend keeps a snapshot's data."""
        return self.data_dir / "volumes" / f"snapshot-{snapshot_id}"

    def volume_files(self) -> list[str]:
        return sorted(p.name for p in (self.data_dir / "volumes").iterdir())

    def new_tenant(self, quotas: dict[str, int] | None = None) -> "Tenant":
        """A fresh project with a `member` user of its own (password `pw`); with `quotas`,
        the admin sets those volume quotas on it. Drop it with `drop_tenant`."""
        project = self.create_project()
        user = self.create_user(password="pw", project=project, role="member")
        tenant = Tenant(self, project, user, "pw")
        if quotas:
            r = self.admin_volume("PUT", f"/os-quota-sets/{project['id']}",
                                  json={"quota_set": quotas})
            assert r.status_code == 200, r.text
        return tenant

    def drop_tenant(self, tenant: "Tenant"):
        """Deletes what a tenant still has (volumes, quotas), then its user and project."""
        leftovers = tenant.volume_ids()
        for volume_id in leftovers:
            # Like Cinder, Basalt refuses to delete a volume still creating or extending.
            wait_until(
                lambda: tenant.volume_status(volume_id) not in ("creating", "extending"),
                f"leftover volume {volume_id} to settle",
            )
            # With its snapshots, if any.
            r = tenant.volume_api("DELETE", f"/volumes/{volume_id}?cascade=true")
            assert r.status_code in (202, 404), r.text
        for volume_id in leftovers:
            wait_until(
                lambda: tenant.volume_status(volume_id) is None,
                f"leftover volume {volume_id} to be deleted",
            )
        r = self.admin_volume("DELETE", f"/os-quota-sets/{tenant.project_id}")
        assert r.status_code == 200, r.text
        r = self.admin("DELETE", f"/v3/users/{tenant.user['id']}")
        assert r.status_code == 204, r.text
        r = self.admin("DELETE", f"/v3/projects/{tenant.project_id}")
        assert r.status_code == 204, r.text

    def admin_volume(self, method: str, path: str, **kw) -> requests.Response:
        """A block-storage v3 call as the admin in the admin project; path starts with /."""
        admin_project = self.find_id("projects", "admin")
        return self.http().request(
            method, f"{self.volume}/v3/{admin_project}{path}",
            headers={"X-Auth-Token": self.admin_token}, timeout=30, **kw,
        )

    # ---- process ----------------------------------------------------------------------

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def assert_alive(self):
        assert self.process.poll() is None, (
            f"basalt exited with {self.process.returncode}\n{self.log_tail()}"
        )
        r = self.http().get(f"{self.identity}/v3", timeout=10)
        assert r.status_code == 200, r.text


@dataclass
class Tenant:
    """A project and its own member user, for tests that must not see other tests' volumes
    or quotas."""

    basalt: Basalt
    project: dict
    user: dict
    password: str
    _token: str | None = None

    @property
    def project_id(self) -> str:
        return self.project["id"]

    @property
    def name(self) -> str:
        return self.project["name"]

    def env(self, **overrides: str) -> dict[str, str]:
        """The CLI environment of this user (the admin openrc with their credentials)."""
        return self.basalt.cli_env(
            OS_USERNAME=self.user["name"],
            OS_PASSWORD=self.password,
            OS_PROJECT_NAME=self.project["name"],
            **overrides,
        )

    def token(self) -> str:
        if self._token is None:
            self._token, _ = self.basalt.token(self.user["name"], self.password, self.name)
        return self._token

    def volume_api(self, method: str, path: str, version="v3", **kw) -> requests.Response:
        """A block-storage call as this user, with plain requests; path starts with /."""
        url = f"{self.basalt.volume}/{version}/{self.project_id}{path}"
        return self.basalt.http().request(
            method, url, headers={"X-Auth-Token": self.token()}, timeout=30, **kw
        )

    def volume_status(self, volume_id: str) -> str | None:
        """The volume's status, or None once it is gone (404)."""
        r = self.volume_api("GET", f"/volumes/{volume_id}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()["volume"]["status"]

    def volume_ids(self) -> list[str]:
        r = self.volume_api("GET", "/volumes")
        assert r.status_code == 200, r.text
        return [v["id"] for v in r.json()["volumes"]]


def _binary() -> Path:
    given = os.environ.get("BASALT_BIN")
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.exit(f"BASALT_BIN={given} does not exist", returncode=2)
        return path
    path = REPO / "target" / "debug" / "basalt"
    if not path.is_file():
        subprocess.run(["cargo", "build", "-p", "basalt"], cwd=REPO, check=True)
    return path


def _pump(stream, sink: list[str], ready: threading.Event, found: dict):
    """Reads the server's stdout to the end (so that the pipe never fills)."""
    for line in stream:
        sink.append(line)
        m = READY_LINE.search(line)
        if m and not ready.is_set():
            found.update(m.groupdict())
            ready.set()
    ready.set()  # EOF: the process is gone; the waiter checks `found`


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def basalt(tmp_path_factory) -> Basalt:
    binary = _binary()
    data_dir = tmp_path_factory.mktemp("basalt-data")
    log = data_dir.parent / "basalt.log"
    password = secrets.token_urlsafe(18)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["BASALT_ADMIN_PASSWORD"] = password
    env.setdefault("NO_COLOR", "1")
    # Two backends: the default one (NBD) and one in zone "iscsi" that exports over iSCSI
    # through a tgtd of this run's own (a free portal, a control port from the pid).
    config = data_dir.parent / "basalt.toml"
    config.write_text(
        "[iscsi]\n"
        f'portal = "127.0.0.1:{_free_port()}"\n'
        f"control_port = {10000 + os.getpid() % 20000}\n\n"
        '[[backends]]\nname = "file"\n\n'
        '[[backends]]\nname = "file-iscsi"\npath = "volumes-iscsi"\n'
        'availability_zone = "iscsi"\ntarget_protocol = "iscsi"\n'
    )
    cmd = [
        str(binary), "--config", str(config), "serve",
        "--data-dir", str(data_dir),
        "--identity-addr", "127.0.0.1:0",
        "--api-addr", "127.0.0.1:0",
        "--nbd-addr", "127.0.0.1:0",
    ]
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True, bufsize=1
        )
    lines: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}
    threading.Thread(target=_pump, args=(proc.stdout, lines, ready, found), daemon=True).start()

    def stop() -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its pid
            proc.wait()
            return None

    started = time.monotonic()
    ready.wait(READY_TIMEOUT)
    if not found:
        try:
            proc.wait(timeout=2)  # stdout closed: give the exit a moment to be reaped
        except subprocess.TimeoutExpired:
            pass
        exited = proc.poll() is not None
        stop()
        pytest.fail(
            "basalt "
            + (f"exited with code {proc.returncode} before" if exited else "did not report")
            + f" readiness within {READY_TIMEOUT} s\n--- stdout\n{''.join(lines)}\n"
            f"--- log {log}\n{log.read_text(errors='replace')[-4000:]}",
            pytrace=False,
        )
    print(f"\nbasalt ready in {time.monotonic() - started:.1f} s: {found} (log: {log})")

    ca = data_dir / "tls" / "ca.pem"
    openrc = parse_openrc(data_dir / "openrc")
    server = Basalt(
        identity=found["identity"].rstrip("/"),
        volume=found["volume"].rstrip("/"),
        ca=str(ca),
        data_dir=data_dir,
        admin_password=password,
        openrc=openrc,
        process=proc,
        log=log,
        stdout_lines=lines,
    )
    try:
        yield server
    finally:
        # An idle keep-alive connection must not hold up the shutdown.
        idle = server.http()
        try:
            idle.get(f"{server.identity}/v3", timeout=10)
        except requests.RequestException:
            pass
        code = stop()
        idle.close()
        assert code is not None, f"basalt did not exit within {STOP_TIMEOUT} s of SIGTERM"
        assert code == 0, f"basalt exited with {code} after SIGTERM\n{server.log_tail()}"


@pytest.fixture
def http(basalt) -> requests.Session:
    """requests, trusting only Basalt's CA."""
    return basalt.http()


@pytest.fixture(scope="module")
def tenant(basalt) -> Tenant:
    """A project of the test module's own, with a member user; dropped (volumes included)
    after the module."""
    t = basalt.new_tenant()
    yield t
    basalt.drop_tenant(t)
