package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Handler is the low-level handler: raw event bytes in, raw response bytes out.
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Option configures how a handler is run.
type Option func(*handlerOptions)

type handlerOptions struct {
	handlerFunc
	baseContext              context.Context
	jsonResponseEscapeHTML   bool
	jsonResponseIndentPrefix string
	jsonResponseIndentValue  string
	useNumber                bool
	disallowUnknownFields    bool
	sigtermCallbacks         []func()
}

type handlerFunc func(context.Context, []byte) (io.Reader, error)

// Invoke implements Handler.
func (h *handlerOptions) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r, err := h.handlerFunc(ctx, payload)
	if err != nil {
		return nil, err
	}
	if b, ok := r.(*bytes.Buffer); ok {
		return b.Bytes(), nil
	}
	return io.ReadAll(r)
}

// WithContext sets the parent of every invocation's context.
func WithContext(ctx context.Context) Option {
	return func(h *handlerOptions) { h.baseContext = ctx }
}

// WithSetEscapeHTML sets whether the JSON response escapes <, > and & (default true).
func WithSetEscapeHTML(escapeHTML bool) Option {
	return func(h *handlerOptions) { h.jsonResponseEscapeHTML = escapeHTML }
}

// WithSetIndent indents the JSON response (see json.Encoder.SetIndent).
func WithSetIndent(prefix, indent string) Option {
	return func(h *handlerOptions) {
		h.jsonResponseIndentPrefix = prefix
		h.jsonResponseIndentValue = indent
	}
}

// WithUseNumber decodes numbers in the event into json.Number instead of float64.
func WithUseNumber(useNumber bool) Option {
	return func(h *handlerOptions) { h.useNumber = useNumber }
}

// WithDisallowUnknownFields rejects events with fields the input type does not have.
func WithDisallowUnknownFields(disallowUnknownFields bool) Option {
	return func(h *handlerOptions) { h.disallowUnknownFields = disallowUnknownFields }
}

// WithEnableSIGTERM runs the callbacks when the process receives SIGTERM.
func WithEnableSIGTERM(callbacks ...func()) Option {
	return func(h *handlerOptions) { h.sigtermCallbacks = append(h.sigtermCallbacks, callbacks...) }
}

// NewHandler wraps a function of one of the accepted signatures as a Handler:
//
//	func ()
//	func () error
//	func (TIn) error
//	func () (TOut, error)
//	func (TIn) (TOut, error)
//	func (context.Context) error
//	func (context.Context, TIn) error
//	func (context.Context) (TOut, error)
//	func (context.Context, TIn) (TOut, error)
//
// TIn and TOut are converted from and to JSON with encoding/json. An invalid handler yields a
// Handler that fails every invocation with the reason.
func NewHandler(handlerFunc interface{}) Handler {
	return NewHandlerWithOptions(handlerFunc)
}

// NewHandlerWithOptions is NewHandler with options.
func NewHandlerWithOptions(handlerFunc interface{}, options ...Option) Handler {
	return newHandler(handlerFunc, options...)
}

func newHandler(handlerFunc interface{}, options ...Option) *handlerOptions {
	if h, ok := handlerFunc.(*handlerOptions); ok {
		return h
	}
	h := &handlerOptions{baseContext: context.Background(), jsonResponseEscapeHTML: true}
	for _, option := range options {
		option(h)
	}
	if handler, ok := handlerFunc.(Handler); ok {
		h.handlerFunc = func(ctx context.Context, payload []byte) (io.Reader, error) {
			b, err := handler.Invoke(ctx, payload)
			return bytes.NewReader(b), err
		}
		return h
	}
	h.handlerFunc = reflectHandler(handlerFunc, h)
	return h
}

func errorHandler(err error) handlerFunc {
	return func(context.Context, []byte) (io.Reader, error) { return nil, err }
}

var (
	contextType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errorType   = reflect.TypeOf((*error)(nil)).Elem()
)

func validateArguments(handler reflect.Type) (bool, error) {
	takesContext := false
	if handler.NumIn() > 2 {
		return false, fmt.Errorf("handlers may not take more than two arguments, but handler takes %d", handler.NumIn())
	} else if handler.NumIn() > 0 {
		argumentType := handler.In(0)
		takesContext = argumentType.Implements(contextType)
		if handler.NumIn() > 1 && !takesContext {
			return false, fmt.Errorf("handler takes two arguments, but the first is not Context. got %s", argumentType.Kind())
		}
	}
	return takesContext, nil
}

func validateReturns(handler reflect.Type) error {
	switch n := handler.NumOut(); {
	case n > 2:
		return fmt.Errorf("handler may not return more than two values")
	case n == 2:
		if !handler.Out(1).Implements(errorType) {
			return fmt.Errorf("handler returns two values, but the second does not implement error")
		}
	case n == 1:
		if !handler.Out(0).Implements(errorType) {
			return fmt.Errorf("handler returns a single value, but it does not implement error")
		}
	}
	return nil
}

func reflectHandler(f interface{}, h *handlerOptions) handlerFunc {
	if f == nil {
		return errorHandler(errors.New("handler is nil"))
	}
	handler := reflect.ValueOf(f)
	handlerType := reflect.TypeOf(f)
	if handlerType.Kind() != reflect.Func {
		return errorHandler(fmt.Errorf("handler kind %s is not %s", handlerType.Kind(), reflect.Func))
	}
	takesContext, err := validateArguments(handlerType)
	if err != nil {
		return errorHandler(err)
	}
	if err := validateReturns(handlerType); err != nil {
		return errorHandler(err)
	}
	takesInput := handlerType.NumIn() == 2 || (handlerType.NumIn() == 1 && !takesContext)
	returnsValue := handlerType.NumOut() == 2

	out := new(bytes.Buffer)
	return func(ctx context.Context, payload []byte) (io.Reader, error) {
		out.Reset()
		var args []reflect.Value
		if takesContext {
			args = append(args, reflect.ValueOf(ctx))
		}
		if takesInput {
			event := reflect.New(handlerType.In(handlerType.NumIn() - 1))
			decoder := json.NewDecoder(bytes.NewReader(payload))
			if h.useNumber {
				decoder.UseNumber()
			}
			if h.disallowUnknownFields {
				decoder.DisallowUnknownFields()
			}
			if err := decoder.Decode(event.Interface()); err != nil {
				return nil, err
			}
			args = append(args, event.Elem())
		}

		results := handler.Call(args)
		if n := len(results); n > 0 {
			if err, ok := results[n-1].Interface().(error); ok && err != nil {
				return nil, err
			}
		}
		var value interface{}
		if returnsValue {
			value = results[0].Interface()
		}

		encoder := json.NewEncoder(out)
		encoder.SetEscapeHTML(h.jsonResponseEscapeHTML)
		encoder.SetIndent(h.jsonResponseIndentPrefix, h.jsonResponseIndentValue)
		if err := encoder.Encode(value); err != nil {
			if reader, ok := value.(io.Reader); ok {
				return reader, nil // not JSON-serialisable, but a stream: sent as-is
			}
			return nil, err
		}
		if reader, ok := value.(io.Reader); ok && strings.HasPrefix(out.String(), "{}") {
			return reader, nil // a reader with no exported fields: its bytes are the response
		}
		if h.jsonResponseIndentPrefix == "" && h.jsonResponseIndentValue == "" {
			out.Truncate(out.Len() - 1) // the encoder's trailing newline
		}
		return out, nil
	}
}
