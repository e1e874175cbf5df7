package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.RequestHandler;

/** Greets the caller: {"name":"Ada"} -> {"message":"Hello, Ada!","requestId":"..."}. */
public class Hello implements RequestHandler<Hello.Request, Hello.Response> {
    public static class Request {
        public String name;
    }

    public static class Response {
        public String message;
        public String requestId;
    }

    @Override
    public Response handleRequest(Request request, Context context) {
        LambdaLogger logger = context.getLogger();
        String name = request == null || request.name == null ? "world" : request.name;
        logger.log("greeting " + name + "\n");
        Response response = new Response();
        response.message = "Hello, " + name + "!";
        response.requestId = context.getAwsRequestId();
        return response;
    }
}
