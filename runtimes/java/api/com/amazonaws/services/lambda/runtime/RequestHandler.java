package com.amazonaws.services.lambda.runtime;

/**
 * A handler whose input and output are converted from and to JSON.
 *
 * @param <I> the type the event is deserialized into
 * @param <O> the type of the result, serialized as the response
 */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
