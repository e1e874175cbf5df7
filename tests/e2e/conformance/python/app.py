"""The Python conformance function (python3.x runtime, and the awslambdaric custom runtime).

Operations are selected by the event's "op" (see ../README.md).
"""

import logging
import os
import sys
import time

INIT_RUNS = 0
INVOCATIONS = 0
TMP_FILE = "/tmp/conformance.txt"


class ConformanceError(Exception):
    pass


class ConformanceInitError(Exception):
    pass


INIT_RUNS += 1
if os.environ.get("CONF_INIT_FAIL") == "1":
    raise ConformanceInitError("conformance init failure")


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    op = event.get("op", "echo")
    if op == "echo":
        return event
    if op == "error":
        raise ConformanceError(event.get("message", ""))
    if op == "crash":
        return [][event.get("index", 1)]
    if op == "sleep":
        time.sleep(event["ms"] / 1000)
        return {"slept": event["ms"]}
    if op == "exit":
        sys.stdout.flush()
        os._exit(event.get("code", 1))
    if op == "context":
        first = context.get_remaining_time_in_millis()
        time.sleep(0.02)
        second = context.get_remaining_time_in_millis()
        return {
            "request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": int(context.memory_limit_in_mb),
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": [first, second],
        }
    if op == "env":
        return {"env": {name: os.environ.get(name) for name in event.get("names", [])}}
    if op == "tmp":
        if "write" in event:
            with open(TMP_FILE, "w") as f:
                f.write(event["write"])
        try:
            with open(TMP_FILE) as f:
                return {"content": f.read()}
        except FileNotFoundError:
            return {"content": None}
    if op == "count":
        return {"init": INIT_RUNS, "invocations": INVOCATIONS}
    if op == "log":
        for line in event.get("lines", []):
            print(line)
        if "stderr" in event:
            print(event["stderr"], file=sys.stderr)
        if "logging" in event:
            logging.getLogger().warning(event["logging"])
        return {"logged": len(event.get("lines", []))}
    raise ConformanceError(f"unknown op {op}")
