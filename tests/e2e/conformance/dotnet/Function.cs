// The C# conformance function. Operations are selected by the event's "op" (see ../README.md).
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using Amazon.Lambda.Core;

namespace Conformance
{
    public class ConformanceError : Exception
    {
        public ConformanceError(string message) : base(message) { }
    }

    public class ConformanceInitError : Exception
    {
        public ConformanceInitError(string message) : base(message) { }
    }

    public class Function
    {
        const string TmpFile = "/tmp/conformance.txt";
        static int initRuns;
        static int invocations;

        static Function()
        {
            initRuns++;
            if (Environment.GetEnvironmentVariable("CONF_INIT_FAIL") == "1")
                throw new ConformanceInitError("conformance init failure");
        }

        static object Get(Dictionary<string, object> e, string key, object fallback)
        {
            object v;
            return e.TryGetValue(key, out v) ? v : fallback;
        }

        public object Handler(Dictionary<string, object> e, ILambdaContext context)
        {
            invocations++;
            string op = (string)Get(e, "op", "echo");
            switch (op)
            {
                case "echo":
                    return e;
                case "error":
                    throw new ConformanceError((string)Get(e, "message", ""));
                case "crash":
                {
                    object missing = Get(e, "missing", null);
                    return missing.ToString(); // NullReferenceException
                }
                case "sleep":
                {
                    int ms = Convert.ToInt32(Get(e, "ms", 0));
                    Thread.Sleep(ms);
                    return new Dictionary<string, object> { { "slept", ms } };
                }
                case "exit":
                    Environment.Exit(Convert.ToInt32(Get(e, "code", 1)));
                    return null;
                case "context":
                {
                    long first = (long)context.RemainingTime.TotalMilliseconds;
                    Thread.Sleep(20);
                    long second = (long)context.RemainingTime.TotalMilliseconds;
                    return new Dictionary<string, object>
                    {
                        { "request_id", context.AwsRequestId },
                        { "function_name", context.FunctionName },
                        { "function_version", context.FunctionVersion },
                        { "memory_limit_in_mb", context.MemoryLimitInMB },
                        { "invoked_function_arn", context.InvokedFunctionArn },
                        { "log_group_name", context.LogGroupName },
                        { "log_stream_name", context.LogStreamName },
                        { "remaining_ms", new List<object> { first, second } },
                    };
                }
                case "env":
                {
                    var env = new Dictionary<string, object>();
                    foreach (object name in (List<object>)Get(e, "names", new List<object>()))
                        env[(string)name] = Environment.GetEnvironmentVariable((string)name);
                    return new Dictionary<string, object> { { "env", env } };
                }
                case "tmp":
                {
                    string write = Get(e, "write", null) as string;
                    if (write != null)
                        File.WriteAllText(TmpFile, write);
                    string content = File.Exists(TmpFile) ? File.ReadAllText(TmpFile) : null;
                    return new Dictionary<string, object> { { "content", content } };
                }
                case "count":
                    return new Dictionary<string, object> { { "init", initRuns }, { "invocations", invocations } };
                case "log":
                {
                    var lines = (List<object>)Get(e, "lines", new List<object>());
                    foreach (object line in lines)
                        Console.WriteLine(line);
                    string stderr = Get(e, "stderr", null) as string;
                    if (stderr != null)
                        Console.Error.WriteLine(stderr);
                    return new Dictionary<string, object> { { "logged", lines.Count } };
                }
                default:
                    throw new ConformanceError("unknown op " + op);
            }
        }
    }
}
