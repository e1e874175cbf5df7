// Package lambdacontext carries the invocation's metadata on a context.Context, and the function's
// settings read from the environment at start-up.
package lambdacontext

import (
	"context"
	"os"
	"strconv"
)

// Function settings, from the environment the platform sets.
var (
	LogGroupName    = os.Getenv("AWS_LAMBDA_LOG_GROUP_NAME")
	LogStreamName   = os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	FunctionName    = os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	MemoryLimitInMB = parseInt(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	FunctionVersion = os.Getenv("AWS_LAMBDA_FUNCTION_VERSION")
)

func parseInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// CognitoIdentity is the Amazon Cognito identity of a mobile caller.
type CognitoIdentity struct {
	CognitoIdentityID     string
	CognitoIdentityPoolID string
}

// ClientApplication is the mobile application that made the call.
type ClientApplication struct {
	InstallationID string `json:"installation_id"`
	AppTitle       string `json:"app_title"`
	AppVersionCode string `json:"app_version_code"`
	AppPackageName string `json:"app_package_name"`
}

// ClientContext is the client information sent by a mobile caller.
type ClientContext struct {
	Client ClientApplication
	Env    map[string]string `json:"env"`
	Custom map[string]string `json:"custom"`
}

// LambdaContext is the metadata of one invocation.
type LambdaContext struct {
	AwsRequestID       string //nolint: stylecheck
	InvokedFunctionArn string //nolint: stylecheck
	Identity           CognitoIdentity
	ClientContext      ClientContext
}

type key struct{}

// NewContext returns a context that carries lc.
func NewContext(parent context.Context, lc *LambdaContext) context.Context {
	return context.WithValue(parent, key{}, lc)
}

// FromContext returns the LambdaContext carried by ctx, if any.
func FromContext(ctx context.Context) (*LambdaContext, bool) {
	lc, ok := ctx.Value(key{}).(*LambdaContext)
	return lc, ok
}
