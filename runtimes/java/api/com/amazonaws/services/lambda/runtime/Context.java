package com.amazonaws.services.lambda.runtime;

/** Information about the current invocation and the execution environment. */
public interface Context {
    String getAwsRequestId();

    String getLogGroupName();

    String getLogStreamName();

    String getFunctionName();

    String getFunctionVersion();

    String getInvokedFunctionArn();

    /** The Cognito identity of a mobile caller, or null. */
    CognitoIdentity getIdentity();

    /** The client context sent by a mobile caller, or null. */
    ClientContext getClientContext();

    /** Milliseconds left until the invocation times out. */
    int getRemainingTimeInMillis();

    int getMemoryLimitInMB();

    LambdaLogger getLogger();

    /** The tenant id of a tenant-isolated function, or null. */
    default String getTenantId() {
        return null;
    }

    /** The X-Ray trace header of this invocation, or null. */
    default String getXrayTraceId() {
        return null;
    }
}
