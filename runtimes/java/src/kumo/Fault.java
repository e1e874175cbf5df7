package kumo;

/** A failure to load or run the handler, reported with a Lambda error document. */
final class Fault extends Exception {
    private static final long serialVersionUID = 1L;

    /** The document's errorType (an exception class name), or null to leave it out. */
    final String errorType;

    Fault(String errorType, String message, Throwable cause) {
        super(message, cause, false, false);
        this.errorType = errorType;
    }

    /** A fault that reports {@code t} itself: its class name and message. */
    static Fault of(Throwable t) {
        String message = t.getLocalizedMessage();
        return new Fault(t.getClass().getName(), message == null ? t.getClass().getName() : message, t);
    }
}
