import os

import pytest

import funcs
from testutil import (
    ROLE,
    KumoServer,
    kumo_bin,
    lambda_client,
    make_zip,
    unique_name,
)


@pytest.fixture(scope="session")
def kumo_binary():
    path = kumo_bin()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        f"kumo binary not found at {path}; build it (cargo build) or set KUMO_BIN"
    )
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, kumo_binary):
    """A `kumo serve` shared by the tests of one module (they use unique function names)."""
    base = tmp_path_factory.mktemp("kumo")
    srv = KumoServer(base / "data", log_dir=base).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server):
    return lambda_client(server.url, pool=32)


@pytest.fixture(scope="module")
def lam_raw(server):
    """A boto3 client with client-side parameter validation off, so the server sees bad input."""
    return lambda_client(server.url, validate=False)


@pytest.fixture(scope="module")
def make_function(lam):
    """create(files, runtime=, handler=, name=, prefix=, **CreateFunction kwargs) -> name.

    Creates the function and waits (function_active_v2) until it is Active.
    """

    def create(files=None, runtime=funcs.PY, handler="app.handler", name=None, prefix="fn", **kw):
        if files is None:
            files = funcs.py_files()
        name = name or unique_name(prefix)
        lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": make_zip(files)},
            **kw,
        )
        lam.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        return name

    return create


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the tail of the server's stderr to failing tests."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(srv, KumoServer):
            rep.sections.append(("kumo server stderr", srv.stderr_tail(25)))
