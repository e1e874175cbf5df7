// Package events holds the shapes of common event sources' payloads, with the field names and JSON
// tags of github.com/aws/aws-lambda-go/events, so handlers written for AWS decode the same events:
// API Gateway REST (payload 1.0) and HTTP APIs (payload 2.0), function URLs, EventBridge /
// CloudWatch Events, SQS and S3. Standard library only.
package events
