"""The `cinder` CLI (python-cinderclient 9, block-storage v3 only) with the admin openrc."""


def test_list_extensions_succeeds_without_a_microversion(basalt):
    p = basalt.cinder("--debug", "list-extensions")
    # The server's maximum microversion is 3.0, so the client negotiates down to it and
    # sends no OpenStack-API-Version header at all.
    assert "downgrading to 3.0 based on server support" in p.stderr
    requests_sent = [line for line in p.stderr.splitlines() if line.startswith("REQ: curl")]
    assert requests_sent, p.stderr
    assert not [line for line in requests_sent if "openstack-api-version" in line.lower()]
    assert "/extensions" in p.stderr
    for column in ("Name", "Summary", "Alias", "Updated"):
        assert column in p.stdout


def test_version_list_shows_v3_as_current(basalt):
    p = basalt.cinder("version-list")
    lines = [line for line in p.stdout.splitlines() if "v3.0" in line]
    assert len(lines) == 1, p.stdout
    assert "CURRENT" in lines[0]
    assert "3.0" in lines[0].replace("v3.0", "")


def test_explicit_microversion_3_0_is_accepted(basalt):
    basalt.cinder("--os-volume-api-version", "3.0", "list-extensions")


def test_client_asking_for_a_higher_microversion_negotiates_down_to_3_0(basalt):
    p = basalt.cinder("--os-volume-api-version", "3.5", "list-extensions")
    assert "downgrading to 3.0 based on server support" in p.stderr
