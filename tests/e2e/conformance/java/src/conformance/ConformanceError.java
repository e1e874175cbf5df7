package conformance;

/** The error the "error" operation throws. */
public class ConformanceError extends RuntimeException {
    public ConformanceError(String message) {
        super(message);
    }
}
