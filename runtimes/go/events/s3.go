package events

import (
	"encoding/json"
	"net/url"
	"time"
)

// S3Event is an S3 event notification.
type S3Event struct {
	Records []S3EventRecord `json:"Records"`
}

// S3EventRecord is one notification.
type S3EventRecord struct {
	EventVersion      string              `json:"eventVersion"`
	EventSource       string              `json:"eventSource"`
	AWSRegion         string              `json:"awsRegion"`
	EventTime         time.Time           `json:"eventTime"`
	EventName         string              `json:"eventName"`
	PrincipalID       S3UserIdentity      `json:"userIdentity"`
	RequestParameters S3RequestParameters `json:"requestParameters"`
	ResponseElements  map[string]string   `json:"responseElements"`
	S3                S3Entity            `json:"s3"`
}

// S3UserIdentity names the principal behind the event.
type S3UserIdentity struct {
	PrincipalID string `json:"principalId"`
}

// S3RequestParameters holds the request's source address.
type S3RequestParameters struct {
	SourceIPAddress string `json:"sourceIPAddress"`
}

// S3Entity is the bucket and object the event is about.
type S3Entity struct {
	SchemaVersion   string   `json:"s3SchemaVersion"`
	ConfigurationID string   `json:"configurationId"`
	Bucket          S3Bucket `json:"bucket"`
	Object          S3Object `json:"object"`
}

// S3Bucket identifies the bucket.
type S3Bucket struct {
	Name          string         `json:"name"`
	OwnerIdentity S3UserIdentity `json:"ownerIdentity"`
	Arn           string         `json:"arn"`
}

// S3Object identifies the object. Key is URL-encoded, as S3 sends it; URLDecodedKey is filled in
// when the record is decoded.
type S3Object struct {
	Key           string `json:"key"`
	Size          int64  `json:"size,omitempty"`
	URLDecodedKey string `json:"urlDecodedKey"`
	VersionID     string `json:"versionId"`
	ETag          string `json:"eTag"`
	Sequencer     string `json:"sequencer"`
}

// UnmarshalJSON decodes the object and sets URLDecodedKey from Key.
func (o *S3Object) UnmarshalJSON(data []byte) error {
	type plain S3Object
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*o = S3Object(p)
	// S3 encodes keys as form values ('+' for a space).
	if decoded, err := url.QueryUnescape(o.Key); err == nil {
		o.URLDecodedKey = decoded
	} else {
		o.URLDecodedKey = o.Key
	}
	return nil
}
