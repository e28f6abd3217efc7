"""Attach and detach as Nova does it (the legacy v2 call sequence of api-v2.md §3.1a), driven
by python-cinderclient, with QEMU's userspace NBD initiator (`qemu-io`) as the compute host:
the data written through the export is in the volume, a read-only attachment refuses writes,
and a terminated connection is gone for everyone."""

import subprocess
import uuid

import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from keystoneauth1 import loading, session

from support import wait_until

MiB = 1 << 20
CONNECTOR = {"host": "compute-1", "ip": "127.0.0.1", "initiator": "iqn.2004-10.org.test:compute-1",
             "multipath": False, "platform": "x86_64", "os_type": "linux"}


@pytest.fixture(scope="module")
def cinder(basalt, tenant):
    auth = loading.get_plugin_loader("password").load_from_options(
        auth_url=basalt.openrc["OS_AUTH_URL"], username=tenant.user["name"],
        password=tenant.password, project_name=tenant.name,
        user_domain_name="Default", project_domain_name="Default")
    sess = session.Session(auth=auth, verify=basalt.ca)
    return cinder_client.Client("3.0", session=sess)


def _available(cinder, size=1):
    vol = cinder.volumes.create(size, name=f"att-{uuid.uuid4().hex[:8]}")
    return wait_until(lambda: _status(cinder, vol.id) == "available" and cinder.volumes.get(vol.id),
                      f"volume {vol.id} to be available")


def _status(cinder, volume_id):
    return cinder.volumes.get(volume_id).status


def _nbd_url(info):
    d = info["data"]
    return f"nbd://{d['host']}:{d['port']}/{d['export_name']}"


def _qemu_io(url, command, check=True, read_only=False):
    ro = ["-r"] if read_only else []
    p = subprocess.run(["qemu-io", "-f", "raw", *ro, "-c", command, url],
                       capture_output=True, text=True, timeout=60)
    failed = p.returncode != 0 or "error" in (p.stdout + p.stderr).lower() \
        or "Pattern verification failed" in p.stdout
    if check:
        assert not failed, (command, p.stdout, p.stderr)
    return p, failed


def test_the_nova_sequence_over_nbd(basalt, cinder):
    vol = _available(cinder)
    cinder.volumes.reserve(vol)
    assert _status(cinder, vol.id) == "attaching"

    info = cinder.volumes.initialize_connection(vol, CONNECTOR)
    assert info["driver_volume_type"] == "nbd", info
    data = info["data"]
    assert data["access_mode"] == "rw" and data["encrypted"] is False, data
    assert data["volume_id"] == vol.id
    assert len(data["export_name"]) >= 32, "the export name is unguessable"
    # Asking again for the same connector gives the same export.
    assert cinder.volumes.initialize_connection(vol, CONNECTOR)["data"] == data

    url = _nbd_url(info)
    _qemu_io(url, "write -P 0xab 1M 1M")

    server = str(uuid.uuid4())
    cinder.volumes.attach(vol, server, "/dev/vdb", mode="rw")
    vol = cinder.volumes.get(vol.id)
    assert vol.status == "in-use"
    [a] = vol.attachments
    assert (a["server_id"], a["device"], a["volume_id"]) == (server, "/dev/vdb", vol.id)
    assert vol.metadata.get("attached_mode") == "rw"

    # A second connection reads what the first wrote.
    _qemu_io(url, "read -P 0xab 1M 1M")

    # Detach: begin, roll back once (Nova's failure path), begin again, disconnect, detach.
    cinder.volumes.begin_detaching(vol)
    assert _status(cinder, vol.id) == "detaching"
    cinder.volumes.roll_detaching(vol)
    assert _status(cinder, vol.id) == "in-use"
    cinder.volumes.begin_detaching(vol)
    cinder.volumes.terminate_connection(vol, CONNECTOR)
    _, failed = _qemu_io(url, "read 0 4k", check=False)
    assert failed, "a terminated export must not be reachable"
    cinder.volumes.detach(vol, a["attachment_id"])
    vol = cinder.volumes.get(vol.id)
    assert (vol.status, vol.attachments) == ("available", [])
    assert "attached_mode" not in vol.metadata

    # The data is in the volume's file.
    with open(basalt.volume_file(vol.id), "rb") as f:
        f.seek(1 * MiB)
        assert set(f.read(MiB)) == {0xAB}
    cinder.volumes.delete(vol)


def test_a_failed_attach_unreserves(basalt, cinder):
    vol = _available(cinder)
    cinder.volumes.reserve(vol)
    with pytest.raises(cinder_exc.BadRequest) as e:
        cinder.volumes.reserve(vol)
    assert "must be available to reserve" in str(e.value)
    info = cinder.volumes.initialize_connection(vol, CONNECTOR)
    cinder.volumes.terminate_connection(vol, CONNECTOR)
    assert _status(cinder, vol.id) == "available"
    _, failed = _qemu_io(_nbd_url(info), "read 0 4k", check=False)
    assert failed
    cinder.volumes.delete(vol)


def test_a_read_only_volume_refuses_writes(basalt, cinder):
    vol = _available(cinder)
    cinder.volumes.update_readonly_flag(vol, True)
    assert cinder.volumes.get(vol.id).metadata["readonly"] == "True"
    cinder.volumes.reserve(vol)
    info = cinder.volumes.initialize_connection(vol, CONNECTOR)
    assert info["data"]["access_mode"] == "ro"
    with pytest.raises(cinder_exc.BadRequest) as e:
        cinder.volumes.attach(vol, str(uuid.uuid4()), "/dev/vdc", mode="rw")
    assert "Invalid attaching mode 'rw'" in str(e.value)
    cinder.volumes.attach(vol, str(uuid.uuid4()), "/dev/vdc", mode="ro")
    url = _nbd_url(info)
    _qemu_io(url, "read 0 4k", read_only=True)
    # QEMU sees the export's read-only flag and refuses to open it for writing.
    p, failed = _qemu_io(url, "write -P 0x11 0 4k", check=False)
    assert failed and "Permission denied" in p.stderr, (p.stdout, p.stderr)
    with open(basalt.volume_file(vol.id), "rb") as f:
        assert set(f.read(4096)) == {0}
    cinder.volumes.begin_detaching(vol)
    cinder.volumes.terminate_connection(vol, CONNECTOR)
    cinder.volumes.detach(vol)
    assert _status(cinder, vol.id) == "available"
    cinder.volumes.delete(vol)


def test_attach_actions_with_the_v2_cli(basalt, tenant):
    env = tenant.env()
    c = lambda *a, check=True: basalt.cinder7(*a, env=env, check=check)  # noqa: E731
    from support import properties
    vol = properties(c("create", "1").stdout)["id"]
    wait_until(lambda: properties(c("show", vol).stdout)["status"] == "available",
               f"volume {vol} to be available")
    c("set-bootable", vol, "true")
    assert properties(c("show", vol).stdout)["bootable"] == "true"
    c("readonly-mode-update", vol, "True")
    assert "readonly : True" in properties(c("show", vol).stdout)["metadata"]
    c("delete", vol)


def _qemu_io_iscsi(data, initiator, password, command):
    opts = ("driver=raw,file.driver=iscsi,file.transport=tcp,"
            f"file.portal={data['target_portal']},file.target={data['target_iqn']},"
            f"file.lun={data['target_lun']},file.initiator-name={initiator},"
            f"file.user={data['auth_username']},file.password-secret=sec0")
    p = subprocess.run(["qemu-io", "--object", f"secret,id=sec0,data={password}",
                        "--image-opts", opts, "-c", command],
                       capture_output=True, text=True, timeout=60)
    failed = p.returncode != 0 or "error" in (p.stdout + p.stderr).lower() \
        or "Pattern verification failed" in p.stdout
    return p, failed


def test_the_nova_sequence_over_iscsi(basalt, cinder):
    # The session's server has a second backend, in zone "iscsi", exporting through tgt.
    vol = cinder.volumes.create(1, availability_zone="iscsi")
    wait_until(lambda: _status(cinder, vol.id) == "available", f"volume {vol.id} available")
    initiator = "iqn.2004-10.org.basalt-test:compute-2"
    connector = {**CONNECTOR, "host": "compute-2", "initiator": initiator}
    cinder.volumes.reserve(vol)
    info = cinder.volumes.initialize_connection(vol, connector)
    assert info["driver_volume_type"] == "iscsi", info
    d = info["data"]
    assert d["auth_method"] == "CHAP" and d["access_mode"] == "rw" and d["target_lun"] == 1, d
    password = d["auth_password"]
    p, failed = _qemu_io_iscsi(d, initiator, password, "write -P 0x7e 2M 1M")
    assert not failed, (p.stdout, p.stderr)
    cinder.volumes.attach(vol, str(uuid.uuid4()), "/dev/vdd", mode="rw")
    assert _status(cinder, vol.id) == "in-use"
    p, failed = _qemu_io_iscsi(d, initiator, password, "read -P 0x7e 2M 1M")
    assert not failed, (p.stdout, p.stderr)
    _, failed = _qemu_io_iscsi(d, initiator, "not-the-password-1234", "read 0 4k")
    assert failed, "a wrong CHAP password must be refused"
    cinder.volumes.begin_detaching(vol)
    cinder.volumes.terminate_connection(vol, connector)
    _, failed = _qemu_io_iscsi(d, initiator, password, "read 0 4k")
    assert failed, "a terminated target must be gone"
    cinder.volumes.detach(vol)
    assert _status(cinder, vol.id) == "available"
    with open(basalt.data_dir / "volumes-iscsi" / f"volume-{vol.id}", "rb") as f:
        f.seek(2 * MiB)
        assert set(f.read(MiB)) == {0x7E}
    cinder.volumes.delete(vol)


def test_the_failure_paths_over_iscsi(basalt, cinder):
    # Nova's failure paths through tgt: a failed attach (terminate + unreserve) leaves the
    # volume available with its target gone; a failed detach (roll_detaching) leaves it in
    # use and still reachable; a read-only volume's LUN refuses writes.
    vol = cinder.volumes.create(1, availability_zone="iscsi")
    wait_until(lambda: _status(cinder, vol.id) == "available", f"volume {vol.id} available")
    initiator = "iqn.2004-10.org.basalt-test:compute-3"
    connector = {**CONNECTOR, "host": "compute-3", "initiator": initiator}

    cinder.volumes.reserve(vol)
    d = cinder.volumes.initialize_connection(vol, connector)["data"]
    p, failed = _qemu_io_iscsi(d, initiator, d["auth_password"], "write -P 0x5a 0 64k")
    assert not failed, (p.stdout, p.stderr)
    cinder.volumes.terminate_connection(vol, connector)
    cinder.volumes.unreserve(vol)
    assert _status(cinder, vol.id) == "available"
    _, failed = _qemu_io_iscsi(d, initiator, d["auth_password"], "read 0 4k")
    assert failed, "the target of a failed attach must be gone"

    cinder.volumes.reserve(vol)
    d = cinder.volumes.initialize_connection(vol, connector)["data"]
    cinder.volumes.attach(vol, str(uuid.uuid4()), "/dev/vde", mode="rw")
    cinder.volumes.begin_detaching(vol)
    cinder.volumes.roll_detaching(vol)
    assert _status(cinder, vol.id) == "in-use"
    p, failed = _qemu_io_iscsi(d, initiator, d["auth_password"], "read -P 0x5a 0 64k")
    assert not failed, (p.stdout, p.stderr)
    cinder.volumes.begin_detaching(vol)
    cinder.volumes.terminate_connection(vol, connector)
    cinder.volumes.detach(vol)
    assert _status(cinder, vol.id) == "available"

    cinder.volumes.update_readonly_flag(vol, True)
    cinder.volumes.reserve(vol)
    d = cinder.volumes.initialize_connection(vol, connector)["data"]
    assert d["access_mode"] == "ro", d
    p, failed = _qemu_io_iscsi(d, initiator, d["auth_password"], "write -P 0x11 0 4k")
    assert failed, "a read-only LUN must refuse writes"
    cinder.volumes.terminate_connection(vol, connector)
    cinder.volumes.unreserve(vol)
    with open(basalt.data_dir / "volumes-iscsi" / f"volume-{vol.id}", "rb") as f:
        assert set(f.read(64 * 1024)) == {0x5A}
    cinder.volumes.update_readonly_flag(vol, False)
    cinder.volumes.delete(vol)
