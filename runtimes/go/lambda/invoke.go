package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

const apiPrefix = "/2018-06-01/runtime/"

type runtimeClient struct {
	base   string
	client *http.Client
}

func newRuntimeClient(address string) *runtimeClient {
	// One kept-alive connection, no proxy, no timeout: /next blocks until there is work.
	transport := &http.Transport{
		DialContext:         (&net.Dialer{}).DialContext,
		MaxIdleConnsPerHost: 1,
	}
	return &runtimeClient{base: "http://" + address + apiPrefix, client: &http.Client{Transport: transport}}
}

func (c *runtimeClient) post(path string, body []byte, contentType string, headers map[string]string) error {
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to POST to %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("failed to POST to %s: got unexpected status code: %d (%s)", req.URL, resp.StatusCode, reply)
	}
	return nil
}

// serve runs the invoke loop; it returns only on a Runtime API failure or after a panic.
func serve(c *runtimeClient, h *handlerOptions) error {
	for {
		resp, err := c.client.Get(c.base + "invocation/next")
		if err != nil {
			return fmt.Errorf("failed to get the next invoke: %v", err)
		}
		payload, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("failed to read the next invoke: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("failed to get the next invoke: status %d: %s", resp.StatusCode, payload)
		}
		if err := handleInvoke(c, h, resp.Header, payload); err != nil {
			return err
		}
	}
}

func handleInvoke(c *runtimeClient, h *handlerOptions, headers http.Header, payload []byte) error {
	id := headers.Get("Lambda-Runtime-Aws-Request-Id")
	deadlineMs, err := strconv.ParseInt(headers.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
	if err != nil {
		return reportFailure(c, id, lambdaErrorResponse(fmt.Errorf("failed to parse deadline: %v", err)))
	}
	ctx, cancel := context.WithDeadline(h.baseContext, time.UnixMilli(deadlineMs))
	defer cancel()

	lc := lambdacontext.LambdaContext{
		AwsRequestID:       id,
		InvokedFunctionArn: headers.Get("Lambda-Runtime-Invoked-Function-Arn"),
	}
	if v := headers.Get("Lambda-Runtime-Client-Context"); v != "" {
		if err := json.Unmarshal([]byte(v), &lc.ClientContext); err != nil {
			return reportFailure(c, id, lambdaErrorResponse(fmt.Errorf("failed to unmarshal client context json: %v", err)))
		}
	}
	if v := headers.Get("Lambda-Runtime-Cognito-Identity"); v != "" {
		var identity struct {
			ID     string `json:"cognitoIdentityId"`
			PoolID string `json:"cognitoIdentityPoolId"`
		}
		if err := json.Unmarshal([]byte(v), &identity); err != nil {
			return reportFailure(c, id, lambdaErrorResponse(fmt.Errorf("failed to unmarshal cognito identity json: %v", err)))
		}
		lc.Identity = lambdacontext.CognitoIdentity{CognitoIdentityID: identity.ID, CognitoIdentityPoolID: identity.PoolID}
	}
	ctx = lambdacontext.NewContext(ctx, &lc)
	traceID := headers.Get("Lambda-Runtime-Trace-Id")
	os.Setenv("_X_AMZN_TRACE_ID", traceID)
	ctx = context.WithValue(ctx, "x-amzn-trace-id", traceID) //nolint: staticcheck // the key aws-lambda-go uses

	response, invokeErr := call(ctx, h, payload)
	if invokeErr != nil {
		if err := reportFailure(c, id, invokeErr); err != nil {
			return err
		}
		if invokeErr.ShouldExit {
			return fmt.Errorf("calling the handler function resulted in a panic, the process should exit")
		}
		return nil
	}
	return c.post("invocation/"+id+"/response", response, "application/json", nil)
}

// call runs the handler, turning a returned error or a panic into an error document.
func call(ctx context.Context, h *handlerOptions, payload []byte) (response []byte, invokeErr *messages.InvokeResponse_Error) {
	defer func() {
		if v := recover(); v != nil {
			invokeErr = lambdaPanicResponse(v)
		}
	}()
	r, err := h.handlerFunc(ctx, payload)
	if err == nil {
		response, err = readAll(r)
	}
	if err != nil {
		return nil, lambdaErrorResponse(err)
	}
	return response, nil
}

func readAll(r io.Reader) ([]byte, error) {
	if b, ok := r.(*bytes.Buffer); ok {
		return b.Bytes(), nil
	}
	if closer, ok := r.(io.Closer); ok {
		defer closer.Close()
	}
	return io.ReadAll(r)
}

func reportFailure(c *runtimeClient, id string, invokeErr *messages.InvokeResponse_Error) error {
	body, err := json.Marshal(invokeErr)
	if err != nil {
		body = []byte(`{"errorMessage":"failed to marshal the error","errorType":"Runtime.MarshalError"}`)
	}
	log.Printf("%s", body)
	return c.post("invocation/"+id+"/error", body, "application/json",
		map[string]string{"Lambda-Runtime-Function-Error-Type": invokeErr.Type})
}

func typeName(v interface{}) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Ptr {
		return t.Elem().Name()
	}
	return t.Name()
}

func lambdaErrorResponse(err error) *messages.InvokeResponse_Error {
	switch e := err.(type) {
	case messages.InvokeResponse_Error:
		return &e
	case *messages.InvokeResponse_Error:
		return e
	}
	return &messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

func lambdaPanicResponse(v interface{}) *messages.InvokeResponse_Error {
	if e, ok := v.(messages.InvokeResponse_Error); ok {
		return &e
	}
	return &messages.InvokeResponse_Error{
		Message:    fmt.Sprintf("%v", v),
		Type:       typeName(v),
		StackTrace: panicStack(),
		ShouldExit: true,
	}
}

// isDispatchFrame reports whether fn is this package's code that called into the handler.
func isDispatchFrame(fn string) bool {
	const pkg = "github.com/aws/aws-lambda-go/lambda."
	return strings.HasPrefix(fn, pkg+"reflectHandler.") || strings.HasPrefix(fn, pkg+"newHandler.") || fn == pkg+"call"
}

// panicStack lists the frames from the panicking function up to the handler call.
func panicStack() []*messages.InvokeResponse_Error_StackFrame {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var stack []*messages.InvokeResponse_Error_StackFrame
	started := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			started = true // the frames before this one are the deferred recover
		case started && strings.HasPrefix(f.Function, "reflect."):
			// the call into the handler
		case started && isDispatchFrame(f.Function):
			return stack
		case started && !strings.HasPrefix(f.Function, "runtime."):
			label := f.Function
			if i := strings.LastIndex(label, "/"); i >= 0 {
				label = label[i+1:]
			}
			stack = append(stack, &messages.InvokeResponse_Error_StackFrame{Path: f.File, Line: int32(f.Line), Label: label})
		}
		if !more {
			return stack
		}
	}
}
