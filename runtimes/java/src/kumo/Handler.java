package kumo;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.List;

/**
 * A loaded user handler. The handler string is {@code package.Class::method} or {@code package.Class}
 * (the class implements RequestHandler or RequestStreamHandler); resolution, overload choice and
 * error messages follow Lambda's Java runtime.
 */
abstract class Handler {
    private static final byte[] NULL = {'n', 'u', 'l', 'l'};

    /** Runs the handler on one event, writing the response bytes to {@code out}. */
    abstract void invoke(byte[] event, OutputStream out, Context context) throws Throwable;

    static Handler load(String handler, ClassLoader loader) throws Fault {
        String spec = handler == null ? "" : handler.trim();
        int sep = spec.indexOf("::");
        String className = sep < 0 ? spec : spec.substring(0, sep);
        String methodName = sep < 0 ? null : spec.substring(sep + 2);
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            throw new Fault(null, "Invalid handler: `" + handler + "'", null);
        }
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new Fault(e.getClass().getName(), "Class not found: " + className, e);
        } catch (Throwable t) { // static initialiser failed, or a class it needs is missing
            String msg = t.getMessage();
            throw new Fault(t.getClass().getName(), "Error loading class " + className + (msg == null ? "" : ": " + msg), t);
        }
        return methodName == null ? forClass(cls) : forMethod(cls, methodName);
    }

    private static Handler forClass(Class<?> cls) throws Fault {
        if (RequestStreamHandler.class.isAssignableFrom(cls)) {
            RequestStreamHandler h = (RequestStreamHandler) instantiate(cls);
            return new Handler() {
                @Override
                void invoke(byte[] event, OutputStream out, Context context) throws Throwable {
                    h.handleRequest(new ByteArrayInputStream(event), out, context);
                }
            };
        }
        if (RequestHandler.class.isAssignableFrom(cls)) {
            JavaType[] types = Json.MAPPER.constructType(cls).findTypeParameters(RequestHandler.class);
            if (types == null || types.length != 2) {
                throw new Fault(null, "Class " + cls.getName() + " does not implement RequestHandler with concrete type parameters", null);
            }
            @SuppressWarnings("unchecked")
            RequestHandler<Object, Object> h = (RequestHandler<Object, Object>) instantiate(cls);
            return new Pojo(types[0], types[1]) {
                @Override
                Object call(Object input, Context context) {
                    return h.handleRequest(input, context);
                }
            };
        }
        throw new Fault(null, "Class does not implement an appropriate handler interface: " + cls.getName(), null);
    }

    /** Picks the overload Lambda would: non-bridge first, then most parameters (a trailing Context counts twice). */
    private static Handler forMethod(Class<?> cls, String name) throws Fault {
        List<Method> candidates = new ArrayList<>();
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(name)) {
                candidates.add(m);
            }
        }
        candidates.sort((a, b) -> {
            if (a.isBridge() != b.isBridge()) {
                return a.isBridge() ? 1 : -1;
            }
            return Integer.compare(weight(b), weight(a));
        });
        for (Method m : candidates) {
            Handler h = forOverload(cls, m);
            if (h != null) {
                return h;
            }
        }
        throw new Fault(null, "No public method named " + name + " with appropriate method signature found on class " + cls.getName(), null);
    }

    private static int weight(Method m) {
        Class<?>[] p = m.getParameterTypes();
        return p.length + (p.length > 0 && p[p.length - 1] == Context.class ? 1 : 0);
    }

    /** Signatures: (), (X), (Context), (X, Context), and stream forms of (InputStream, OutputStream, Context). */
    private static Handler forOverload(Class<?> cls, Method m) throws Fault {
        Class<?>[] p = m.getParameterTypes();
        Type[] g = m.getGenericParameterTypes();
        int n = p.length;
        boolean lastIsContext = n > 0 && p[n - 1] == Context.class;
        int in = -1;
        int out = -1;
        int pojo = -1;
        for (int i = 0; i < (lastIsContext ? n - 1 : n); i++) {
            if (p[i] == InputStream.class && i == 0) {
                in = i;
            } else if (p[i] == OutputStream.class && (i == 0 || in == 0)) {
                out = i;
            } else if (i == 0 && p[i] != Context.class) {
                pojo = i;
            } else {
                return null;
            }
        }
        if (pojo >= 0 && n - (lastIsContext ? 1 : 0) > 1) {
            return null;
        }
        m.setAccessible(true);
        Object target = Modifier.isStatic(m.getModifiers()) ? null : instantiate(cls);
        if (in >= 0 || out >= 0) {
            final int inIdx = in;
            final int outIdx = out;
            return new Handler() {
                @Override
                void invoke(byte[] event, OutputStream o, Context context) throws Throwable {
                    Object[] args = new Object[n];
                    if (inIdx >= 0) {
                        args[inIdx] = new ByteArrayInputStream(event);
                    }
                    if (outIdx >= 0) {
                        args[outIdx] = o;
                    }
                    if (lastIsContext) {
                        args[n - 1] = context;
                    }
                    call(m, target, args);
                }
            };
        }
        final boolean hasInput = pojo >= 0;
        JavaType inType = hasInput ? Json.MAPPER.getTypeFactory().constructType(g[pojo]) : null;
        JavaType outType = Json.MAPPER.getTypeFactory().constructType(m.getGenericReturnType());
        return new Pojo(inType, outType) {
            @Override
            Object call(Object input, Context context) throws Throwable {
                Object[] args = new Object[n];
                if (hasInput) {
                    args[0] = input;
                }
                if (lastIsContext) {
                    args[n - 1] = context;
                }
                return Handler.call(m, target, args);
            }
        };
    }

    private static Object call(Method m, Object target, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause() != null ? e.getCause() : e;
        }
    }

    private static Object instantiate(Class<?> cls) throws Fault {
        Constructor<?> ctor;
        try {
            ctor = cls.getConstructor();
        } catch (NoSuchMethodException e) {
            String msg = cls.getEnclosingClass() != null && !Modifier.isStatic(cls.getModifiers())
                    ? "Class " + cls.getName() + " cannot be instantiated because it is a non-static inner class"
                    : "Class " + cls.getName() + " has no public zero-argument constructor";
            throw new Fault("java.lang.Exception", msg, e);
        }
        try {
            return ctor.newInstance();
        } catch (InvocationTargetException e) {
            throw Fault.of(e.getCause() != null ? e.getCause() : e);
        } catch (ReflectiveOperationException e) {
            throw Fault.of(e);
        }
    }

    /** A handler whose input and output go through JSON. */
    abstract static class Pojo extends Handler {
        private final ObjectReader reader; // null: the handler takes no input
        private final ObjectWriter writer; // null: void result, answered with null

        Pojo(JavaType in, JavaType out) {
            reader = in == null ? null : Json.MAPPER.readerFor(in);
            boolean isVoid = out.getRawClass() == void.class || out.getRawClass() == Void.class;
            writer = isVoid ? null : Json.MAPPER.writerFor(out);
        }

        abstract Object call(Object input, Context context) throws Throwable;

        @Override
        void invoke(byte[] event, OutputStream out, Context context) throws Throwable {
            Object input = null;
            if (reader != null && event.length > 0) {
                try {
                    input = reader.readValue(event);
                } catch (Throwable t) {
                    throw new RuntimeException("An error occurred during JSON parsing", t);
                }
            }
            Object result = call(input, context);
            if (writer == null) {
                out.write(NULL);
                return;
            }
            try {
                writer.writeValue(out, result);
            } catch (Throwable t) {
                throw new RuntimeException("An error occurred during JSON serialization of response", t);
            }
        }
    }
}
