package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** Client application and device information sent by a mobile caller. */
public interface ClientContext {
    Client getClient();

    Map<String, String> getCustom();

    Map<String, String> getEnvironment();
}
