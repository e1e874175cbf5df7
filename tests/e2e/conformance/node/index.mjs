// The Node.js conformance function. Operations are selected by the event's "op" (see ../README.md).
import fs from "node:fs";

let initRuns = 0;
let invocations = 0;
const TMP_FILE = "/tmp/conformance.txt";

class ConformanceError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConformanceError";
  }
}

class ConformanceInitError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConformanceInitError";
  }
}

initRuns += 1;
if (process.env.CONF_INIT_FAIL === "1") {
  throw new ConformanceInitError("conformance init failure");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const handler = async (event, context) => {
  invocations += 1;
  const op = event.op ?? "echo";
  switch (op) {
    case "echo":
      return event;
    case "error":
      throw new ConformanceError(event.message ?? "");
    case "crash": {
      const missing = event.missing;
      return missing.property; // TypeError: cannot read properties of undefined
    }
    case "sleep":
      await sleep(event.ms);
      return { slept: event.ms };
    case "exit":
      process.exit(event.code ?? 1);
      break;
    case "context": {
      const first = context.getRemainingTimeInMillis();
      await sleep(20);
      const second = context.getRemainingTimeInMillis();
      return {
        request_id: context.awsRequestId,
        function_name: context.functionName,
        function_version: context.functionVersion,
        memory_limit_in_mb: Number(context.memoryLimitInMB),
        invoked_function_arn: context.invokedFunctionArn,
        log_group_name: context.logGroupName,
        log_stream_name: context.logStreamName,
        remaining_ms: [first, second],
      };
    }
    case "env": {
      const env = {};
      for (const name of event.names ?? []) env[name] = process.env[name] ?? null;
      return { env };
    }
    case "tmp": {
      if (typeof event.write === "string") fs.writeFileSync(TMP_FILE, event.write);
      let content = null;
      try {
        content = fs.readFileSync(TMP_FILE, "utf8");
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }
      return { content };
    }
    case "count":
      return { init: initRuns, invocations };
    case "log": {
      const lines = event.lines ?? [];
      for (const line of lines) console.log(line);
      if (typeof event.stderr === "string") console.error(event.stderr);
      return { logged: lines.length };
    }
    default:
      throw new ConformanceError(`unknown op ${op}`);
  }
};
