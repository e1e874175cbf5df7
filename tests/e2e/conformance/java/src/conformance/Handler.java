package conformance;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The Java conformance function. Operations are selected by the event's "op" (see ../README.md). */
public class Handler implements RequestHandler<Map<String, Object>, Object> {
    private static final Path TMP_FILE = Paths.get("/tmp/conformance.txt");
    private static int initRuns;
    private static int invocations;

    static {
        initRuns++;
        if ("1".equals(System.getenv("CONF_INIT_FAIL"))) {
            throw new ConformanceInitError("conformance init failure");
        }
    }

    @Override
    public Object handleRequest(Map<String, Object> event, Context context) {
        invocations++;
        Object op = event.getOrDefault("op", "echo");
        switch (String.valueOf(op)) {
            case "echo":
                return event;
            case "error":
                throw new ConformanceError(String.valueOf(event.getOrDefault("message", "")));
            case "crash": {
                Object missing = event.get("missing");
                return missing.toString(); // NullPointerException
            }
            case "sleep": {
                long ms = ((Number) event.get("ms")).longValue();
                sleep(ms);
                return Map.of("slept", ms);
            }
            case "exit":
                System.exit(((Number) event.getOrDefault("code", 1)).intValue());
                return null;
            case "context": {
                int first = context.getRemainingTimeInMillis();
                sleep(20);
                int second = context.getRemainingTimeInMillis();
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("request_id", context.getAwsRequestId());
                out.put("function_name", context.getFunctionName());
                out.put("function_version", context.getFunctionVersion());
                out.put("memory_limit_in_mb", context.getMemoryLimitInMB());
                out.put("invoked_function_arn", context.getInvokedFunctionArn());
                out.put("log_group_name", context.getLogGroupName());
                out.put("log_stream_name", context.getLogStreamName());
                out.put("remaining_ms", List.of(first, second));
                return out;
            }
            case "env": {
                Map<String, Object> env = new LinkedHashMap<>();
                for (Object name : (List<?>) event.getOrDefault("names", List.of())) {
                    env.put(String.valueOf(name), System.getenv(String.valueOf(name)));
                }
                return Map.of("env", env);
            }
            case "tmp": {
                try {
                    Object write = event.get("write");
                    if (write instanceof String) {
                        Files.write(TMP_FILE, ((String) write).getBytes(StandardCharsets.UTF_8));
                    }
                    Map<String, Object> out = new LinkedHashMap<>();
                    try {
                        out.put("content", new String(Files.readAllBytes(TMP_FILE), StandardCharsets.UTF_8));
                    } catch (NoSuchFileException e) {
                        out.put("content", null);
                    }
                    return out;
                } catch (IOException e) {
                    throw new ConformanceError(e.toString());
                }
            }
            case "count":
                return Map.of("init", initRuns, "invocations", invocations);
            case "log": {
                List<?> lines = (List<?>) event.getOrDefault("lines", List.of());
                for (Object line : lines) {
                    System.out.println(line);
                }
                Object stderr = event.get("stderr");
                if (stderr instanceof String) {
                    System.err.println(stderr);
                }
                return Map.of("logged", lines.size());
            }
            default:
                throw new ConformanceError("unknown op " + op);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
