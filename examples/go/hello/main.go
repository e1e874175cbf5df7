// Command hello greets the caller: {"name":"Ada"} -> {"message":"Hello, Ada!","requestId":"..."}.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Name string `json:"name"`
}

type response struct {
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func handler(ctx context.Context, req request) (response, error) {
	name := req.Name
	if name == "" {
		name = "world"
	}
	lc, _ := lambdacontext.FromContext(ctx)
	log.Printf("greeting %s", name)
	return response{Message: "Hello, " + name + "!", RequestID: lc.AwsRequestID}, nil
}

func main() {
	lambda.Start(handler)
}
