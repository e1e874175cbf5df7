// Command conformance is the Go conformance function (go1.x / provided.al2023).
// Operations are selected by the event's "op" (see ../README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

const tmpFile = "/tmp/conformance.txt"

var (
	initRuns    int
	invocations int
)

// ConformanceError is the error the "error" operation returns.
type ConformanceError struct{ Message string }

func (e *ConformanceError) Error() string { return e.Message }

func init() {
	initRuns++
	if os.Getenv("CONF_INIT_FAIL") == "1" {
		panic("conformance init failure")
	}
}

func remainingMs(ctx context.Context) int64 {
	deadline, _ := ctx.Deadline()
	return time.Until(deadline).Milliseconds()
}

func number(v interface{}, fallback int) int {
	if f, ok := v.(float64); ok {
		return int(f)
	}
	return fallback
}

func handler(ctx context.Context, event map[string]interface{}) (interface{}, error) {
	invocations++
	op, _ := event["op"].(string)
	switch op {
	case "", "echo":
		return event, nil
	case "error":
		msg, _ := event["message"].(string)
		return nil, &ConformanceError{Message: msg}
	case "crash":
		var empty []int
		return empty[number(event["index"], 1)], nil
	case "sleep":
		ms := number(event["ms"], 0)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return map[string]interface{}{"slept": ms}, nil
	case "exit":
		os.Exit(number(event["code"], 1))
	case "context":
		lc, _ := lambdacontext.FromContext(ctx)
		first := remainingMs(ctx)
		time.Sleep(20 * time.Millisecond)
		second := remainingMs(ctx)
		return map[string]interface{}{
			"request_id":           lc.AwsRequestID,
			"function_name":        lambdacontext.FunctionName,
			"function_version":     lambdacontext.FunctionVersion,
			"memory_limit_in_mb":   lambdacontext.MemoryLimitInMB,
			"invoked_function_arn": lc.InvokedFunctionArn,
			"log_group_name":       lambdacontext.LogGroupName,
			"log_stream_name":      lambdacontext.LogStreamName,
			"remaining_ms":         []int64{first, second},
		}, nil
	case "env":
		env := map[string]interface{}{}
		names, _ := event["names"].([]interface{})
		for _, n := range names {
			name, _ := n.(string)
			if v, ok := os.LookupEnv(name); ok {
				env[name] = v
			} else {
				env[name] = nil
			}
		}
		return map[string]interface{}{"env": env}, nil
	case "tmp":
		if text, ok := event["write"].(string); ok {
			if err := os.WriteFile(tmpFile, []byte(text), 0o644); err != nil {
				return nil, &ConformanceError{Message: err.Error()}
			}
		}
		data, err := os.ReadFile(tmpFile)
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]interface{}{"content": nil}, nil
		} else if err != nil {
			return nil, &ConformanceError{Message: err.Error()}
		}
		return map[string]interface{}{"content": string(data)}, nil
	case "count":
		return map[string]interface{}{"init": initRuns, "invocations": invocations}, nil
	case "log":
		lines, _ := event["lines"].([]interface{})
		for _, line := range lines {
			fmt.Println(line)
		}
		if text, ok := event["stderr"].(string); ok {
			fmt.Fprintln(os.Stderr, text)
		}
		return map[string]interface{}{"logged": len(lines)}, nil
	}
	return nil, &ConformanceError{Message: "unknown op " + op}
}

func main() {
	lambda.Start(handler)
}
