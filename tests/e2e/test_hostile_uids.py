"""Two Kumo servers on one host give their environments disjoint uids.

Environments run as unprivileged uids from a range. If two servers used the same range, a tenant of
one server could signal or read what a tenant of the other runs under the same uid. Each server
claims its own range at start (unless `sandbox.uid_base` is configured, which is used as it is).
"""

import concurrent.futures
import json

from testutil import DEFAULT_CONFIG, ROLE, KumoServer, lambda_client, make_zip, unique_name

APP = """
import os, time

def handler(event, context):
    time.sleep(event.get("hold", 0))
    return {"uid": os.getuid(), "gid": os.getgid()}
"""


def uids_of(srv, parallel):
    """Runs `parallel` overlapping invocations (one environment each); returns their uids."""
    lam = lambda_client(srv.url, pool=parallel)
    name = unique_name("uid")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    def one(_):
        resp = lam.invoke(FunctionName=name, Payload=json.dumps({"hold": 1.5}).encode())
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        assert body["uid"] == body["gid"], body
        return body["uid"]

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        return set(pool.map(one, range(parallel)))


def test_two_servers_started_at_once_use_disjoint_uids(tmp_path):
    servers = [
        KumoServer(tmp_path / f"data{i}", log_dir=tmp_path / f"log{i}") for i in range(2)
    ]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda s: s.start(), servers))
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            a, b = pool.map(lambda s: uids_of(s, 3), servers)
        assert len(a) == 3 and len(b) == 3, (a, b)
        assert all(u >= 200000 for u in a | b), (a, b)
        assert not a & b, f"servers share uids: {sorted(a & b)}"
        # Whole ranges are apart, not only the uids used so far.
        assert max(a) < min(b) or max(b) < min(a), (a, b)
    finally:
        for s in servers:
            s.stop()


def test_configured_uid_base_is_used(tmp_path):
    config = DEFAULT_CONFIG + "\n[sandbox]\nuid_base = 350000\nuid_count = 100\n"
    srv = KumoServer(tmp_path / "data", config_text=config, log_dir=tmp_path).start()
    try:
        uids = uids_of(srv, 2)
        assert all(350000 <= u < 350100 for u in uids), uids
    finally:
        srv.stop()
