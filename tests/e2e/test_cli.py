"""The `kumo` CLI (deploy / invoke / list / delete) against a real server."""

import json

import pytest
from botocore.exceptions import ClientError

import funcs
from testutil import error_code, kumo, unique_name

APP_V1 = '''
import os
from helpers.util import shout


def handler(event, context):
    return {
        "msg": shout(event.get("msg", "")),
        "greeting": os.environ.get("GREETING"),
        "other": os.environ.get("OTHER"),
        "memory": str(context.memory_limit_in_mb),
        "tag": "@TAG@",
    }


def fail(event, context):
    raise RuntimeError("cli says no")
'''

UTIL = "def shout(s):\n    return s.upper() + '!'\n"


def write_tree(root, files):
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def py_app(tmp_path, tag):
    d = tmp_path / f"app-{tag}"
    return write_tree(d, {
        "app.py": APP_V1.replace("@TAG@", tag),
        "helpers/__init__.py": "",
        "helpers/util.py": UTIL,
    })


def run_ok(*args):
    res = kumo(*args)
    assert res.returncode == 0, f"kumo {' '.join(args)} exited {res.returncode}\nstdout:{res.stdout}\nstderr:{res.stderr}"
    return res


def test_deploy_invoke_update_list_delete(server, lam, tmp_path):
    name = unique_name("cli")
    url = server.url
    run_ok("deploy", str(py_app(tmp_path, "v1")), "--name", name, "--runtime", funcs.PY,
           "--handler", "app.handler", "--memory", "256", "--timeout", "9",
           "--env", "GREETING=hi", "--env", "OTHER=a=b", "--endpoint", url)
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["Runtime"] == funcs.PY
    assert cfg["Handler"] == "app.handler"
    assert cfg["MemorySize"] == 256
    assert cfg["Timeout"] == 9
    assert cfg["Environment"]["Variables"] == {"GREETING": "hi", "OTHER": "a=b"}
    assert cfg["State"] == "Active"

    res = run_ok("invoke", name, "--payload", '{"msg": "hello"}', "--endpoint", url)
    assert json.loads(res.stdout) == {"msg": "HELLO!", "greeting": "hi", "other": "a=b", "memory": "256",
                                      "tag": "v1"}

    payload_file = tmp_path / "event.json"
    payload_file.write_text('{"msg": "from file"}')
    res = run_ok("invoke", name, "--payload", f"@{payload_file}", "--endpoint", url)
    assert json.loads(res.stdout)["msg"] == "FROM FILE!"

    # deploy again = update (code and configuration)
    sha_before = cfg["CodeSha256"]
    run_ok("deploy", str(py_app(tmp_path, "v2")), "--name", name, "--runtime", funcs.PY,
           "--handler", "app.handler", "--memory", "512", "--env", "GREETING=again", "--endpoint", url)
    cfg2 = lam.get_function_configuration(FunctionName=name)
    assert cfg2["CodeSha256"] != sha_before
    assert cfg2["MemorySize"] == 512
    assert cfg2["Environment"]["Variables"]["GREETING"] == "again"
    res = run_ok("invoke", name, "--payload", '{"msg": "x"}', "--endpoint", url)
    out = json.loads(res.stdout)
    assert out["tag"] == "v2" and out["greeting"] == "again" and out["memory"] == "512"

    res = run_ok("list", "--endpoint", url)
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert any(ln.split()[0] == name for ln in lines), res.stdout
    listed = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert {ln.split()[0] for ln in lines} == listed, "kumo list does not print one line per function"

    run_ok("delete", name, "--endpoint", url)
    with pytest.raises(ClientError) as ei:
        lam.get_function(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"
    res = run_ok("list", "--endpoint", url)
    assert name not in [ln.split()[0] for ln in res.stdout.splitlines() if ln.strip()]


def test_invoke_function_error_exits_nonzero(server, tmp_path):
    name = unique_name("cli-err")
    run_ok("deploy", str(py_app(tmp_path, "err")), "--name", name, "--runtime", funcs.PY,
           "--handler", "app.fail", "--endpoint", server.url)
    res = kumo("invoke", name, "--payload", "{}", "--endpoint", server.url)
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    both = res.stdout + res.stderr
    assert "RuntimeError" in both and "cli says no" in both, both
    # the error document is printed as JSON
    doc = None
    for text in (res.stdout, res.stderr):
        try:
            doc = json.loads(text)
            break
        except ValueError:
            continue
    assert doc is not None, f"the error document is not printed as JSON: {both}"
    assert doc.get("errorType") == "RuntimeError" and doc.get("errorMessage") == "cli says no"


def test_invoke_missing_function_exits_nonzero(server):
    res = kumo("invoke", unique_name("cli-ghost"), "--payload", "{}", "--endpoint", server.url)
    assert res.returncode != 0
    assert "ResourceNotFoundException" in res.stdout + res.stderr or "not found" in (res.stdout + res.stderr).lower()


def test_delete_missing_function_exits_nonzero(server):
    res = kumo("delete", unique_name("cli-ghost"), "--endpoint", server.url)
    assert res.returncode != 0


def test_deploy_node(server, lam, tmp_path):
    name = unique_name("cli-node")
    d = write_tree(tmp_path / "node-app", funcs.node_files("module", "cli-node"))
    run_ok("deploy", str(d), "--name", name, "--runtime", funcs.NODE, "--handler", "index.handler",
           "--endpoint", server.url)
    res = run_ok("invoke", name, "--payload", '{"k": [1, 2]}', "--endpoint", server.url)
    out = json.loads(res.stdout)
    assert out["runtime"] == "node" and out["version"] == "cli-node" and out["event"] == {"k": [1, 2]}


def test_deploy_invalid_configuration_fails(server, lam, tmp_path):
    name = unique_name("cli-bad")
    res = kumo("deploy", str(py_app(tmp_path, "bad")), "--name", name, "--runtime", funcs.PY,
               "--handler", "app.handler", "--memory", "5", "--endpoint", server.url)
    assert res.returncode != 0
    with pytest.raises(ClientError) as ei:
        lam.get_function(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"
