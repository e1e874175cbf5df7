"""Source code of the functions the end-to-end tests deploy.

Every function understands the same little protocol, driven by the event's "action":
  echo (default)  return {ok, runtime, version, event, invocations, greeting, ctx}
  raise           throw MyError(event.message)
  sleep           sleep event.secs seconds, then echo
  exit            exit the process with status 3
  big             return a string of event.n "x"
  len             return {len: length of event.data}
  log             write PRINT-/LOGGING-INFO-/LOGGING-WARN-/STDERR-<token> lines
  flood           write event.lines lines of 1000 "F"
  env             return {env: the process environment, cwd: the working directory}
"invocations" is a module-level counter: it counts invokes served by one environment.
"""

PY = "python3.11"
NODE = "nodejs20.x"

_PY_TEMPLATE = r'''
import logging
import os
import sys
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

VERSION = "@VERSION@"
INVOCATIONS = 0  # module-level state: lives as long as the environment


class MyError(Exception):
    pass


def _ctx(context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_custom": getattr(context.client_context, "custom", None),
    }


def @HANDLER@(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    if not isinstance(event, dict):
        event = {"value": event}
    action = event.get("action", "echo")
    if action == "raise":
        raise MyError(event.get("message", "boom"))
    if action == "sleep":
        time.sleep(event["secs"])
    elif action == "exit":
        sys.stdout.flush()
        os._exit(3)
    elif action == "big":
        return "x" * event["n"]
    elif action == "len":
        return {"len": len(event["data"])}
    elif action == "log":
        tok = event["token"]
        print("PRINT-" + tok)
        logger.info("LOGGING-INFO-" + tok)
        logging.warning("LOGGING-WARN-" + tok)
        print("STDERR-" + tok, file=sys.stderr)
    elif action == "flood":
        for _ in range(event["lines"]):
            print("F" * 1000)
    elif action == "env":
        return {"env": dict(os.environ), "cwd": os.getcwd()}
    return {
        "ok": True,
        "runtime": "python",
        "version": VERSION,
        "event": event,
        "invocations": INVOCATIONS,
        "greeting": os.environ.get("GREETING"),
        "ctx": _ctx(context),
    }
'''


def py_source(version="v1", handler="handler"):
    return _PY_TEMPLATE.replace("@VERSION@", version).replace("@HANDLER@", handler)


def py_files(version="v1"):
    """Zip contents for a Python function with handler `app.handler`."""
    return {"app.py": py_source(version)}


_NODE_BODY = r'''
const VERSION = "@VERSION@";
let invocations = 0; // module-level state: lives as long as the environment

class MyError extends Error {
  constructor(message) {
    super(message);
    this.name = "MyError";
  }
}

function ctx(context) {
  return {
    function_name: context.functionName,
    function_version: context.functionVersion,
    invoked_function_arn: context.invokedFunctionArn,
    memory_limit_in_mb: String(context.memoryLimitInMB),
    aws_request_id: context.awsRequestId,
    log_group_name: context.logGroupName,
    log_stream_name: context.logStreamName,
    remaining_ms: context.getRemainingTimeInMillis(),
    client_custom: context.clientContext && context.clientContext.custom !== undefined
      ? context.clientContext.custom : null,
  };
}

async function run(event, context) {
  invocations += 1;
  if (event === null || typeof event !== "object" || Array.isArray(event)) event = { value: event };
  const action = event.action || "echo";
  if (action === "raise") throw new MyError(event.message || "boom");
  if (action === "sleep") {
    await new Promise((r) => setTimeout(r, event.secs * 1000));
  } else if (action === "exit") {
    process.exit(3);
  } else if (action === "big") {
    return "x".repeat(event.n);
  } else if (action === "len") {
    return { len: event.data.length };
  } else if (action === "log") {
    const t = event.token;
    console.log("PRINT-" + t);
    console.info("LOGGING-INFO-" + t);
    console.warn("LOGGING-WARN-" + t);
    console.error("STDERR-" + t);
  } else if (action === "flood") {
    for (let i = 0; i < event.lines; i++) console.log("F".repeat(1000));
  } else if (action === "env") {
    return { env: { ...process.env }, cwd: process.cwd() };
  }
  return {
    ok: true,
    runtime: "node",
    version: VERSION,
    event,
    invocations,
    greeting: process.env.GREETING === undefined ? null : process.env.GREETING,
    ctx: ctx(context),
  };
}
'''

_CJS_ASYNC = "'use strict';\n@BODY@\nexports.handler = async (event, context) => run(event, context);\n"
_CJS_CALLBACK = (
    "'use strict';\n@BODY@\n"
    "exports.handler = (event, context, callback) => {\n"
    "  run(event, context).then((r) => callback(null, r), (e) => callback(e));\n"
    "};\n"
)
_ESM = "import * as os from 'node:os';\n@BODY@\nexport const handler = async (event, context) => run(event, context);\n"


def _node(template, version):
    return template.replace("@BODY@", _NODE_BODY.replace("@VERSION@", version))


def node_files(style="cjs", version="v1"):
    """Zip contents for a Node function with handler `index.handler`.

    style: "cjs" (async, index.js), "callback" (index.js), "mjs" (index.mjs),
    "module" (index.js with package.json type=module).
    """
    if style == "cjs":
        return {"index.js": _node(_CJS_ASYNC, version)}
    if style == "callback":
        return {"index.js": _node(_CJS_CALLBACK, version)}
    if style == "mjs":
        return {"index.mjs": _node(_ESM, version)}
    if style == "module":
        return {
            "index.js": _node(_ESM, version),
            "package.json": '{"name": "esm-fn", "version": "1.0.0", "type": "module"}\n',
        }
    raise ValueError(style)


def files_for(runtime_key, version="v1"):
    """(runtime, handler, files) for "python" or "node"."""
    if runtime_key == "python":
        return PY, "app.handler", py_files(version)
    if runtime_key == "node":
        return NODE, "index.handler", node_files("cjs", version)
    raise ValueError(runtime_key)
