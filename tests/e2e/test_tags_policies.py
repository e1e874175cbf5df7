"""Tags, resource policies and the per-function settings deployment tools call on every deploy,
driven with boto3 and the aws CLI against the real server; errors and shapes as AWS answers them.
"""

import json

import pytest

from testutil import (
    ACCOUNT,
    REGION,
    aws,
    aws_json,
    call,
    expect_error,
    function_arn,
    unique_name,
)


@pytest.fixture(scope="module")
def fn(make_function):
    return make_function(prefix="tagged", Tags={"team": "core"})


def test_tag_lifecycle(lam, fn):
    arn = function_arn(fn)
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert call(lam, "tag_resource", Resource=arn, Tags={"env": "prod", "team": "edge"})[0] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod", "team": "edge"}
    assert lam.get_function(FunctionName=fn)["Tags"] == {"env": "prod", "team": "edge"}
    assert call(lam, "untag_resource", Resource=arn, TagKeys=["team", "absent"])[0] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    lam.untag_resource(Resource=arn, TagKeys=["env"])
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=fn)


def test_tag_errors_change_nothing(lam, lam_raw, fn):
    arn = function_arn(fn)
    lam.tag_resource(Resource=arn, Tags={"keep": "me"})
    expect_error(lam_raw, "tag_resource", 400, "InvalidParameterValueException",
                 "Tags on function aliases and versions are not supported. Please specify a function ARN.",
                 Resource=f"{arn}:$LATEST", Tags={"a": "b"})
    expect_error(lam_raw, "tag_resource", 400, "InvalidParameterValueException",
                 "An error occurred and the request cannot be processed.", Resource=arn, Tags={})
    too_many = {f"k{i}": "v" for i in range(50)}
    expect_error(lam_raw, "tag_resource", 400, "InvalidParameterValueException",
                 "Number of tags exceeds resource tag limit.", Resource=arn, Tags=too_many)
    missing = function_arn(unique_name("untagged"))
    expect_error(lam_raw, "list_tags", 404, "ResourceNotFoundException",
                 f"Function not found: {missing}", Resource=missing)
    status, error_type, message, _ = call(lam_raw, "tag_resource", Resource="arn:aws:something",
                                          Tags={"a": "b"})
    assert (status, error_type) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value 'arn:aws:something' at 'resource'")
    expect_error(lam_raw, "untag_resource", 400, "ValidationException",
                 "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
                 "Member must not be null", Resource=arn, TagKeys=[])
    assert lam.list_tags(Resource=arn)["Tags"] == {"keep": "me"}
    lam.untag_resource(Resource=arn, TagKeys=["keep"])


def test_exactly_fifty_tags_are_accepted(lam, fn):
    arn = function_arn(fn)
    lam.tag_resource(Resource=arn, Tags={f"k{i}": str(i) for i in range(50)})
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50
    lam.untag_resource(Resource=arn, TagKeys=[f"k{i}" for i in range(50)])


def test_permission_lifecycle(lam, lam_raw, fn):
    expect_error(lam_raw, "get_policy", 404, "ResourceNotFoundException",
                 "The resource you requested does not exist.", FunctionName=fn)
    expect_error(lam_raw, "remove_permission", 404, "ResourceNotFoundException",
                 "No policy is associated with the given resource.", FunctionName=fn,
                 StatementId="none")
    status, _, _, added = call(
        lam, "add_permission", FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket", SourceAccount=ACCOUNT,
    )
    assert status == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": function_arn(fn),
        "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}},
    }
    lam.add_permission(FunctionName=fn, StatementId="acct", Action="lambda:*", Principal=ACCOUNT)
    expect_error(
        lam_raw, "add_permission", 409, "ResourceConflictException",
        "The statement id (s3) provided already exists. Please provide a new statement id, or "
        "remove the existing statement.",
        FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction", Principal="*",
    )
    got = lam.get_policy(FunctionName=fn)
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["s3", "acct"]
    assert policy["Statement"][1]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert got["RevisionId"] == lam.get_function_configuration(FunctionName=fn)["RevisionId"]

    expect_error(lam_raw, "remove_permission", 404, "ResourceNotFoundException",
                 "Statement nope is not found in resource policy.", FunctionName=fn,
                 StatementId="nope")
    assert call(lam, "remove_permission", FunctionName=fn, StatementId="s3")[0] == 204
    lam.remove_permission(FunctionName=fn, StatementId="acct")
    expect_error(lam_raw, "get_policy", 404, "ResourceNotFoundException",
                 "The resource you requested does not exist.", FunctionName=fn)


def test_permission_errors(lam_raw, fn):
    base = dict(FunctionName=fn, Action="lambda:InvokeFunction", Principal="*")
    expect_error(lam_raw, "add_permission", 400, "ValidationException",
                 "1 validation error detected: Value 'example.com' at 'statementId' failed to "
                 "satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
                 StatementId="example.com", **base)
    expect_error(lam_raw, "add_permission", 400, "InvalidParameterValueException",
                 "We currently do not support adding policies for $LATEST.",
                 StatementId="latest", Qualifier="$LATEST", **base)
    expect_error(lam_raw, "add_permission", 400, "InvalidParameterValueException",
                 "The provided principal was invalid. Please check the principal and try again.",
                 StatementId="p", FunctionName=fn, Action="lambda:InvokeFunction",
                 Principal="invalid")
    expect_error(lam_raw, "add_permission", 404, "ResourceNotFoundException",
                 f"Function not found: {function_arn(fn)}:42", StatementId="v", Qualifier="42",
                 **base)
    missing = unique_name("nopolicy")
    expect_error(lam_raw, "add_permission", 404, "ResourceNotFoundException",
                 f"Function not found: {function_arn(missing)}", StatementId="m",
                 FunctionName=missing, Action="lambda:InvokeFunction", Principal="*")
    expect_error(lam_raw, "remove_permission", 404, "ResourceNotFoundException",
                 f"No policy found for: {function_arn(missing)}", FunctionName=missing,
                 StatementId="m")
    expect_error(lam_raw, "add_permission", 412, "PreconditionFailedException",
                 "The Revision Id provided does not match the latest Revision Id. Call the "
                 "GetFunction/GetAlias API to retrieve the latest Revision Id",
                 StatementId="rev", RevisionId="stale", **base)


def test_settings_deploy_tools_read(lam, lam_raw, fn):
    assert lam.get_function_code_signing_config(FunctionName=fn)["FunctionName"] == fn
    assert lam.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Allow"
    status, error_type, *_ = call(lam_raw, "put_function_recursion_config", FunctionName=fn,
                                  RecursiveLoop="Sometimes")
    assert (status, error_type) == (400, "ValidationException")
    got = lam.get_runtime_management_config(FunctionName=fn)
    assert got["UpdateRuntimeOn"] == "Auto" and got["FunctionArn"] == function_arn(fn)


def test_aws_cli_tags_and_permissions(server, fn):
    arn = function_arn(fn)
    res = aws(server.url, "lambda", "tag-resource", "--resource", arn, "--tags", "cli=yes")
    assert res.returncode == 0, res.stderr
    assert aws_json(server.url, "lambda", "list-tags", "--resource", arn)["Tags"] == {"cli": "yes"}
    added = aws_json(server.url, "lambda", "add-permission", "--function-name", fn,
                     "--statement-id", "cli", "--action", "lambda:InvokeFunction",
                     "--principal", "events.amazonaws.com")
    assert json.loads(added["Statement"])["Principal"] == {"Service": "events.amazonaws.com"}
    policy = json.loads(aws_json(server.url, "lambda", "get-policy", "--function-name", fn)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["cli"]
    res = aws(server.url, "lambda", "remove-permission", "--function-name", fn, "--statement-id", "cli")
    assert res.returncode == 0, res.stderr
    res = aws(server.url, "lambda", "untag-resource", "--resource", arn, "--tag-keys", "cli")
    assert res.returncode == 0, res.stderr
    assert REGION in arn
