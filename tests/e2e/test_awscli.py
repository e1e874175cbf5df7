"""The real aws CLI (awscli from PyPI) pointed at Kumo with --endpoint-url."""

import base64
import json

import funcs
from testutil import ROLE, aws, aws_json, code_sha256, function_arn, make_zip, unique_name


def test_aws_cli_create_invoke_get_list_delete(server, tmp_path):
    url = server.url
    name = unique_name("awscli")
    zip_bytes = make_zip(funcs.py_files("awscli"))
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(zip_bytes)

    created = aws_json(url, "lambda", "create-function", "--function-name", name, "--runtime", funcs.PY,
                       "--role", ROLE, "--handler", "app.handler", "--zip-file", f"fileb://{zip_path}",
                       "--timeout", "6", "--environment", "Variables={GREETING=from-cli}")
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == function_arn(name)
    assert created["CodeSha256"] == code_sha256(zip_bytes)
    assert created["Timeout"] == 6

    res = aws(url, "lambda", "wait", "function-active-v2", "--function-name", name)
    assert res.returncode == 0, res.stderr

    out_file = tmp_path / "out.json"
    meta = aws_json(url, "lambda", "invoke", "--function-name", name, "--payload", '{"from": "aws-cli"}',
                    "--log-type", "Tail", str(out_file))
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    log = base64.b64decode(meta["LogResult"]).decode()
    assert "START RequestId:" in log and "REPORT RequestId:" in log
    result = json.loads(out_file.read_text())
    assert result["event"] == {"from": "aws-cli"}
    assert result["version"] == "awscli" and result["greeting"] == "from-cli"

    err_file = tmp_path / "err.json"
    meta = aws_json(url, "lambda", "invoke", "--function-name", name,
                    "--payload", '{"action": "raise", "message": "cli boom"}', str(err_file))
    assert meta["StatusCode"] == 200
    assert meta["FunctionError"] == "Unhandled"
    err = json.loads(err_file.read_text())
    assert err["errorType"] == "MyError" and err["errorMessage"] == "cli boom"

    got = aws_json(url, "lambda", "get-function", "--function-name", name)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Configuration"]["CodeSha256"] == code_sha256(zip_bytes)
    assert got["Code"]["Location"].startswith("http")

    cfg = aws_json(url, "lambda", "get-function-configuration", "--function-name", function_arn(name))
    assert cfg["Environment"]["Variables"] == {"GREETING": "from-cli"}

    upd = aws_json(url, "lambda", "update-function-configuration", "--function-name", name,
                   "--memory-size", "256", "--environment", "Variables={GREETING=updated}")
    assert upd["MemorySize"] == 256
    res = aws(url, "lambda", "wait", "function-updated-v2", "--function-name", name)
    assert res.returncode == 0, res.stderr
    aws_json(url, "lambda", "invoke", "--function-name", name, "--payload", "{}", str(out_file))
    assert json.loads(out_file.read_text())["greeting"] == "updated"

    listed = aws_json(url, "lambda", "list-functions")
    assert name in [f["FunctionName"] for f in listed["Functions"]]

    res = aws(url, "lambda", "delete-function", "--function-name", name)
    assert res.returncode == 0, res.stderr
    res = aws(url, "lambda", "get-function", "--function-name", name)
    assert res.returncode != 0
    assert "ResourceNotFoundException" in res.stderr, res.stderr


def test_aws_cli_validation_error_is_reported(server, tmp_path):
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(make_zip(funcs.py_files()))
    res = aws(server.url, "lambda", "create-function", "--function-name", unique_name("awscli-bad"),
              "--runtime", funcs.PY, "--role", ROLE, "--handler", "app.handler",
              "--zip-file", f"fileb://{zip_path}", "--memory-size", "99999")
    assert res.returncode != 0
    assert "(ValidationException)" in res.stderr, res.stderr


def test_aws_cli_account_settings(server):
    s = aws_json(server.url, "lambda", "get-account-settings")
    assert s["AccountLimit"]["ConcurrentExecutions"] == 1000
