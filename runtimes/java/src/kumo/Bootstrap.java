package kumo;

import java.io.ByteArrayOutputStream;
import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The java runtime's entry point. Loads the handler named by $_HANDLER from $LAMBDA_TASK_ROOT
 * (classes at the root, jars in lib/, layer jars in /opt/java/lib/), then serves invocations one at
 * a time over the Runtime API at $AWS_LAMBDA_RUNTIME_API.
 */
public final class Bootstrap {
    private static final String API = "/2018-06-01/runtime";
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";

    private Bootstrap() {}

    public static void main(String[] args) {
        utf8StandardStreams();
        String taskRoot = System.getenv("LAMBDA_TASK_ROOT");
        if (taskRoot == null || taskRoot.isEmpty()) {
            taskRoot = System.getProperty("user.dir");
        }
        ClassLoader loader = customerClassLoader(taskRoot);
        Thread.currentThread().setContextClassLoader(loader);
        run(System.getenv("AWS_LAMBDA_RUNTIME_API"), System.getenv("_HANDLER"), loader);
        System.exit(1);
    }

    /**
     * The function log is UTF-8 whatever the locale: without a usable LANG locale the JVM would
     * encode System.out and System.err as ASCII and write '?' for every other character.
     */
    static void utf8StandardStreams() {
        if (StandardCharsets.UTF_8.equals(Charset.defaultCharset())) {
            return;
        }
        System.setOut(new PrintStream(
                new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 8192), true,
                StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));
    }

    /** Loads the handler and serves invocations; returns when the Runtime API fails. */
    static void run(String runtimeApi, String handlerName, ClassLoader loader) {
        RuntimeClient client = new RuntimeClient(runtimeApi);
        Handler handler;
        try {
            handler = Handler.load(handlerName, loader);
        } catch (Fault f) {
            logFault(f);
            // As Lambda's Java runtime: no stack trace in init error documents.
            post(client, API + "/init/error", Json.errorDocument(f.getMessage(), f.errorType, null),
                    "Runtime.BadFunctionCode");
            return;
        }
        ByteArrayOutputStream output = new ByteArrayOutputStream(1024);
        while (true) {
            RuntimeClient.Response next;
            try {
                next = client.request("GET", API + "/invocation/next", null);
            } catch (IOException e) {
                System.err.println("Runtime API /next failed: " + e);
                return;
            }
            if (next.status != 200) {
                System.err.println("Runtime API /next failed: " + next.status + " "
                        + new String(next.body, StandardCharsets.UTF_8));
                return;
            }
            String requestId = next.headers.getOrDefault("lambda-runtime-aws-request-id", "");
            String path = API + "/invocation/" + requestId;
            output.reset();
            try {
                LambdaContext context = new LambdaContext(next.headers);
                if (context.traceId() != null) {
                    System.setProperty(TRACE_PROPERTY, context.traceId());
                } else {
                    System.clearProperty(TRACE_PROPERTY);
                }
                handler.invoke(next.body, output, context);
            } catch (Throwable t) {
                Fault f = t instanceof Fault ? (Fault) t : Fault.of(t);
                logFault(f);
                post(client, path + "/error", Json.errorDocument(f.getMessage(), f.errorType, stackTrace(f.getCause())),
                        "Runtime.UserException");
                if (t instanceof VirtualMachineError) {
                    return; // the JVM cannot be trusted any more
                }
                continue;
            }
            post(client, path + "/response", output.toByteArray(), null);
        }
    }

    private static void post(RuntimeClient client, String path, byte[] body, String errorType) {
        System.out.flush(); // the platform reads the log as soon as the POST lands
        System.err.flush();
        try {
            RuntimeClient.Response r = errorType == null
                    ? client.request("POST", path, body)
                    : client.request("POST", path, body, "Content-Type", "application/vnd.aws.lambda.error+json",
                            "Lambda-Runtime-Function-Error-Type", errorType);
            if (r.status >= 300) {
                System.err.println("Runtime API rejected POST " + path + ": " + r.status + " "
                        + new String(r.body, StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            System.err.println("Runtime API POST " + path + " failed: " + e);
        }
    }

    /** Logs "message: type" and the stack trace, as Lambda's Java runtime does. */
    private static void logFault(Fault f) {
        StringBuilder b = new StringBuilder();
        b.append(f.getMessage());
        Throwable cause = f.getCause();
        if (f.errorType != null || cause != null) {
            b.append(": ").append(f.errorType == null ? "" : f.errorType).append('\n');
            if (cause != null) {
                filter(cause);
                StringWriter trace = new StringWriter();
                cause.printStackTrace(new PrintWriter(trace));
                b.append(trace);
            }
        }
        System.out.println(b);
    }

    private static List<String> stackTrace(Throwable t) {
        List<String> frames = new ArrayList<>();
        if (t != null) {
            for (StackTraceElement e : filter(t).getStackTrace()) {
                frames.add(e.toString());
            }
        }
        return frames;
    }

    /** Drops the runtime's own frames (and the reflection frames calling into user code), causes included. */
    private static Throwable filter(Throwable t) {
        Throwable c = t;
        for (int depth = 0; c != null && depth < 32; depth++, c = c.getCause()) {
            StackTraceElement[] trace = c.getStackTrace();
            int end = trace.length;
            for (int i = 0; i < trace.length; i++) {
                if (trace[i].getClassName().startsWith("kumo.")) {
                    end = i;
                    break;
                }
            }
            while (end > 0 && isReflection(trace[end - 1].getClassName())) {
                end--;
            }
            if (end < trace.length) {
                c.setStackTrace(Arrays.copyOf(trace, end));
            }
        }
        return t;
    }

    private static boolean isReflection(String className) {
        return className.startsWith("jdk.internal.reflect.") || className.startsWith("java.lang.reflect.")
                || className.equals("java.lang.Class");
    }

    /** The task root first, then its lib/*.jar, then layer jars; the runtime's own classes come from the parent. */
    static ClassLoader customerClassLoader(String taskRoot) {
        List<URL> urls = new ArrayList<>();
        try {
            urls.add(new File(taskRoot).toURI().toURL());
            addJars(urls, new File(taskRoot, "lib"));
            addJars(urls, new File("/opt/java/lib"));
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader());
    }

    private static void addJars(List<URL> urls, File dir) throws MalformedURLException {
        File[] files = dir.listFiles();
        if (files == null) {
            return;
        }
        Arrays.sort(files);
        for (File f : files) {
            if (f.isFile() && f.getName().endsWith(".jar")) {
                urls.add(f.toURI().toURL());
            }
        }
    }
}
