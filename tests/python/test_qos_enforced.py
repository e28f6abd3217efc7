"""Back-end QoS enforced by Basalt's NBD exporter: the admin makes `back-end` QoS specs with
the `openstack` CLI and associates them with a type; a member's volume of that type, attached
over NBD, is read with `qemu-img bench` at the configured rate. Only lower bounds on the
time are asserted (a paced run cannot be faster than its limit on any machine); the measured
rates are printed."""

import json
import re
import subprocess
import uuid

from support import wait_until


def _bench(url, count, size):
    p = subprocess.run(["qemu-img", "bench", "-f", "raw", "-c", str(count), "-d", "1",
                        "-s", str(size), url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return float(re.search(r"Run completed in ([0-9.]+) seconds", p.stdout).group(1))


def _attached_url(tenant, volume_id):
    r = tenant.volume_api("POST", f"/volumes/{volume_id}/action",
                          json={"os-initialize_connection": {"connector": {"host": "c1"}}})
    assert r.status_code == 200, r.text
    d = r.json()["connection_info"]["data"]
    assert r.json()["connection_info"]["driver_volume_type"] == "nbd", r.json()
    # Back-end specs are Basalt's to enforce: the host is not asked to.
    assert d.get("qos_specs") is None, d
    return f"nbd://{d['host']}:{d['port']}/{d['export_name']}"


def test_back_end_qos_limits_iops_and_bytes_through_nbd(basalt, tenant):
    osc = lambda *a, check=True: basalt.openstack(*a, check=check)  # noqa: E731
    suffix = uuid.uuid4().hex[:6]
    made = {"types": [], "qos": [], "volumes": []}
    try:
        for name, spec in ((f"slow-{suffix}", "total_iops_sec=50"),
                           (f"thin-{suffix}", "read_bytes_sec=4194304")):
            q = json.loads(osc("volume", "qos", "create", "--consumer", "back-end",
                               "--property", spec, name, "-f", "json").stdout)
            made["qos"].append(q["id"])
            t = json.loads(osc("volume", "type", "create", name, "-f", "json").stdout)
            made["types"].append(t["id"])
            osc("volume", "qos", "associate", q["id"], t["id"])
            r = tenant.volume_api("POST", "/volumes",
                                  json={"volume": {"size": 1, "volume_type": name}})
            assert r.status_code == 202, r.text
            made["volumes"].append(r.json()["volume"]["id"])
        for v in made["volumes"]:
            wait_until(lambda v=v: tenant.volume_status(v) == "available", f"{v} available")
        slow, thin = (_attached_url(tenant, v) for v in made["volumes"])

        # 100 reads of 4 KiB one at a time at 50 IOPS: 99 gaps of 20 ms.
        took = _bench(slow, 100, 4096)
        print(f"total_iops_sec=50: {100 / took:.1f} IOPS measured")
        assert took >= 1.9, f"100 operations in {took} s: the IOPS limit was not enforced"
        # 12 reads of 1 MiB at 4 MiB/s: each frees the limit 250 ms later.
        took = _bench(thin, 12, 1 << 20)
        print(f"read_bytes_sec=4 MiB/s: {12 / took:.2f} MiB/s measured")
        assert took >= 2.7, f"12 MiB in {took} s: the bytes limit was not enforced"
    finally:
        for v in made["volumes"]:
            tenant.volume_api("POST", f"/volumes/{v}/action",
                              json={"os-terminate_connection": {"connector": {"host": "c1"}}})
            tenant.volume_api("DELETE", f"/volumes/{v}")
        for v in made["volumes"]:
            wait_until(lambda v=v: tenant.volume_status(v) is None, f"{v} gone")
        for q, t in zip(made["qos"], made["types"]):
            osc("volume", "qos", "disassociate", "--volume-type", t, q, check=False)
            osc("volume", "type", "delete", t, check=False)
            osc("volume", "qos", "delete", q, check=False)
