// Package lambda runs a Go function as a Lambda handler: lambda.Start(handler) serves invocations
// over the Runtime API at $AWS_LAMBDA_RUNTIME_API until the process is stopped.
package lambda

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
)

// Start runs handler, a function of one of the signatures listed at NewHandler, or a Handler.
// It does not return.
func Start(handler interface{}) {
	StartWithOptions(handler)
}

// StartWithOptions is Start with options.
func StartWithOptions(handler interface{}, options ...Option) {
	start(newHandler(handler, options...))
}

// StartWithContext is Start with a parent context for every invocation.
//
// Deprecated: use StartWithOptions with WithContext.
func StartWithContext(ctx context.Context, handler interface{}) {
	StartWithOptions(handler, WithContext(ctx))
}

// StartHandler runs a Handler.
//
// Deprecated: use Start.
func StartHandler(handler Handler) {
	StartWithOptions(handler)
}

// StartHandlerWithContext runs a Handler with a parent context for every invocation.
//
// Deprecated: use StartWithOptions with WithContext.
func StartHandlerWithContext(ctx context.Context, handler Handler) {
	StartWithOptions(handler, WithContext(ctx))
}

func start(handler *handlerOptions) {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		log.Fatal("expected AWS Lambda environment variables [AWS_LAMBDA_RUNTIME_API] are not defined")
	}
	if len(handler.sigtermCallbacks) > 0 {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM)
		go func() {
			<-signals
			for _, callback := range handler.sigtermCallbacks {
				callback()
			}
			os.Exit(0)
		}()
	}
	log.Fatal(serve(newRuntimeClient(api), handler))
}
