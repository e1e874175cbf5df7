package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

type greeting struct {
	Name string `json:"name"`
}

func TestHandlerSignatures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		handler interface{}
		payload string
		want    string
		wantErr string
	}{
		{func() {}, `{}`, `null`, ""},
		{func() error { return nil }, `{}`, `null`, ""},
		{func() (string, error) { return "<b>", nil }, `{}`, `"\u003cb\u003e"`, ""},
		{func(g greeting) (string, error) { return "hi " + g.Name, nil }, `{"name":"ada"}`, `"hi ada"`, ""},
		{func(ctx context.Context, g greeting) (greeting, error) { return g, nil }, `{"name":"x"}`, `{"name":"x"}`, ""},
		{func(ctx context.Context) error { return errors.New("boom") }, `{}`, "", "boom"},
		{func(g greeting) error { return nil }, `[1]`, "", "json: cannot unmarshal array into Go value of type lambda.greeting"},
		{"not a func", `{}`, "", "handler kind string is not func"},
		{func(a, b int) error { return nil }, `{}`, "", "handler takes two arguments, but the first is not Context. got int"},
		{func() string { return "" }, `{}`, "", "handler returns a single value, but it does not implement error"},
		{func() (int, int) { return 0, 0 }, `{}`, "", "handler returns two values, but the second does not implement error"},
	}
	for i, c := range cases {
		got, err := NewHandler(c.handler).Invoke(ctx, []byte(c.payload))
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("case %d: error %v, want %q", i, err, c.wantErr)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("case %d: got %q, %v; want %q", i, got, err, c.want)
		}
	}
}

// fakeAPI serves the given events on /next, records what the runtime posts, then fails /next.
type fakeAPI struct {
	mu     sync.Mutex
	events []string
	posts  []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodGet {
		if len(f.events) == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strings.TrimSpace(jsonNumber(time.Now().Add(time.Minute).UnixMilli())))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f")
		w.Header().Set("Lambda-Runtime-Client-Context", `{"custom":{"k":"v"}}`)
		io.WriteString(w, f.events[0])
		f.events = f.events[1:]
		return
	}
	body, _ := io.ReadAll(r.Body)
	kind := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	f.posts = append(f.posts, kind+" "+r.Header.Get("Lambda-Runtime-Function-Error-Type")+" "+string(body))
	w.WriteHeader(http.StatusAccepted)
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestServe(t *testing.T) {
	api := &fakeAPI{events: []string{`{"name":"ada"}`, `{"name":"err"}`, `{"name":"panic"}`, `{}`}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	handler := newHandler(func(ctx context.Context, g greeting) (map[string]interface{}, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, ok := ctx.Deadline()
		switch g.Name {
		case "err":
			return nil, errors.New("bad name")
		case "panic":
			panic("oops")
		}
		return map[string]interface{}{"id": lc.AwsRequestID, "custom": lc.ClientContext.Custom["k"],
			"deadline": ok && time.Until(deadline) > 0}, nil
	})
	err := serve(newRuntimeClient(strings.TrimPrefix(srv.URL, "http://")), handler)
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("serve returned %v, want the panic exit", err)
	}
	want := []string{
		`response  {"custom":"v","deadline":true,"id":"req-1"}`,
		`error errorString {"errorMessage":"bad name","errorType":"errorString"}`,
	}
	if len(api.posts) != 3 || api.posts[0] != want[0] || api.posts[1] != want[1] {
		t.Fatalf("posts = %q", api.posts)
	}
	if !strings.HasPrefix(api.posts[2], `error string {"errorMessage":"oops","errorType":"string","stackTrace":[{"path":`) {
		t.Fatalf("panic post = %q", api.posts[2])
	}
}
