package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func decode(t *testing.T, text string, v interface{}) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}

func TestFunctionURLRequest(t *testing.T) {
	// routeKey and stage are sent by the platform but not part of the Go shape (as on AWS).
	var req LambdaFunctionURLRequest
	if err := json.Unmarshal([]byte(`{"version":"2.0","routeKey":"$default","rawPath":"/todos/1",
		"rawQueryString":"a=1&a=2","cookies":["c=1"],"headers":{"content-type":"application/json"},
		"queryStringParameters":{"a":"1,2"},
		"requestContext":{"accountId":"123456789012","apiId":"x","domainName":"x.lambda-url.us-east-1.localhost",
		"domainPrefix":"x","http":{"method":"POST","path":"/todos/1","protocol":"HTTP/1.1","sourceIp":"127.0.0.1",
		"userAgent":"curl/8"},"requestId":"r-1","routeKey":"$default","stage":"$default",
		"time":"01/May/2024:12:00:00 +0000","timeEpoch":1714564800000,
		"authorizer":{"iam":{"accessKey":"AK","accountId":"123456789012","callerId":"c","userArn":"u","userId":"i"}}},
		"body":"eyJ0aXRsZSI6IngifQ==","isBase64Encoded":true}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.RawPath != "/todos/1" || req.RawQueryString != "a=1&a=2" || req.Cookies[0] != "c=1" ||
		req.QueryStringParameters["a"] != "1,2" || !req.IsBase64Encoded || req.Body != "eyJ0aXRsZSI6IngifQ==" {
		t.Fatalf("decoded %+v", req)
	}
	rc := req.RequestContext
	if rc.HTTP.Method != "POST" || rc.HTTP.SourceIP != "127.0.0.1" || rc.TimeEpoch != 1714564800000 || rc.RequestID != "r-1" {
		t.Fatalf("request context %+v", rc)
	}
	if iam := rc.Authorizer.IAM; iam == nil || iam.AccessKey != "AK" || iam.AccountID != "123456789012" {
		t.Fatalf("authorizer %+v", rc.Authorizer)
	}
	out, err := json.Marshal(LambdaFunctionURLResponse{StatusCode: 201, Headers: map[string]string{"location": "/x"}, Body: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"statusCode":201,"headers":{"location":"/x"},"body":"{}","isBase64Encoded":false,"cookies":null}`
	if string(out) != want {
		t.Fatalf("got %s want %s", out, want)
	}
}

func TestAPIGatewayRequests(t *testing.T) {
	var v1 APIGatewayProxyRequest
	decode(t, `{"resource":"/{proxy+}","path":"/a/b","httpMethod":"GET","headers":{"Accept":"*/*"},
		"multiValueHeaders":{"Accept":["*/*"]},"queryStringParameters":{"q":"1"},
		"multiValueQueryStringParameters":{"q":["1"]},"pathParameters":{"proxy":"a/b"},"stageVariables":null,
		"requestContext":{"accountId":"123456789012","resourceId":"r","stage":"prod","requestId":"id",
		"identity":{"sourceIp":"1.2.3.4","userAgent":"ua"},"resourcePath":"/{proxy+}","httpMethod":"GET",
		"apiId":"api","requestTimeEpoch":1714564800000},"body":null,"isBase64Encoded":false}`, &v1)
	if v1.PathParameters["proxy"] != "a/b" || v1.RequestContext.Identity.SourceIP != "1.2.3.4" || v1.RequestContext.RequestTimeEpoch != 1714564800000 {
		t.Fatalf("decoded %+v", v1)
	}
	var v2 APIGatewayV2HTTPRequest
	decode(t, `{"version":"2.0","routeKey":"GET /items","rawPath":"/items","rawQueryString":"","headers":{},
		"requestContext":{"accountId":"123456789012","apiId":"api","domainName":"d","domainPrefix":"d",
		"http":{"method":"GET","path":"/items","protocol":"HTTP/1.1","sourceIp":"1.2.3.4","userAgent":"ua"},
		"requestId":"id","routeKey":"GET /items","stage":"$default","time":"t","timeEpoch":1,
		"authorizer":{"jwt":{"claims":{"sub":"u1"},"scopes":["read"]}}},"isBase64Encoded":false}`, &v2)
	if v2.RequestContext.Authorizer.JWT.Claims["sub"] != "u1" || v2.RouteKey != "GET /items" {
		t.Fatalf("decoded %+v", v2)
	}
}

func TestEventBridgeEvent(t *testing.T) {
	var e EventBridgeEvent
	decode(t, `{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event",
		"source":"aws.events","account":"123456789012","time":"2024-05-01T12:00:00Z","region":"us-east-1",
		"resources":["arn:aws:events:us-east-1:123456789012:rule/every-minute"],"detail":{"k":[1,2]}}`, &e)
	if e.DetailType != "Scheduled Event" || e.AccountID != "123456789012" || string(e.Detail) != `{"k":[1,2]}` {
		t.Fatalf("decoded %+v", e)
	}
	if !e.Time.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("time %v", e.Time)
	}
}

func TestSQSEvent(t *testing.T) {
	var e SQSEvent
	decode(t, `{"Records":[{"messageId":"m1","receiptHandle":"rh","body":"hello","attributes":
		{"ApproximateReceiveCount":"1"},"messageAttributes":{"k":{"stringValue":"v","stringListValues":[],
		"binaryListValues":[],"dataType":"String"},"b":{"binaryValue":"AQI=","dataType":"Binary"}},
		"md5OfBody":"5d41402abc4b2a76b9719d911017c592","md5OfMessageAttributes":"","eventSource":"aws:sqs",
		"eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q","awsRegion":"us-east-1"}]}`, &e)
	m := e.Records[0]
	if m.MessageId != "m1" || *m.MessageAttributes["k"].StringValue != "v" || !reflect.DeepEqual(m.MessageAttributes["b"].BinaryValue, []byte{1, 2}) {
		t.Fatalf("decoded %+v", m)
	}
	out, _ := json.Marshal(SQSEventResponse{BatchItemFailures: []SQSBatchItemFailure{{ItemIdentifier: "m1"}}})
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"m1"}]}` {
		t.Fatalf("got %s", out)
	}
}

func TestS3EventDecodesKeys(t *testing.T) {
	var e S3Event
	decode(t, `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
		"eventTime":"2024-05-01T12:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"p"},
		"requestParameters":{"sourceIPAddress":"1.2.3.4"},"responseElements":{"x-amz-request-id":"r"},
		"s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"b","ownerIdentity":{"principalId":"o"},
		"arn":"arn:aws:s3:::b"},"object":{"key":"photos/my+cat%281%29.jpg","size":1024,"eTag":"e","sequencer":"s"}}}]}`, &e)
	o := e.Records[0].S3.Object
	if o.URLDecodedKey != "photos/my cat(1).jpg" || o.Key != "photos/my+cat%281%29.jpg" || o.Size != 1024 {
		t.Fatalf("object %+v", o)
	}
	if e.Records[0].S3.Bucket.Name != "b" || e.Records[0].PrincipalID.PrincipalID != "p" {
		t.Fatalf("record %+v", e.Records[0])
	}
}
