// Package messages holds the error document posted to the Runtime API.
package messages

import "fmt"

// InvokeResponse_Error is the error document. A handler may return one to choose errorType itself.
type InvokeResponse_Error struct { //nolint: revive,stylecheck
	Message    string                             `json:"errorMessage"`
	Type       string                             `json:"errorType"`
	StackTrace []*InvokeResponse_Error_StackFrame `json:"stackTrace,omitempty"`
	ShouldExit bool                               `json:"-"`
}

func (e InvokeResponse_Error) Error() string {
	return fmt.Sprintf("%#v", e)
}

// InvokeResponse_Error_StackFrame is one frame of a panic's stack.
type InvokeResponse_Error_StackFrame struct { //nolint: revive,stylecheck
	Path  string `json:"path"`
	Line  int32  `json:"line"`
	Label string `json:"label"`
}
