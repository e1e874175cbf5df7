using System.Collections.Generic;
using Amazon.Lambda.Core;

namespace Hello
{
    public class Request
    {
        public string Name { get; set; }
    }

    public class Response
    {
        public string Message { get; set; }
        public string RequestId { get; set; }
    }

    /// <summary>Greets the caller: {"name":"Ada"} -> {"Message":"Hello, Ada!","RequestId":"..."}.</summary>
    public class Function
    {
        public Response FunctionHandler(Request request, ILambdaContext context)
        {
            string name = request == null || string.IsNullOrEmpty(request.Name) ? "world" : request.Name;
            context.Logger.LogLine("greeting " + name);
            return new Response { Message = "Hello, " + name + "!", RequestId = context.AwsRequestId };
        }
    }
}
