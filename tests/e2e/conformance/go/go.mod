module example.com/conformance

go 1.19

require github.com/aws/aws-lambda-go v1.47.0

// Kumo's standard-library implementation of the aws-lambda-go API.
replace github.com/aws/aws-lambda-go => ../../../../runtimes/go
