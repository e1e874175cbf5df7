package kumo;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;

/**
 * A training run for the class-data-sharing archive (build time only): serves a few invocations of
 * each handler kind from an in-process Runtime API so that the classes they use get archived.
 */
final class Train {
    private Train() {}

    public static void main(String[] args) throws Exception {
        String[][] runs = {
            {"kumo.Train$Pojo", "{\"name\":\"a\",\"count\":1,\"tags\":[\"x\"]}", "{\"name\":\"fail\"}", "[1"},
            {"kumo.Train$Methods::handle", "{\"a\":{\"b\":[1,2.5,true,null]}}", "\"s\""},
            {"kumo.Train$Methods::text", "\"hello\""},
            {"kumo.Train$Stream", "{}"},
            {"kumo.Train$Missing", "{}"},
        };
        for (String[] run : runs) {
            try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                Deque<String> events = new ArrayDeque<>(List.of(run).subList(1, run.length));
                Thread t = new Thread(() -> serve(server, events));
                t.start();
                Bootstrap.run("127.0.0.1:" + server.getLocalPort(), run[0], Bootstrap.customerClassLoader("."));
                t.join();
            }
        }
    }

    /** Answers /next with the queued events (then 500), and every POST with 202. */
    private static void serve(ServerSocket server, Deque<String> events) {
        try (Socket s = server.accept()) {
            InputStream in = new BufferedInputStream(s.getInputStream());
            OutputStream out = s.getOutputStream();
            int id = 0;
            while (true) {
                String line = readLine(in);
                if (line == null) {
                    return;
                }
                int length = 0;
                String h;
                while ((h = readLine(in)) != null && !h.isEmpty()) {
                    if (h.toLowerCase().startsWith("content-length:")) {
                        length = Integer.parseInt(h.substring(15).trim());
                    }
                }
                in.readNBytes(length);
                String reply;
                if (line.startsWith("GET")) {
                    String event = events.poll();
                    if (event == null) {
                        reply = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    } else {
                        byte[] body = event.getBytes(StandardCharsets.UTF_8);
                        reply = "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-" + (++id)
                                + "\r\nLambda-Runtime-Deadline-Ms: " + (System.currentTimeMillis() + 3000)
                                + "\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:train"
                                + "\r\nLambda-Runtime-Client-Context: {\"custom\":{\"k\":\"v\"},\"env\":{},\"client\":{\"app_title\":\"t\"}}"
                                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n" + event;
                    }
                } else {
                    reply = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}";
                }
                out.write(reply.getBytes(StandardCharsets.UTF_8));
                out.flush();
                if (reply.contains("Connection: close") || line.contains("/init/error")) {
                    return;
                }
            }
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return c == -1 && b.length() == 0 ? null : b.toString();
    }

    public static final class Event {
        public String name;
        public int count;
        public List<String> tags;
    }

    public static final class Pojo implements RequestHandler<Event, Map<String, Object>> {
        @Override
        public Map<String, Object> handleRequest(Event event, Context context) {
            if ("fail".equals(event.name)) {
                throw new IllegalStateException("training failure");
            }
            context.getLogger().log("training " + context.getRemainingTimeInMillis() + "\n");
            return Map.of("name", event.name, "count", event.count + 1, "tags", event.tags);
        }
    }

    public static final class Methods {
        public static Object handle(Map<String, Object> event, Context context) {
            return event;
        }

        public String text(String s) {
            return s.toUpperCase();
        }
    }

    public static final class Stream implements RequestStreamHandler {
        @Override
        public void handleRequest(InputStream input, OutputStream output, Context context) throws IOException {
            output.write(input.readAllBytes());
        }
    }
}
