package com.amazonaws.services.lambda.runtime;

/** The mobile application that made the call. */
public interface Client {
    String getInstallationId();

    String getAppTitle();

    String getAppVersionName();

    String getAppVersionCode();

    String getAppPackageName();
}
