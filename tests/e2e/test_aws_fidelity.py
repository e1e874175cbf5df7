"""Kumo answers as AWS Lambda does: each case replays one request with boto3 (client-side
validation off, so the server sees exactly what was sent) and compares the HTTP status,
`x-amzn-ErrorType`, the message and, for successes, the top-level keys with what AWS returns
for the same request (AWS's recorded answers and botocore's service model).

Cases that change data also check that a refused request changed nothing. Add a case here for
every operation Kumo implements and every error it can answer.
"""

import json

import pytest
from botocore.exceptions import ClientError

from testutil import (
    ACCOUNT,
    REGION,
    ROLE,
    call,
    expect_error,
    function_arn,
    make_zip,
    unique_name,
)

OTHER_REGION = "eu-central-1"
CROSS_REGION = f"Functions from '{OTHER_REGION}' are not reachable in this region ('{REGION}')"
ONLY_FUNCTIONS = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support "
    "this operation. Please specify either a function name or an unqualified function ARN."
)
RUNTIMES_IN_MODEL_ORDER = None  # filled from botocore's model in the fixture below


def other_region_arn(name):
    return f"arn:aws:lambda:{OTHER_REGION}:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def target(lam, make_function):
    """One function the cases read, and must leave in place."""
    return make_function(prefix="fidelity")


@pytest.fixture(scope="module")
def other(make_function):
    """A second function, usable as a destination."""
    return make_function(prefix="fidelity-dest")


def assert_exists(lam, name):
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


# ------------------------------------------------------------------ region and account checks


@pytest.mark.parametrize(
    "op, extra",
    [
        ("get_function", {}),
        ("get_function_configuration", {}),
        ("invoke", {"Payload": b"{}"}),
        ("get_function_concurrency", {}),
        ("put_function_concurrency", {"ReservedConcurrentExecutions": 1}),
        ("get_function_event_invoke_config", {}),
        ("get_function_url_config", {}),
        ("delete_function", {}),
    ],
)
def test_arn_of_another_region_reaches_nothing(lam, lam_raw, target, op, extra):
    expect_error(
        lam_raw, op, 404, "ResourceNotFoundException", CROSS_REGION,
        FunctionName=other_region_arn(target), **extra,
    )
    assert_exists(lam, target)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=target)


def test_create_with_an_arn_of_another_region_creates_nothing(lam, lam_raw):
    name = unique_name("fidelity-region")
    expect_error(
        lam_raw, "create_function", 404, "ResourceNotFoundException", CROSS_REGION,
        FunctionName=other_region_arn(name), Runtime="python3.11", Role=ROLE,
        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c): pass\n"})},
    )
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


# ------------------------------------------------------------------ qualifiers


@pytest.mark.parametrize("qualified", ["{name}:$LATEST", "{arn}:$LATEST", "{arn}:1"])
@pytest.mark.parametrize(
    "op, extra",
    [
        ("put_function_concurrency", {"ReservedConcurrentExecutions": 1}),
        ("get_function_concurrency", {}),
        ("delete_function_concurrency", {}),
    ],
)
def test_concurrency_is_for_functions_only(lam, lam_raw, target, op, extra, qualified):
    fn = qualified.format(name=target, arn=function_arn(target))
    expect_error(lam_raw, op, 400, "InvalidParameterValueException", ONLY_FUNCTIONS,
                 FunctionName=fn, **extra)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=target)


def test_delete_of_a_version_that_does_not_exist_deletes_nothing(lam, lam_raw, target):
    for kwargs in ({"Qualifier": "1"}, {"FunctionName": f"{target}:1"}):
        args = {"FunctionName": target, **kwargs}
        # DeleteFunction names the function unqualified, whatever the qualifier.
        expect_error(
            lam_raw, "delete_function", 404, "ResourceNotFoundException",
            f"Function not found: {function_arn(target)}", **args,
        )
        assert_exists(lam, target)


def test_delete_with_disagreeing_qualifiers_is_refused(lam, lam_raw, target):
    expect_error(
        lam_raw, "delete_function", 400, "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
        FunctionName=f"{target}:1", Qualifier="2",
    )
    assert_exists(lam, target)


def test_delete_of_latest_alone_is_refused(lam, lam_raw, target):
    expect_error(
        lam_raw, "delete_function", 400, "InvalidParameterValueException",
        "$LATEST version cannot be deleted without deleting the function.",
        FunctionName=target, Qualifier="$LATEST",
    )
    assert_exists(lam, target)


# ------------------------------------------------------------------ event invoke config


def test_event_invoke_config_needs_a_setting_before_the_function_is_looked_up(lam_raw):
    missing = unique_name("fidelity-missing")
    for op in ("put_function_event_invoke_config", "update_function_event_invoke_config"):
        expect_error(
            lam_raw, op, 400, "InvalidParameterValueException",
            "You must specify at least one of error handling or destination setting.",
            FunctionName=missing,
        )
        expect_error(
            lam_raw, op, 404, "ResourceNotFoundException", "The function doesn't exist.",
            FunctionName=missing, MaximumRetryAttempts=1,
        )


@pytest.mark.parametrize("side", ["OnSuccess", "OnFailure"])
def test_destination_must_be_another_existing_function(lam, lam_raw, target, side):
    missing_arn = function_arn(unique_name("fidelity-nobody"))
    expect_error(
        lam_raw, "put_function_event_invoke_config", 400, "InvalidParameterValueException",
        f"The destination ARN {missing_arn} is invalid.",
        FunctionName=target, DestinationConfig={side: {"Destination": missing_arn}},
    )
    expect_error(
        lam_raw, "put_function_event_invoke_config", 400, "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
        FunctionName=target, DestinationConfig={side: {"Destination": function_arn(target)}},
    )
    with pytest.raises(ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName=target)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_event_invoke_config_messages_and_shape(lam, lam_raw, target, other):
    missing = unique_name("fidelity-missing")
    for op in ("get_function_event_invoke_config", "delete_function_event_invoke_config"):
        expect_error(
            lam_raw, op, 404, "ResourceNotFoundException",
            f"The function {function_arn(missing)}:$LATEST doesn't have an EventInvokeConfig",
            FunctionName=missing,
        )
    expect_error(
        lam_raw, "list_function_event_invoke_configs", 404, "ResourceNotFoundException",
        "The function doesn't exist.", FunctionName=missing,
    )
    status, _, _, body = call(
        lam, "put_function_event_invoke_config", FunctionName=target, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": function_arn(other)}},
    )
    assert status == 200
    assert set(body) == {
        "LastModified", "FunctionArn", "MaximumRetryAttempts", "DestinationConfig",
    }
    assert body["FunctionArn"] == f"{function_arn(target)}:$LATEST"
    lam.delete_function_event_invoke_config(FunctionName=target)


# ------------------------------------------------------------------ create and update validation


def test_environment_limit_is_measured_on_its_json_text(lam, lam_raw, target):
    before = lam.get_function_configuration(FunctionName=target)["RevisionId"]
    # {"BIG":"xxx..."}: 10 bytes of JSON around the value.
    over = {"BIG": "x" * (4096 - 9)}
    status, error_type, message, _ = call(
        lam_raw, "update_function_configuration", FunctionName=target,
        Environment={"Variables": over},
    )
    assert (status, error_type) == (400, "InvalidParameterValueException")
    assert message == (
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit. String measured: " + json.dumps(
            over, separators=(",", ":"))
    ), message
    assert lam.get_function_configuration(FunctionName=target)["RevisionId"] == before
    fits = {"BIG": "x" * (4096 - 10)}
    status, *_ = call(lam, "update_function_configuration", FunctionName=target,
                      Environment={"Variables": fits})
    assert status == 200
    lam.get_waiter("function_updated_v2").wait(FunctionName=target)
    assert lam.get_function_configuration(FunctionName=target)["Environment"]["Variables"] == fits


def test_unknown_runtime_lists_the_model_enum(lam_raw):
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    runtimes = ", ".join(model.shape_for("Runtime").enum)
    for op, kwargs in (
        ("create_function", {
            "FunctionName": unique_name("fidelity-rt"), "Role": ROLE, "Handler": "app.handler",
            "Code": {"ZipFile": make_zip({"app.py": "x = 1\n"})},
        }),
    ):
        expect_error(
            lam_raw, op, 400, "InvalidParameterValueException",
            f"Value python2.8 at 'runtime' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{runtimes}] or be a valid ARN",
            Runtime="python2.8", **kwargs,
        )


def test_overlong_name(lam, lam_raw):
    name = "n" * 65
    expect_error(
        lam_raw, "create_function", 400, "InvalidParameterValueException",
        f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64",
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "x = 1\n"})},
    )
    # Elsewhere a 65-character name is well-formed and simply names no function.
    expect_error(
        lam_raw, "get_function", 404, "ResourceNotFoundException",
        f"Function not found: {function_arn(name)}", FunctionName=name,
    )


# ------------------------------------------------------------------ function URL configs


def test_url_config_not_found_messages(lam_raw):
    missing = unique_name("fidelity-missing")
    for op, extra in (
        ("create_function_url_config", {"AuthType": "NONE"}),
        ("update_function_url_config", {"AuthType": "NONE"}),
    ):
        expect_error(lam_raw, op, 404, "ResourceNotFoundException", "Function does not exist",
                     FunctionName=missing, **extra)
    for op in ("get_function_url_config", "delete_function_url_config"):
        expect_error(lam_raw, op, 404, "ResourceNotFoundException",
                     "The resource you requested does not exist.", FunctionName=missing)


# ------------------------------------------------------------------ success shapes


def test_concurrency_shapes(lam, target):
    status, _, _, body = call(lam, "get_function_concurrency", FunctionName=target)
    assert (status, body) == (200, {})
    status, _, _, body = call(lam, "put_function_concurrency", FunctionName=target,
                              ReservedConcurrentExecutions=2)
    assert (status, body) == (200, {"ReservedConcurrentExecutions": 2})
    status, *_ = call(lam, "delete_function_concurrency", FunctionName=target)
    assert status == 204


def test_error_body_carries_type_and_message(server, target):
    import urllib.error
    import urllib.request

    from testutil import signed_request

    url = f"{server.url}/2015-03-31/functions/{other_region_arn(target)}"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(signed_request(url), timeout=30)
    body = json.loads(e.value.read())
    assert e.value.code == 404
    assert e.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert body["Message"] == CROSS_REGION
    assert body["Type"] == "User"


def test_function_state_transitions_as_aws_reports_them(lam):
    name = unique_name("fidelity-state")
    status, _, _, created = call(
        lam, "create_function", FunctionName=name, Runtime="python3.11", Role=ROLE,
        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c): pass\n"})},
    )
    assert status == 201
    assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
    assert created["StateReason"] == "The function is being created."
    assert "LastUpdateStatus" not in created
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    active = lam.get_function_configuration(FunctionName=name)
    assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
    assert "StateReason" not in active
    arn = active["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert arn.startswith(f"arn:aws:lambda:{REGION}::runtime:") and len(arn.rsplit(":", 1)[1]) == 64

    for op, kwargs in (
        ("update_function_configuration", {"MemorySize": 256}),
        ("update_function_code", {"ZipFile": make_zip({"app.py": "def handler(e, c): return 1\n"})}),
    ):
        status, _, _, updated = call(lam, op, FunctionName=name, **kwargs)
        assert status == 200
        assert updated["State"] == "Active"
        assert updated["LastUpdateStatus"] == "InProgress"
        assert updated["LastUpdateStatusReasonCode"] == "Creating"
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
        assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    lam.delete_function(FunctionName=name)


def test_url_config_member_sets(lam, target):
    status, _, _, created = call(lam, "create_function_url_config", FunctionName=target,
                                 AuthType="NONE")
    assert status == 201
    assert set(created) == {"FunctionUrl", "FunctionArn", "AuthType", "CreationTime"}
    status, _, _, updated = call(lam, "update_function_url_config", FunctionName=target,
                                 AuthType="AWS_IAM")
    assert status == 200
    assert set(updated) == {
        "FunctionUrl", "FunctionArn", "AuthType", "CreationTime", "LastModifiedTime",
    }
    status, _, _, got = call(lam, "get_function_url_config", FunctionName=target)
    assert set(got) == {
        "FunctionUrl", "FunctionArn", "AuthType", "CreationTime", "LastModifiedTime", "InvokeMode",
    }
    assert got["InvokeMode"] == "BUFFERED"
    lam.delete_function_url_config(FunctionName=target)


def test_namespaced_names_that_name_no_function(lam_raw, target):
    # The model lets Get/Invoke/Delete name `my.fn` and `$LATEST.PUBLISHED`: well-formed, absent.
    expect_error(lam_raw, "get_function", 404, "ResourceNotFoundException",
                 f"Function not found: {function_arn('my.fn')}", FunctionName="my.fn")
    status, error_type, *_ = call(lam_raw, "invoke", FunctionName=f"{target}:$LATEST.PUBLISHED",
                                  Payload=b"{}")
    assert (status, error_type) == (404, "ResourceNotFoundException")


def test_arn_length_is_checked_before_its_pattern(lam_raw):
    long_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:" + "a b" * 40
    status, error_type, message, _ = call(
        lam_raw, "create_function", FunctionName=long_arn, Runtime="python3.11", Role=ROLE,
        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "x = 1\n"})},
    )
    assert (status, error_type) == (400, "ValidationException")
    assert message == (
        f"1 validation error detected: Value '{long_arn}' at 'functionName' failed to satisfy "
        "constraint: Member must have length less than or equal to 140"
    )


# ------------------------------------------------------------------ not-found texts per operation


def test_not_found_texts_name_the_function_as_each_operation_does(lam_raw):
    missing = unique_name("fidelity-missing")
    arn = function_arn(missing)
    cases = [
        ("get_function", {}, f"Function not found: {arn}"),
        ("get_function", {"Qualifier": "$LATEST"}, f"Function not found: {arn}:$LATEST"),
        ("get_function_configuration", {"Qualifier": "$LATEST"}, f"Function not found: {arn}:$LATEST"),
        ("delete_function", {}, f"Function not found: {arn}"),
        ("get_function_concurrency", {}, f"Function not found: {arn}"),
        ("put_function_concurrency", {"ReservedConcurrentExecutions": 1},
         f"Function not found: {arn}:$LATEST"),
        ("list_function_url_configs", {}, "Function does not exist"),
    ]
    for op, extra, message in cases:
        expect_error(lam_raw, op, 404, "ResourceNotFoundException", message,
                     FunctionName=missing, **extra)


def test_another_accounts_function_is_access_denied(lam, lam_raw, target):
    foreign = f"arn:aws:lambda:{REGION}:999999999999:function:{target}"
    for op in ("get_function", "delete_function"):
        status, error_type, message, _ = call(lam_raw, op, FunctionName=foreign)
        assert (status, error_type) == (403, "AccessDeniedException")
    assert_exists(lam, target)


def test_list_functions_item_shape(lam, lam_raw, target):
    page = lam.list_functions(MaxItems=50)
    items = [f for f in page["Functions"] if f["FunctionName"] == target]
    marker = page.get("NextMarker")
    while not items and marker:
        page = lam.list_functions(Marker=marker, MaxItems=50)
        items = [f for f in page["Functions"] if f["FunctionName"] == target]
        marker = page.get("NextMarker")
    assert len(items) == 1
    item = items[0]
    assert not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(item)
    assert item["FunctionArn"] == function_arn(target)
    every = lam.list_functions(FunctionVersion="ALL", MaxItems=50)["Functions"]
    assert all(f["FunctionArn"].endswith(":$LATEST") for f in every)
    expect_error(
        lam_raw, "list_functions", 400, "ValidationException",
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy "
        "constraint: Member must satisfy enum value set: [ALL]", FunctionVersion="invalid",
    )


def test_qualified_get_echoes_the_qualifier_in_its_arn(lam, target):
    got = lam.get_function(FunctionName=target, Qualifier="$LATEST")["Configuration"]
    assert got["FunctionArn"] == f"{function_arn(target)}:$LATEST"
    assert lam.get_function(FunctionName=target)["Configuration"]["FunctionArn"] == function_arn(target)
