"""Code packages no function uses any more are deleted, and only those."""

import os

import funcs
from testutil import ROLE, DEFAULT_CONFIG, KumoServer, lambda_client, make_zip, unique_name, wait_until

GC_CONFIG = DEFAULT_CONFIG + """
[storage]
code_gc_interval_secs = 1
code_gc_grace_secs = 2
"""


def stored_zips(data_dir):
    return {f[:-4] for f in os.listdir(os.path.join(data_dir, "code")) if f.endswith(".zip")}


def unpacked(data_dir):
    return {d for d in os.listdir(os.path.join(data_dir, "tasks")) if not d.startswith(".")}


def test_unreferenced_packages_go_and_shared_or_current_ones_stay(tmp_path):
    data = tmp_path / "data"
    srv = KumoServer(str(data), config_text=GC_CONFIG, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url)
        v1, v2, shared = (make_zip(funcs.py_files(v)) for v in ("v1", "v2", "shared"))
        a, b, c = (unique_name("gc") for _ in range(3))
        for name, zip_bytes in ((a, v1), (b, shared), (c, shared)):
            lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE,
                                Handler="app.handler", Code={"ZipFile": zip_bytes})
        sha = {key: lam.get_function(FunctionName=n)["Configuration"]["CodeSha256"]
               for key, n in (("v1", a), ("shared", b))}
        assert len(stored_zips(data)) == 2
        old = set(stored_zips(data))

        lam.update_function_code(FunctionName=a, ZipFile=v2)  # v1 is no longer used
        lam.delete_function(FunctionName=b)                   # shared is still used by c
        wait_until(lambda: len(stored_zips(data)) == 2 and stored_zips(data) != old,
                   timeout=30, what="the unused package to be deleted")
        kept = stored_zips(data)
        assert unpacked(data) == kept
        assert len(kept & old) == 1, "the package c still uses was deleted"

        for name in (a, c):
            resp = lam.invoke(FunctionName=name, Payload=b'{"action": "echo"}')
            assert resp["StatusCode"] == 200 and "FunctionError" not in resp, resp["Payload"].read()
        assert sha["v1"] != sha["shared"]
    finally:
        srv.stop()
