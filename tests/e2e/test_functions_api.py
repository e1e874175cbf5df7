"""Control plane with boto3: lifecycle, fields, waiters, pagination, concurrency, validation."""

import base64
import hashlib
import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

import funcs
from testutil import (
    signed_request,
    ACCOUNT,
    LAST_MODIFIED_RE,
    REGION,
    ROLE,
    KumoServer,
    code_sha256,
    error_code,
    function_arn,
    http_status,
    lambda_client,
    make_zip,
    unique_name,
    zip_bomb,
)

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def names_listed(lam):
    names = []
    for page in lam.get_paginator("list_functions").paginate():
        names += [f["FunctionName"] for f in page["Functions"]]
    return names


def assert_not_found(lam, name):
    with pytest.raises(ClientError) as ei:
        lam.get_function(FunctionName=name)
    assert error_code(ei.value) == "ResourceNotFoundException"
    assert http_status(ei.value) == 404


def assert_lambda_error(exc, code, status=400):
    """A Lambda-shaped error: status, x-amzn-ErrorType, x-amzn-RequestId, JSON message."""
    assert error_code(exc) == code, f"expected {code}, got {exc.response.get('Error')}"
    assert http_status(exc) == status
    headers = exc.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-errortype", "").split(":")[0] == code
    assert headers.get("x-amzn-requestid"), "error response without x-amzn-RequestId"
    assert exc.response["Error"].get("Message"), "error response without a message"


def check_configuration(cfg, name, *, runtime, handler, memory, timeout, zip_bytes, env=None):
    assert cfg["FunctionName"] == name
    assert cfg["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert cfg["Runtime"] == runtime
    assert cfg["Role"] == ROLE
    assert cfg["Handler"] == handler
    assert cfg["MemorySize"] == memory
    assert cfg["Timeout"] == timeout
    assert cfg["CodeSha256"] == code_sha256(zip_bytes)
    assert cfg["CodeSize"] == len(zip_bytes)
    assert LAST_MODIFIED_RE.match(cfg["LastModified"]), cfg["LastModified"]
    assert cfg["Version"] == "$LATEST"
    assert cfg["PackageType"] == "Zip"
    assert cfg["Architectures"] == ["x86_64"]
    assert cfg["EphemeralStorage"] == {"Size": 512}
    assert cfg["RevisionId"]
    if env is None:
        assert not cfg.get("Environment", {}).get("Variables")
    else:
        assert cfg["Environment"]["Variables"] == env


# --------------------------------------------------------------------------- lifecycle


def test_create_get_update_delete_lifecycle(lam, server):
    name = unique_name("life")
    zip1 = make_zip(funcs.py_files("v1"))
    created = lam.create_function(
        FunctionName=name,
        Runtime=funcs.PY,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip1},
        MemorySize=256,
        Timeout=7,
        Description="first",
        Environment={"Variables": {"AA": "1", "B_2": "two"}},
    )
    assert http_status(created) == 201
    check_configuration(created, name, runtime=funcs.PY, handler="app.handler", memory=256, timeout=7,
                        zip_bytes=zip1, env={"AA": "1", "B_2": "two"})
    assert created["Description"] == "first"
    assert created["State"] in ("Pending", "Active")

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    lam.get_waiter("function_exists").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})

    got = lam.get_function(FunctionName=name)
    cfg = got["Configuration"]
    check_configuration(cfg, name, runtime=funcs.PY, handler="app.handler", memory=256, timeout=7,
                        zip_bytes=zip1, env={"AA": "1", "B_2": "two"})
    assert cfg["State"] == "Active"
    assert cfg["LastUpdateStatus"] == "Successful"
    assert cfg["RevisionId"] == created["RevisionId"]
    assert got["Code"]["RepositoryType"] == "S3"
    # Code.Location downloads exactly the uploaded zip
    loc = got["Code"]["Location"]
    assert loc.startswith(server.url + "/") or loc.startswith(server.url.replace("127.0.0.1", "localhost") + "/"), loc
    with urllib.request.urlopen(loc, timeout=30) as r:
        assert r.status == 200
        body = r.read()
    assert body == zip1
    assert base64.b64encode(hashlib.sha256(body).digest()).decode() == cfg["CodeSha256"]

    same = dict(lam.get_function_configuration(FunctionName=name))
    same.pop("ResponseMetadata")
    assert same == cfg, "GetFunctionConfiguration differs from GetFunction.Configuration"

    # update code
    zip2 = make_zip(funcs.py_files("v2"))
    upd = lam.update_function_code(FunctionName=name, ZipFile=zip2)
    assert upd["CodeSha256"] == code_sha256(zip2) != code_sha256(zip1)
    assert upd["CodeSize"] == len(zip2)
    assert upd["RevisionId"] != cfg["RevisionId"]
    assert LAST_MODIFIED_RE.match(upd["LastModified"])
    assert upd["LastModified"] >= cfg["LastModified"]
    assert upd["MemorySize"] == 256 and upd["Timeout"] == 7 and upd["Handler"] == "app.handler"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    got2 = lam.get_function(FunctionName=name)
    assert got2["Configuration"]["CodeSha256"] == code_sha256(zip2)
    assert got2["Configuration"]["LastUpdateStatus"] == "Successful"
    with urllib.request.urlopen(got2["Code"]["Location"], timeout=30) as r:
        assert r.read() == zip2

    # update configuration: Environment is replaced, not merged
    upd2 = lam.update_function_configuration(
        FunctionName=name, MemorySize=512, Timeout=30, Description="second", Handler="app.handler",
        Environment={"Variables": {"CC": "3"}},
    )
    assert upd2["MemorySize"] == 512
    assert upd2["Timeout"] == 30
    assert upd2["Description"] == "second"
    assert upd2["Environment"]["Variables"] == {"CC": "3"}
    assert upd2["RevisionId"] not in (cfg["RevisionId"], upd["RevisionId"])
    assert upd2["CodeSha256"] == code_sha256(zip2)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    cfg3 = lam.get_function_configuration(FunctionName=name)
    assert cfg3["MemorySize"] == 512 and cfg3["Timeout"] == 30
    assert cfg3["Environment"]["Variables"] == {"CC": "3"}
    assert cfg3["RevisionId"] == upd2["RevisionId"]
    assert cfg3["LastUpdateStatus"] == "Successful"

    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert len(listed) == 1
    assert listed[0]["FunctionArn"] == function_arn(name)
    assert listed[0]["MemorySize"] == 512 and listed[0]["CodeSha256"] == code_sha256(zip2)

    deleted = lam.delete_function(FunctionName=name)
    assert http_status(deleted) in (200, 204)
    with pytest.raises(ClientError) as ei:
        lam.get_function(FunctionName=name)
    assert_lambda_error(ei.value, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as ei:
        lam.get_function_configuration(FunctionName=name)
    assert_lambda_error(ei.value, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as ei:
        lam.delete_function(FunctionName=name)
    assert_lambda_error(ei.value, "ResourceNotFoundException", 404)
    assert name not in names_listed(lam)


def test_defaults_when_omitted(lam):
    name = unique_name("defaults")
    z = make_zip(funcs.py_files())
    cfg = lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                              Code={"ZipFile": z})
    check_configuration(cfg, name, runtime=funcs.PY, handler="app.handler", memory=128, timeout=3, zip_bytes=z)
    assert cfg.get("Description", "") == ""


def test_get_by_arn_and_partial_arn(lam, make_function):
    name = make_function(prefix="byarn")
    for ident in (function_arn(name), f"{ACCOUNT}:function:{name}"):
        cfg = lam.get_function(FunctionName=ident)["Configuration"]
        assert cfg["FunctionName"] == name
        assert cfg["FunctionArn"] == function_arn(name)
        assert lam.get_function_configuration(FunctionName=ident)["FunctionName"] == name


def test_duplicate_create_is_conflict(lam, make_function):
    name = make_function(prefix="dup")
    before = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as ei:
        lam.create_function(FunctionName=name, Runtime=funcs.NODE, Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip(funcs.node_files())})
    assert_lambda_error(ei.value, "ResourceConflictException", 409)
    after = lam.get_function_configuration(FunctionName=name)
    assert after["Runtime"] == funcs.PY
    assert after["RevisionId"] == before["RevisionId"]
    assert after["CodeSha256"] == before["CodeSha256"]


def test_stale_revision_id_is_precondition_failed(lam, make_function):
    name = make_function(prefix="rev", MemorySize=128)
    cfg = lam.get_function_configuration(FunctionName=name)
    stale = cfg["RevisionId"]
    upd = lam.update_function_configuration(FunctionName=name, RevisionId=stale, MemorySize=192)
    assert upd["MemorySize"] == 192
    current = upd["RevisionId"]
    assert current != stale

    with pytest.raises(ClientError) as ei:
        lam.update_function_configuration(FunctionName=name, RevisionId=stale, MemorySize=1024)
    assert_lambda_error(ei.value, "PreconditionFailedException", 412)
    with pytest.raises(ClientError) as ei:
        lam.update_function_code(FunctionName=name, RevisionId=stale, ZipFile=make_zip(funcs.py_files("v9")))
    assert_lambda_error(ei.value, "PreconditionFailedException", 412)

    after = lam.get_function_configuration(FunctionName=name)
    assert after["MemorySize"] == 192
    assert after["RevisionId"] == current
    assert after["CodeSha256"] == cfg["CodeSha256"]

    # the current RevisionId is accepted
    ok = lam.update_function_code(FunctionName=name, RevisionId=current, ZipFile=make_zip(funcs.py_files("v3")))
    assert ok["RevisionId"] != current


def test_error_responses_are_lambda_shaped(server):
    """Raw HTTP: an error has x-amzn-ErrorType, x-amzn-RequestId and a JSON body with Type and message."""
    req = signed_request(server.url + "/2015-03-31/functions/does-not-exist-xyz")
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=30)
    e = ei.value
    assert e.code == 404
    assert e.headers.get("x-amzn-ErrorType", "").split(":")[0] == "ResourceNotFoundException"
    assert e.headers.get("x-amzn-RequestId")
    assert e.headers.get("Content-Type", "").startswith("application/json")
    body = json.loads(e.read())
    assert body.get("Type") == "User"
    assert "does-not-exist-xyz" in (body.get("Message") or body.get("message") or "")


@pytest.mark.parametrize("method,path", [
    ("GET", "/2015-03-31/nope"),
    ("GET", "/nope/at/all"),
    ("POST", "/2015-03-31/functions/somefn/not-a-thing"),
    ("DELETE", "/2099-01-01/functions"),
])
def test_unknown_route_is_clean_404(server, lam, method, path):
    req = signed_request(server.url + path, method=method, data=b"{}" if method == "POST" else None)
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=30)
    e = ei.value
    assert e.code == 404
    assert e.headers.get("x-amzn-ErrorType"), "404 without x-amzn-ErrorType"
    body = json.loads(e.read())
    assert isinstance(body, dict)
    # the server is still healthy
    lam.list_functions(MaxItems=1)


# --------------------------------------------------------------------------- listing


def test_list_functions_paginates_past_50(lam):
    prefix = unique_name("page")
    z = make_zip(funcs.py_files())
    wanted = {f"{prefix}-{i:02d}" for i in range(60)}
    for n in sorted(wanted):
        lam.create_function(FunctionName=n, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": z})

    # the default page is at most 50 functions and points to the next page
    first = lam.list_functions()
    assert len(first["Functions"]) <= 50
    assert first.get("NextMarker"), "more than 50 functions exist but no NextMarker"

    # the paginator sees every function exactly once
    seen = []
    pages = 0
    for page in lam.get_paginator("list_functions").paginate():
        pages += 1
        assert len(page["Functions"]) <= 50
        seen += [f["FunctionName"] for f in page["Functions"]]
    assert pages >= 2
    assert len(seen) == len(set(seen)), "a function was listed twice"
    assert wanted <= set(seen)
    assert len([n for n in seen if n.startswith(prefix)]) == 60

    # MaxItems=10: every page has at most 10, NextMarker until the end, all exactly once
    seen10 = []
    marker = None
    pages10 = 0
    while True:
        kw = {"MaxItems": 10}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        pages10 += 1
        assert len(page["Functions"]) <= 10
        seen10 += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages10 < 100, "pagination does not terminate"
    assert pages10 >= 6
    assert len(seen10) == len(set(seen10))
    assert set(seen10) == set(seen)

    # the paginator with PageSize also works
    seen_ps = []
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 7}):
        assert len(page["Functions"]) <= 7
        seen_ps += [f["FunctionName"] for f in page["Functions"]]
    assert sorted(seen_ps) == sorted(seen)


# --------------------------------------------------------------------------- account + concurrency


def test_get_account_settings(lam, make_function):
    make_function(prefix="acct")
    s = lam.get_account_settings()
    limit, usage = s["AccountLimit"], s["AccountUsage"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["CodeSizeUnzipped"] == 262144000
    assert limit["CodeSizeZipped"] == 52428800
    assert limit["UnreservedConcurrentExecutions"] <= 1000
    assert usage["FunctionCount"] == len(names_listed(lam))
    assert usage["TotalCodeSize"] > 0


def test_function_concurrency_put_get_delete(lam, make_function):
    name = make_function(prefix="conc")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lam.get_function(FunctionName=name)
    unreserved_before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]

    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert put["ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == unreserved_before - 5

    # the account must keep at least 100 unreserved
    too_high = unreserved_before - 99  # would leave 99 unreserved
    with pytest.raises(ClientError) as ei:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=too_high)
    assert_lambda_error(ei.value, "InvalidParameterValueException", 400)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    with pytest.raises(ClientError) as ei:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5000)
    assert_lambda_error(ei.value, "InvalidParameterValueException", 400)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5

    # exactly 100 left unreserved is allowed
    edge = unreserved_before - 100
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=edge)[
        "ReservedConcurrentExecutions"] == edge
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100

    deleted = lam.delete_function_concurrency(FunctionName=name)
    assert http_status(deleted) in (200, 204)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert "Concurrency" not in lam.get_function(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == unreserved_before

    with pytest.raises(ClientError) as ei:
        lam.put_function_concurrency(FunctionName=unique_name("nope"), ReservedConcurrentExecutions=1)
    assert_lambda_error(ei.value, "ResourceNotFoundException", 404)


def test_configurable_region_and_account(tmp_path, kumo_binary):
    cfg = '[server]\nregion = "eu-west-2"\naccount_id = "111122223333"\n'
    srv = KumoServer(tmp_path / "data", config_text=cfg, log_dir=tmp_path).start()
    try:
        lam = lambda_client(srv.url, region="eu-west-2")
        name = unique_name("region")
        created = lam.create_function(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
                                      Code={"ZipFile": make_zip(funcs.py_files())})
        arn = f"arn:aws:lambda:eu-west-2:111122223333:function:{name}"
        assert created["FunctionArn"] == arn
        assert lam.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn
    finally:
        assert srv.stop() == 0


# --------------------------------------------------------------------------- validation


def _create_kwargs(name, **over):
    kw = dict(FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
              Code={"ZipFile": make_zip(funcs.py_files())})
    kw.update(over)
    return {k: v for k, v in kw.items() if v is not None}


def _bad_env_big():
    return {"Variables": {"BIG": "x" * 5000}}


CREATE_CASES = [
    # id, overrides, expected code (name=None means "use a fresh valid name")
    # a bare name that breaks the model's rules: AWS answers CreateFunction with
    # InvalidParameterValueException here (and ValidationException for a bad ARN)
    ("name-space", dict(FunctionName="bad name"), "InvalidParameterValueException"),
    ("name-65-chars", dict(FunctionName="n" * 65), "InvalidParameterValueException"),
    ("name-141-chars", dict(FunctionName="n" * 141), "InvalidParameterValueException"),
    ("name-bad-arn-account", dict(FunctionName="arn:aws:lambda:us-east-1:12345:function:f"), "ValidationException"),
    ("name-bad-arn-service", dict(FunctionName="arn:aws:s3:::bucket"), "ValidationException"),
    ("handler-whitespace", dict(Handler="app. handler"), "ValidationException"),
    ("handler-129-chars", dict(Handler="a." + "h" * 127), "ValidationException"),
    ("memory-127", dict(MemorySize=127), "ValidationException"),
    ("memory-10241", dict(MemorySize=10241), "ValidationException"),
    ("timeout-0", dict(Timeout=0), "ValidationException"),
    ("timeout-901", dict(Timeout=901), "ValidationException"),
    ("env-key-digit-first", dict(Environment={"Variables": {"1BAD": "x"}}), "ValidationException"),
    ("env-key-reserved", dict(Environment={"Variables": {"AWS_REGION": "eu-west-1"}}),
     "InvalidParameterValueException"),
    ("env-over-4kb", dict(Environment=_bad_env_big()), "InvalidParameterValueException"),
    # not in the model's Runtime enum: AWS answers InvalidParameterValueException ("... or be a
    # valid ARN"), not the generic ValidationException
    ("runtime-unknown", dict(Runtime="cobol1"), "InvalidParameterValueException"),
    # in the enum but not supported for new functions: semantic, as in AWS
    ("runtime-deprecated", dict(Runtime="python2.7"), "InvalidParameterValueException"),
    ("zip-invalid", dict(Code={"ZipFile": b"this is not a zip file at all"}), "InvalidParameterValueException"),
    ("zip-slip", dict(Code={"ZipFile": make_zip({"app.py": "x = 1\n", "../evil": "pwned"})}),
     "InvalidParameterValueException"),
    ("zip-slip-nested", dict(Code={"ZipFile": make_zip({"app.py": "x = 1\n", "a/../../evil": "pwned"})}),
     "InvalidParameterValueException"),
    ("zip-absolute-path", dict(Code={"ZipFile": make_zip({"app.py": "x = 1\n", "/tmp/evil": "pwned"})}),
     "InvalidParameterValueException"),
]


@pytest.mark.parametrize("case_id,over,code", CREATE_CASES, ids=[c[0] for c in CREATE_CASES])
def test_create_validation(lam, lam_raw, case_id, over, code):
    name = over.get("FunctionName") or unique_name("invalid")
    with pytest.raises(ClientError) as ei:
        lam_raw.create_function(**_create_kwargs(name, **over))
    assert_lambda_error(ei.value, code, 400)
    assert name not in names_listed(lam)
    if "FunctionName" not in over:
        assert_not_found(lam, name)


def test_create_zip_bomb_rejected(lam):
    name = unique_name("bomb")
    bomb = zip_bomb()
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ClientError) as ei:
        lam.create_function(**_create_kwargs(name, Code={"ZipFile": bomb}))
    assert_lambda_error(ei.value, "InvalidParameterValueException", 400)
    assert_not_found(lam, name)
    assert name not in names_listed(lam)


def test_create_missing_code_rejected(lam, lam_raw):
    name = unique_name("nocode")
    kw = _create_kwargs(name)
    del kw["Code"]
    with pytest.raises(ClientError) as ei:
        lam_raw.create_function(**kw)
    # a required member is missing: AWS answers ValidationException ("must not be null")
    assert error_code(ei.value) in ("ValidationException", "InvalidParameterValueException")
    assert_lambda_error(ei.value, error_code(ei.value), 400)
    assert_not_found(lam, name)

    with pytest.raises(ClientError) as ei:
        lam_raw.create_function(**_create_kwargs(name, Code={}))
    assert error_code(ei.value) in ("ValidationException", "InvalidParameterValueException")
    assert_lambda_error(ei.value, error_code(ei.value), 400)
    assert_not_found(lam, name)


def test_create_boundaries_accepted(lam):
    n64 = ("edge64" + uuid.uuid4().hex * 2)[:64]
    cfg = lam.create_function(**_create_kwargs(n64, MemorySize=10240, Timeout=900,
                                               Environment={"Variables": {"AB": "x" * 3000}}))
    assert cfg["FunctionName"] == n64
    assert cfg["MemorySize"] == 10240 and cfg["Timeout"] == 900
    n2 = unique_name("edge")
    cfg2 = lam.create_function(**_create_kwargs(n2, MemorySize=128, Timeout=1))
    assert cfg2["MemorySize"] == 128 and cfg2["Timeout"] == 1


UPDATE_CONFIG_CASES = [
    ("memory-10241", dict(MemorySize=10241), "ValidationException"),
    ("memory-127", dict(MemorySize=127), "ValidationException"),
    ("timeout-901", dict(Timeout=901), "ValidationException"),
    ("timeout-0", dict(Timeout=0), "ValidationException"),
    ("handler-whitespace", dict(Handler="app handler"), "ValidationException"),
    ("env-key-reserved", dict(Environment={"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}),
     "InvalidParameterValueException"),
    ("env-key-digit-first", dict(Environment={"Variables": {"1BAD": "x"}}), "ValidationException"),
    ("env-over-4kb", dict(Environment=_bad_env_big()), "InvalidParameterValueException"),
    ("runtime-unknown", dict(Runtime="cobol1"), "InvalidParameterValueException"),
    ("runtime-deprecated", dict(Runtime="python2.7"), "InvalidParameterValueException"),
]


@pytest.fixture(scope="module")
def victim(make_function):
    """One function that every failed update must leave untouched."""
    return make_function(prefix="victim", MemorySize=256, Timeout=5, Environment={"Variables": {"KEEP": "me"}})


@pytest.mark.parametrize("case_id,over,code", UPDATE_CONFIG_CASES, ids=[c[0] for c in UPDATE_CONFIG_CASES])
def test_update_configuration_validation(lam, lam_raw, victim, case_id, over, code):
    before = lam.get_function_configuration(FunctionName=victim)
    with pytest.raises(ClientError) as ei:
        lam_raw.update_function_configuration(FunctionName=victim, **over)
    assert_lambda_error(ei.value, code, 400)
    after = lam.get_function_configuration(FunctionName=victim)
    for k in ("MemorySize", "Timeout", "Handler", "Runtime", "Environment", "RevisionId", "LastModified"):
        assert after.get(k) == before.get(k), k


@pytest.mark.parametrize("case_id,zip_bytes", [
    ("zip-invalid", lambda: b"PK\x03\x04 definitely broken"),
    ("zip-slip", lambda: make_zip({"app.py": "x = 1\n", "../evil": "pwned"})),
    ("zip-bomb", zip_bomb),
], ids=["zip-invalid", "zip-slip", "zip-bomb"])
def test_update_code_validation(lam, victim, case_id, zip_bytes):
    before = lam.get_function_configuration(FunctionName=victim)
    with pytest.raises(ClientError) as ei:
        lam.update_function_code(FunctionName=victim, ZipFile=zip_bytes())
    assert_lambda_error(ei.value, "InvalidParameterValueException", 400)
    after = lam.get_function_configuration(FunctionName=victim)
    assert after["CodeSha256"] == before["CodeSha256"]
    assert after["CodeSize"] == before["CodeSize"]
    assert after["RevisionId"] == before["RevisionId"]
