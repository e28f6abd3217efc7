"""The block-storage endpoint with plain requests: version documents and microversions."""


def test_unversioned_root_lists_v2_and_v3_for_any_client(basalt, http):
    for headers in ({}, {"X-Auth-Token": basalt.admin_token}):
        r = http.get(f"{basalt.volume}/", headers=headers)
        assert r.status_code in (200, 300), r.text
        versions = {v["id"]: v for v in r.json()["versions"]}
        v3 = versions["v3.0"]
        assert v3["status"] == "CURRENT"
        assert v3["version"] == "3.0"
        assert v3["min_version"] == "3.0"
        selfs = [link["href"] for link in v3["links"] if link["rel"] == "self"]
        assert selfs == [f"{basalt.volume}/v3/"]
        assert "v2.0" in versions


def test_microversion_above_the_server_maximum_is_not_acceptable(basalt, http):
    token, body = basalt.token()
    url = f"{basalt.volume}/v3/{body['project']['id']}/extensions"
    r = http.get(url, headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.0"})
    assert r.status_code == 200, r.text
    assert r.headers["OpenStack-API-Version"] == "volume 3.0"
    r = http.get(url, headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.5"})
    assert r.status_code == 406, r.text
