package kumo;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** The Context handed to handlers: fields from the /next headers and the environment. */
final class LambdaContext implements Context {
    static final String FUNCTION_NAME = System.getenv("AWS_LAMBDA_FUNCTION_NAME");
    static final String FUNCTION_VERSION = System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
    static final String LOG_GROUP = System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
    static final String LOG_STREAM = System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
    static final int MEMORY_MB = parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 128);
    static final Logger LOGGER = new Logger(System.getenv("AWS_LAMBDA_LOG_LEVEL"));

    private final String requestId;
    private final long deadlineMs;
    private final String functionArn;
    private final String traceId;
    private final String tenantId;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;

    LambdaContext(Map<String, String> headers) throws Fault {
        requestId = headers.getOrDefault("lambda-runtime-aws-request-id", "");
        deadlineMs = parseLong(headers.get("lambda-runtime-deadline-ms"));
        functionArn = headers.get("lambda-runtime-invoked-function-arn");
        traceId = headers.get("lambda-runtime-trace-id");
        tenantId = headers.get("lambda-runtime-aws-tenant-id");
        identity = identity(headers.get("lambda-runtime-cognito-identity"));
        clientContext = clientContext(headers.get("lambda-runtime-client-context"));
    }

    String traceId() {
        return traceId;
    }

    @Override public String getAwsRequestId() { return requestId; }
    @Override public String getLogGroupName() { return LOG_GROUP; }
    @Override public String getLogStreamName() { return LOG_STREAM; }
    @Override public String getFunctionName() { return FUNCTION_NAME; }
    @Override public String getFunctionVersion() { return FUNCTION_VERSION; }
    @Override public String getInvokedFunctionArn() { return functionArn; }
    @Override public CognitoIdentity getIdentity() { return identity; }
    @Override public ClientContext getClientContext() { return clientContext; }
    @Override public int getMemoryLimitInMB() { return MEMORY_MB; }
    @Override public LambdaLogger getLogger() { return LOGGER; }
    @Override public String getTenantId() { return tenantId; }
    @Override public String getXrayTraceId() { return traceId; }

    @Override
    public int getRemainingTimeInMillis() {
        long left = deadlineMs - System.currentTimeMillis();
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
    }

    private static int parseInt(String s, int fallback) {
        try {
            return Integer.parseInt(s);
        } catch (RuntimeException e) {
            return fallback;
        }
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s);
        } catch (RuntimeException e) {
            return 0;
        }
    }

    private static JsonNode parseHeader(String value, String what) throws Fault {
        if (value == null || value.isEmpty()) {
            return null;
        }
        try {
            return Json.MAPPER.readTree(value);
        } catch (IOException e) {
            throw new Fault(e.getClass().getName(), "Unable to parse " + what + ": " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node == null ? null : node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static Map<String, String> strings(JsonNode node) {
        if (node == null || !node.isObject()) {
            return null;
        }
        Map<String, String> map = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().asText()));
        return map;
    }

    private static CognitoIdentity identity(String header) throws Fault {
        JsonNode node = parseHeader(header, "Cognito identity");
        if (node == null) {
            return null;
        }
        String id = text(node, "cognitoIdentityId");
        String pool = text(node, "cognitoIdentityPoolId");
        return new CognitoIdentity() {
            @Override public String getIdentityId() { return id; }
            @Override public String getIdentityPoolId() { return pool; }
        };
    }

    private static ClientContext clientContext(String header) throws Fault {
        JsonNode node = parseHeader(header, "client context");
        if (node == null) {
            return null;
        }
        JsonNode c = node.get("client");
        Client client = c == null || c.isNull() ? null : new Client() {
            private final String installationId = text(c, "installation_id");
            private final String appTitle = text(c, "app_title");
            private final String versionName = text(c, "app_version_name");
            private final String versionCode = text(c, "app_version_code");
            private final String packageName = text(c, "app_package_name");
            @Override public String getInstallationId() { return installationId; }
            @Override public String getAppTitle() { return appTitle; }
            @Override public String getAppVersionName() { return versionName; }
            @Override public String getAppVersionCode() { return versionCode; }
            @Override public String getAppPackageName() { return packageName; }
        };
        Map<String, String> custom = strings(node.get("custom"));
        Map<String, String> env = strings(node.get("env"));
        return new ClientContext() {
            @Override public Client getClient() { return client; }
            @Override public Map<String, String> getCustom() { return custom; }
            @Override public Map<String, String> getEnvironment() { return env; }
        };
    }

    /** Writes to stdout, like System.out; a level adds a "[LEVEL] " prefix and honours AWS_LAMBDA_LOG_LEVEL. */
    static final class Logger implements LambdaLogger {
        private final int minLevel;

        Logger(String level) {
            int min = 0;
            if (level != null && !level.isEmpty()) {
                try {
                    min = LogLevel.fromString(level).ordinal();
                } catch (IllegalArgumentException e) {
                    min = 0;
                }
            }
            minLevel = min;
        }

        private static PrintStream out() {
            return System.out;
        }

        @Override
        public void log(String message) {
            out().print(message);
        }

        @Override
        public void log(byte[] message) {
            try {
                out().write(message);
            } catch (IOException e) {
                // PrintStream records errors instead of throwing
            }
        }

        @Override
        public void log(String message, LogLevel level) {
            if (level == LogLevel.UNDEFINED) {
                log(message);
            } else if (level.ordinal() >= minLevel) {
                log(("[" + level.name() + "] " + message).getBytes(StandardCharsets.UTF_8));
            }
        }

        @Override
        public void log(byte[] message, LogLevel level) {
            if (level == LogLevel.UNDEFINED || level.ordinal() >= minLevel) {
                log(message);
            }
        }
    }
}
