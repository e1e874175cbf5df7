package events

import (
	"encoding/json"
	"time"
)

// CloudWatchEvent is an EventBridge (CloudWatch Events) event, scheduled or matched by a rule.
type CloudWatchEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	AccountID  string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// EventBridgeEvent is the same event under EventBridge's name.
type EventBridgeEvent = CloudWatchEvent
