using System;
using System.IO;
using System.Reflection;
using System.Text;
using Amazon.Lambda.Core;

[assembly: AssemblyTitle("KumoBootstrap")]

namespace Kumo.Runtime
{
    /// <summary>
    /// The dotnet runtime's entry point (run by Mono). Loads the handler named by $_HANDLER from
    /// $LAMBDA_TASK_ROOT, then serves invocations one at a time over the Runtime API at
    /// $AWS_LAMBDA_RUNTIME_API.
    /// </summary>
    internal static class Bootstrap
    {
        private const string Api = "/2018-06-01/runtime";

        private static LogWriter _stdout;
        private static LogWriter _stderr;

        private static int Main()
        {
            var sharedLock = new object();
            _stdout = new LogWriter(Console.OpenStandardOutput(), "info", sharedLock);
            _stderr = new LogWriter(Console.OpenStandardError(), "fail", sharedLock);
            Console.SetOut(_stdout);
            Console.SetError(_stderr);
            var logger = new Logger(_stdout);
            RouteStaticLogger(logger);

            string taskRoot = Environment.GetEnvironmentVariable("LAMBDA_TASK_ROOT");
            if (string.IsNullOrEmpty(taskRoot)) taskRoot = Directory.GetCurrentDirectory();
            ResolveFrom(taskRoot);

            var client = new RuntimeClient(Environment.GetEnvironmentVariable("AWS_LAMBDA_RUNTIME_API"));
            Handler handler;
            try
            {
                handler = Handler.Load(Environment.GetEnvironmentVariable("_HANDLER"), taskRoot);
            }
            catch (Exception e)
            {
                Exception error = Handler.Unwrap(e);
                Console.Error.WriteLine(error is LambdaValidationException ? error.GetType().Name + ": " + error.Message : error.ToString());
                Post(client, Api + "/init/error", ErrorDocument(error), error.GetType().Name);
                return 1;
            }

            var output = new MemoryStream();
            while (true)
            {
                RuntimeClient.Response next;
                try
                {
                    next = client.Request("GET", Api + "/invocation/next", null);
                }
                catch (Exception e)
                {
                    Console.Error.WriteLine("Runtime API /next failed: " + e.Message);
                    return 1;
                }
                if (next.Status != 200)
                {
                    Console.Error.WriteLine("Runtime API /next failed: " + next.Status + " " + Encoding.UTF8.GetString(next.Body));
                    return 1;
                }
                string requestId;
                next.Headers.TryGetValue("Lambda-Runtime-Aws-Request-Id", out requestId);
                string traceId;
                next.Headers.TryGetValue("Lambda-Runtime-Trace-Id", out traceId);
                Environment.SetEnvironmentVariable("_X_AMZN_TRACE_ID", traceId);
                LogWriter.RequestId = requestId ?? "";
                string path = Api + "/invocation/" + requestId;
                output.SetLength(0);
                try
                {
                    handler.Invoke(next.Body, output, new LambdaContext(next.Headers, logger));
                }
                catch (Exception e)
                {
                    Exception error = Handler.Unwrap(e);
                    Console.Error.WriteLine(error.ToString());
                    Post(client, path + "/error", ErrorDocument(error), error.GetType().Name);
                    continue;
                }
                Post(client, path + "/response", output.ToArray(), null);
            }
        }

        private static byte[] ErrorDocument(Exception e)
        {
            var b = new StringBuilder(512);
            ErrorJson.Write(b, e.GetType().Name, e.Message, ErrorJson.StackLines(e), e.InnerException);
            return Encoding.UTF8.GetBytes(b.ToString());
        }

        private static void Post(RuntimeClient client, string path, byte[] body, string errorType)
        {
            _stdout.Flush(); // the platform reads the log as soon as the POST lands
            _stderr.Flush();
            try
            {
                var r = errorType == null
                    ? client.Request("POST", path, body)
                    : client.Request("POST", path, body, "Content-Type", "application/vnd.aws.lambda.error+json",
                        "Lambda-Runtime-Function-Error-Type", errorType);
                if (r.Status >= 300)
                    Console.Error.WriteLine("Runtime API rejected POST " + path + ": " + r.Status + " " + Encoding.UTF8.GetString(r.Body));
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("Runtime API POST " + path + " failed: " + e.Message);
            }
            _stderr.Flush();
        }

        /// <summary>Makes Amazon.Lambda.Core.LambdaLogger.Log write through the function logger.</summary>
        private static void RouteStaticLogger(ILambdaLogger logger)
        {
            FieldInfo field = typeof(LambdaLogger).GetField("_logAction", BindingFlags.NonPublic | BindingFlags.Static);
            if (field != null) field.SetValue(null, new Action<string>(logger.Log));
        }

        /// <summary>Dependencies of the function load from the task root; Amazon.Lambda.Core is always the runtime's.</summary>
        private static void ResolveFrom(string taskRoot)
        {
            Assembly core = typeof(ILambdaContext).Assembly;
            AppDomain.CurrentDomain.AssemblyResolve += (sender, args) =>
            {
                string name = new AssemblyName(args.Name).Name;
                if (name == core.GetName().Name) return core;
                foreach (string ext in new[] { ".dll", ".exe" })
                {
                    string path = Path.Combine(taskRoot, name + ext);
                    if (File.Exists(path)) return Assembly.LoadFrom(path);
                }
                return null;
            };
        }
    }
}
