package com.amazonaws.services.lambda.runtime;

/** The Amazon Cognito identity of a mobile caller. */
public interface CognitoIdentity {
    String getIdentityId();

    String getIdentityPoolId();
}
