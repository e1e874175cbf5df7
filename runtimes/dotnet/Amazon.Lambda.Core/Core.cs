// The Amazon.Lambda.Core contract: the interfaces a .NET Lambda function compiles against.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;

[assembly: AssemblyTitle("Amazon.Lambda.Core")]
[assembly: AssemblyVersion("1.0.0.0")]

namespace Amazon.Lambda.Core
{
    /// <summary>Information about the current invocation and the execution environment.</summary>
    public interface ILambdaContext
    {
        string AwsRequestId { get; }
        IClientContext ClientContext { get; }
        string FunctionName { get; }
        string FunctionVersion { get; }
        ICognitoIdentity Identity { get; }
        string InvokedFunctionArn { get; }
        ILambdaLogger Logger { get; }
        string LogGroupName { get; }
        string LogStreamName { get; }
        int MemoryLimitInMB { get; }
        /// <summary>Time left until the invocation times out.</summary>
        TimeSpan RemainingTime { get; }
    }

    /// <summary>Writes to the function's log.</summary>
    public interface ILambdaLogger
    {
        /// <summary>Writes the message as given.</summary>
        void Log(string message);
        /// <summary>Writes the message as one log line (timestamp, request id, level, message).</summary>
        void LogLine(string message);
    }

    /// <summary>The Amazon Cognito identity of a mobile caller.</summary>
    public interface ICognitoIdentity
    {
        string IdentityId { get; }
        string IdentityPoolId { get; }
    }

    /// <summary>Client information sent by a mobile caller.</summary>
    public interface IClientContext
    {
        IDictionary<string, string> Environment { get; }
        IClientApplication Client { get; }
        IDictionary<string, string> Custom { get; }
    }

    /// <summary>The mobile application that made the call.</summary>
    public interface IClientApplication
    {
        string AppPackageName { get; }
        string AppTitle { get; }
        string AppVersionCode { get; }
        string AppVersionName { get; }
        string InstallationId { get; }
    }

    /// <summary>Converts handler input and output from and to the raw payload.</summary>
    public interface ILambdaSerializer
    {
        T Deserialize<T>(Stream requestStream);
        void Serialize<T>(T response, Stream responseStream);
    }

    /// <summary>Names the ILambdaSerializer of an assembly or a handler method (the runtime has a default one).</summary>
    [AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Method, AllowMultiple = false)]
    public sealed class LambdaSerializerAttribute : Attribute
    {
        public LambdaSerializerAttribute(Type serializerType)
        {
            SerializerType = serializerType;
        }

        public Type SerializerType { get; set; }
    }

    /// <summary>The function logger, usable outside a handler (for example in constructors).</summary>
    public static class LambdaLogger
    {
        // Set by the runtime; until then messages go to standard output.
        private static Action<string> _logAction = message => Console.Write(message);

        public static void Log(string message)
        {
            _logAction(message);
        }
    }
}
