package com.amazonaws.services.lambda.runtime;

import java.io.IOException;

/** Access to the function logger outside a handler (for example from static initialisers). */
public final class LambdaRuntime {
    private LambdaRuntime() {}

    private static final LambdaLogger LOGGER = new LambdaLogger() {
        @Override
        public void log(String message) {
            System.out.print(message);
        }

        @Override
        public void log(byte[] message) {
            try {
                System.out.write(message);
            } catch (IOException e) {
                // System.out never throws; it records errors instead
            }
        }
    };

    public static LambdaLogger getLogger() {
        return LOGGER;
    }
}
