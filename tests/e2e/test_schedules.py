"""Scheduled functions: EventBridge rules (aws CLI and boto3) with rate and cron expressions,
targets, enable/disable, persistence across restarts, and `kumo schedule`.

Functions record every event they receive (and when they ran) in a file the test owns, so these
servers run with `--insecure-no-sandbox` (see test_async.py). Most rules use a rate in seconds,
which only a test configuration allows (`events.allow_second_rates`); one test waits for a real
`rate(1 minute)`.
"""

import json
import os
import time
import calendar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import funcs
import testutil
from test_async import insecure_start, lines
from testutil import (
    ACCOUNT,
    REGION,
    ROLE,
    TEST_KEY,
    TEST_SECRET,
    KumoServer,
    aws,
    aws_json,
    error_code,
    function_arn,
    kumo,
    lambda_client,
    make_zip,
    unique_name,
    wait_until,
)

SCHEDULE_CONFIG = testutil.DEFAULT_CONFIG + """
[events]
allow_second_rates = true
"""

RECORDER = r'''
import json
import os
import time

SINK = os.environ["SINK"]


def handler(event, context):
    with open(os.path.join(SINK, "events"), "a") as f:
        f.write(json.dumps({"event": event, "ran_at": time.time(), "rid": context.aws_request_id}) + "\n")
    return {}
'''


def events_client(url):
    return boto3.client(
        "events", endpoint_url=url, region_name=REGION,
        aws_access_key_id=TEST_KEY, aws_secret_access_key=TEST_SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, kumo_binary):
    base = tmp_path_factory.mktemp("kumo-sched")
    srv = insecure_start(KumoServer(base / "data", config_text=SCHEDULE_CONFIG, log_dir=base))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ev(server):
    return events_client(server.url)


def recorder(lam, tmp_path):
    """A function that records what it receives; returns (name, path of its record file)."""
    sink = tmp_path / unique_name("sink")
    sink.mkdir()
    name = unique_name("sched")
    lam.create_function(
        FunctionName=name, Runtime=funcs.PY, Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": RECORDER})},
        Environment={"Variables": {"SINK": str(sink)}},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name, str(sink / "events")


def tick(record):
    """The scheduled time of a Scheduled Event (whole seconds, UTC) as epoch seconds."""
    return calendar.timegm(time.strptime(record["event"]["time"], "%Y-%m-%dT%H:%M:%SZ"))


def rule_arn(name):
    return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"


def test_rate_rule_made_with_the_aws_cli_sends_scheduled_events(server, lam, tmp_path):
    fn, record = recorder(lam, tmp_path)
    rule = unique_name("every2s")
    out = aws_json(server.url, "events", "put-rule", "--name", rule,
                   "--schedule-expression", "rate(2 seconds)", "--description", "test rule")
    assert out == {"RuleArn": rule_arn(rule)}
    out = aws_json(server.url, "events", "put-targets", "--rule", rule,
                   "--targets", f"Id=fn,Arn={function_arn(fn)}")
    assert out == {"FailedEntryCount": 0, "FailedEntries": []}

    got = wait_until(lambda: len(lines(record)) >= 2 and lines(record), 30, interval=0.2,
                     what="two scheduled events")
    first = got[0]["event"]
    assert set(first) == {"version", "id", "detail-type", "source", "account", "time", "region",
                          "resources", "detail"}
    assert first["version"] == "0"
    assert first["detail-type"] == "Scheduled Event"
    assert first["source"] == "aws.events"
    assert first["account"] == ACCOUNT and first["region"] == REGION
    assert first["resources"] == [rule_arn(rule)]
    assert first["detail"] == {}
    assert got[0]["event"]["id"] != got[1]["event"]["id"]
    # Ticks are one period apart, and no event runs before its tick.
    assert tick(got[1]) - tick(got[0]) == 2
    assert all(r["ran_at"] >= tick(r) for r in got)

    desc = aws_json(server.url, "events", "describe-rule", "--name", rule)
    assert desc["Name"] == rule and desc["Arn"] == rule_arn(rule)
    assert desc["ScheduleExpression"] == "rate(2 seconds)"
    assert desc["State"] == "ENABLED" and desc["Description"] == "test rule"
    assert desc["EventBusName"] == "default"
    targets = aws_json(server.url, "events", "list-targets-by-rule", "--rule", rule)["Targets"]
    assert targets == [{"Id": "fn", "Arn": function_arn(fn)}]
    listed = aws_json(server.url, "events", "list-rules", "--name-prefix", rule)["Rules"]
    assert [r["Name"] for r in listed] == [rule]

    # Disabled: no tick after the disable; enabled again: ticks resume.
    aws_json(server.url, "events", "disable-rule", "--name", rule)
    disabled_at = time.time()
    assert aws_json(server.url, "events", "describe-rule", "--name", rule)["State"] == "DISABLED"
    time.sleep(5)  # two and a half periods in which the rule must stay silent
    assert all(tick(r) <= disabled_at for r in lines(record))
    aws_json(server.url, "events", "enable-rule", "--name", rule)
    enabled_at = time.time()
    wait_until(lambda: [r for r in lines(record) if tick(r) > enabled_at], 30, interval=0.2,
               what="a tick after enable-rule")

    # A rule with targets cannot be deleted; without them it can.
    res = aws(server.url, "events", "delete-rule", "--name", rule)
    assert res.returncode != 0 and "ValidationException" in res.stderr
    aws_json(server.url, "events", "remove-targets", "--rule", rule, "--ids", "fn")
    aws_json(server.url, "events", "delete-rule", "--name", rule)
    res = aws(server.url, "events", "describe-rule", "--name", rule)
    assert res.returncode != 0 and "ResourceNotFoundException" in res.stderr


def test_target_input_replaces_the_scheduled_event(server, lam, ev, tmp_path):
    fn, record = recorder(lam, tmp_path)
    rule = unique_name("input")
    ev.put_rule(Name=rule, ScheduleExpression="rate(1 second)")
    ev.put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": function_arn(fn), "Input": '{"fixed": [1, 2]}'}])
    got = wait_until(lambda: lines(record), 30, interval=0.2, what="a scheduled invoke")
    assert got[0]["event"] == {"fixed": [1, 2]}
    assert ev.list_targets_by_rule(Rule=rule)["Targets"] == [
        {"Id": "t1", "Arn": function_arn(fn), "Input": '{"fixed": [1, 2]}'}]
    ev.remove_targets(Rule=rule, Ids=["t1"])
    ev.delete_rule(Name=rule)


def test_cron_rules_are_stored_and_described(ev):
    rule = unique_name("cron")
    arn = ev.put_rule(Name=rule, ScheduleExpression="cron(0/5 8-17 ? * MON-FRI *)", State="DISABLED")["RuleArn"]
    assert arn == rule_arn(rule)
    desc = ev.describe_rule(Name=rule)
    assert desc["ScheduleExpression"] == "cron(0/5 8-17 ? * MON-FRI *)"
    assert desc["State"] == "DISABLED"
    # PutRule on an existing rule replaces it.
    ev.put_rule(Name=rule, ScheduleExpression="cron(0 9 ? * 2#1 *)")
    desc = ev.describe_rule(Name=rule)
    assert desc["ScheduleExpression"] == "cron(0 9 ? * 2#1 *)" and desc["State"] == "ENABLED"
    ev.delete_rule(Name=rule)


def test_bad_rules_and_targets_are_refused_and_store_nothing(server, lam, ev, tmp_path):
    fn, _ = recorder(lam, tmp_path)
    rule = unique_name("bad")
    for expr in ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 weeks)",
                 "cron(0 10 * * *)", "cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(61 * * * ? *)",
                 "cron(0 9 ? * MON#6 *)", "every day"]:
        with pytest.raises(ClientError) as ei:
            ev.put_rule(Name=rule, ScheduleExpression=expr)
        assert error_code(ei.value) == "ValidationException", expr
        assert "ScheduleExpression is not valid" in str(ei.value)
    with pytest.raises(ClientError) as ei:
        ev.put_rule(Name=rule, EventPattern='{"source": ["aws.ec2"]}')
    assert error_code(ei.value) == "ValidationException"
    with pytest.raises(ClientError) as ei:
        ev.put_rule(Name="bad name!", ScheduleExpression="rate(5 minutes)")
    assert error_code(ei.value) == "ValidationException"
    assert ev.list_rules(NamePrefix=rule)["Rules"] == []

    with pytest.raises(ClientError) as ei:
        ev.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": function_arn(fn)}])
    assert error_code(ei.value) == "ResourceNotFoundException"
    ev.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")
    for target in [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:123456789012:q"},
                   {"Id": "t", "Arn": function_arn(fn), "Input": "{not json"},
                   {"Id": "t", "Arn": function_arn(fn), "InputPath": "$.detail"}]:
        with pytest.raises(ClientError) as ei:
            ev.put_targets(Rule=rule, Targets=[target])
        assert error_code(ei.value) == "ValidationException", target
    assert ev.list_targets_by_rule(Rule=rule)["Targets"] == []
    with pytest.raises(ClientError) as ei:
        ev.describe_rule(Name=unique_name("ghost"))
    assert error_code(ei.value) == "ResourceNotFoundException"
    ev.delete_rule(Name=rule)


def test_second_rates_need_the_test_allowance(tmp_path, kumo_binary):
    srv = KumoServer(tmp_path / "data", log_dir=tmp_path).start()
    try:
        ev = events_client(srv.url)
        with pytest.raises(ClientError) as ei:
            ev.put_rule(Name="fast", ScheduleExpression="rate(10 seconds)")
        assert error_code(ei.value) == "ValidationException"
        assert ev.put_rule(Name="slow", ScheduleExpression="rate(1 minute)")["RuleArn"] == rule_arn("slow")
    finally:
        srv.stop()


def test_rate_one_minute_rule_fires_on_time(server, lam, ev, tmp_path):
    fn, record = recorder(lam, tmp_path)
    rule = unique_name("minute")
    before = time.time()
    ev.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")
    after = time.time()
    ev.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function_arn(fn)}])
    got = wait_until(lambda: lines(record), 150, interval=0.5, what="the first tick of rate(1 minute)")
    # The first tick is one period after the rule was made, and the function runs at or after it.
    assert int(before) + 60 - 1 <= tick(got[0]) <= int(after) + 60
    assert got[0]["ran_at"] >= tick(got[0])
    ev.remove_targets(Rule=rule, Ids=["fn"])
    ev.delete_rule(Name=rule)


def test_rules_persist_and_a_missed_schedule_fires_once_on_start(tmp_path, kumo_binary):
    base = tmp_path / "restart"
    srv = insecure_start(KumoServer(base / "data", config_text=SCHEDULE_CONFIG, log_dir=base))
    try:
        lam = lambda_client(srv.url)
        fn, record = recorder(lam, tmp_path)
        rule = unique_name("persist")
        ev = events_client(srv.url)
        ev.put_rule(Name=rule, ScheduleExpression="rate(2 seconds)")
        ev.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function_arn(fn)}])
        wait_until(lambda: lines(record), 30, interval=0.2, what="a first tick")
        assert srv.stop() == 0
        stopped_at = time.time()
        time.sleep(7)  # the rule misses three ticks while Kumo is down
        restarted_at = time.time()
        insecure_start(srv)
        ev = events_client(srv.url)
        desc = ev.describe_rule(Name=rule)
        assert desc["State"] == "ENABLED" and desc["ScheduleExpression"] == "rate(2 seconds)"
        assert ev.list_targets_by_rule(Rule=rule)["Targets"] == [{"Id": "fn", "Arn": function_arn(fn)}]
        wait_until(lambda: [r for r in lines(record) if tick(r) > restarted_at + 2], 30, interval=0.2,
                   what="regular ticks after the restart")
        got = lines(record)
        # Ticks due while Kumo was down fire once between them. (A tick that fired just before
        # the stop may run after the restart: its event was accepted, and accepted events run.)
        # Event times are whole seconds, cut down: a tick at `t` was due in [t, t + 1).
        missed = [r for r in got if stopped_at < tick(r) and tick(r) + 1 <= restarted_at]
        assert len(missed) == 1, f"missed ticks fired {len(missed)} times: {[r['event']['time'] for r in missed]}"
        ticks = [r["event"]["time"] for r in got]
        assert len(ticks) == len(set(ticks)), "a tick fired twice"
    finally:
        srv.stop()


def test_kumo_schedule_shortcut(server, lam, ev, tmp_path):
    fn, record = recorder(lam, tmp_path)
    out = kumo("schedule", fn, "rate(1 second)", "--endpoint", server.url)
    assert out.returncode == 0, out.stderr
    assert "rate(1 second)" in out.stdout
    got = wait_until(lambda: lines(record), 30, interval=0.2, what="a tick of the kumo schedule rule")
    rule = f"kumo-schedule-{fn}"
    assert got[0]["event"]["resources"] == [rule_arn(rule)]
    assert ev.list_targets_by_rule(Rule=rule)["Targets"] == [{"Id": "function", "Arn": function_arn(fn)}]
    bad = kumo("schedule", fn, "rate(1 minutes)", "--endpoint", server.url)
    assert bad.returncode != 0 and "ScheduleExpression is not valid" in bad.stderr
    missing = kumo("schedule", unique_name("ghost"), "rate(1 minute)", "--endpoint", server.url)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    ev.remove_targets(Rule=rule, Ids=["function"])
    ev.delete_rule(Name=rule)
