using System;
using System.Collections.Generic;
using Amazon.Lambda.Core;

namespace Kumo.Runtime
{
    internal sealed class LambdaContext : ILambdaContext
    {
        internal static readonly string Function = Environment.GetEnvironmentVariable("AWS_LAMBDA_FUNCTION_NAME");
        internal static readonly string Version = Environment.GetEnvironmentVariable("AWS_LAMBDA_FUNCTION_VERSION");
        internal static readonly string LogGroup = Environment.GetEnvironmentVariable("AWS_LAMBDA_LOG_GROUP_NAME");
        internal static readonly string LogStream = Environment.GetEnvironmentVariable("AWS_LAMBDA_LOG_STREAM_NAME");
        internal static readonly int Memory = ParseInt(Environment.GetEnvironmentVariable("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));

        private readonly long _deadlineMs;

        public LambdaContext(IDictionary<string, string> headers, ILambdaLogger logger)
        {
            AwsRequestId = Get(headers, "Lambda-Runtime-Aws-Request-Id") ?? "";
            InvokedFunctionArn = Get(headers, "Lambda-Runtime-Invoked-Function-Arn");
            long.TryParse(Get(headers, "Lambda-Runtime-Deadline-Ms"), out _deadlineMs);
            Logger = logger;
            string cc = Get(headers, "Lambda-Runtime-Client-Context");
            if (!string.IsNullOrEmpty(cc)) ClientContext = ClientContextImpl.Parse(cc);
            string identity = Get(headers, "Lambda-Runtime-Cognito-Identity");
            if (!string.IsNullOrEmpty(identity)) Identity = CognitoIdentityImpl.Parse(identity);
        }

        public string AwsRequestId { get; private set; }
        public IClientContext ClientContext { get; private set; }
        public string FunctionName { get { return Function; } }
        public string FunctionVersion { get { return Version; } }
        public ICognitoIdentity Identity { get; private set; }
        public string InvokedFunctionArn { get; private set; }
        public ILambdaLogger Logger { get; private set; }
        public string LogGroupName { get { return LogGroup; } }
        public string LogStreamName { get { return LogStream; } }
        public int MemoryLimitInMB { get { return Memory; } }

        public TimeSpan RemainingTime
        {
            get
            {
                long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds;
                return TimeSpan.FromMilliseconds(Math.Max(0, _deadlineMs - now));
            }
        }

        private static string Get(IDictionary<string, string> headers, string name)
        {
            string v;
            return headers.TryGetValue(name, out v) ? v : null;
        }

        private static int ParseInt(string s)
        {
            int n;
            return int.TryParse(s, out n) ? n : 0;
        }
    }

    internal sealed class CognitoIdentityImpl : ICognitoIdentity
    {
        public string IdentityId { get; private set; }
        public string IdentityPoolId { get; private set; }

        internal static CognitoIdentityImpl Parse(string json)
        {
            var o = Json.ParseObject(json);
            return new CognitoIdentityImpl { IdentityId = Json.Text(o, "cognitoIdentityId"), IdentityPoolId = Json.Text(o, "cognitoIdentityPoolId") };
        }
    }

    internal sealed class ClientApplicationImpl : IClientApplication
    {
        public string AppPackageName { get; private set; }
        public string AppTitle { get; private set; }
        public string AppVersionCode { get; private set; }
        public string AppVersionName { get; private set; }
        public string InstallationId { get; private set; }

        internal static ClientApplicationImpl From(IDictionary<string, object> o)
        {
            if (o == null) return null;
            return new ClientApplicationImpl
            {
                AppPackageName = Json.Text(o, "app_package_name"),
                AppTitle = Json.Text(o, "app_title"),
                AppVersionCode = Json.Text(o, "app_version_code"),
                AppVersionName = Json.Text(o, "app_version_name"),
                InstallationId = Json.Text(o, "installation_id"),
            };
        }
    }

    internal sealed class ClientContextImpl : IClientContext
    {
        public IDictionary<string, string> Environment { get; private set; }
        public IClientApplication Client { get; private set; }
        public IDictionary<string, string> Custom { get; private set; }

        internal static ClientContextImpl Parse(string json)
        {
            var o = Json.ParseObject(json);
            return new ClientContextImpl
            {
                Client = ClientApplicationImpl.From(Json.Object(o, "client")),
                Custom = Json.Strings(Json.Object(o, "custom")),
                Environment = Json.Strings(Json.Object(o, "env")),
            };
        }
    }
}
