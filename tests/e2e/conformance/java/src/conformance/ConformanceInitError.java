package conformance;

/** Thrown by the handler's static initialiser when CONF_INIT_FAIL=1. */
public class ConformanceInitError extends RuntimeException {
    public ConformanceInitError(String message) {
        super(message);
    }
}
