package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sol-broker/sol/metrics"
)

// fakeBroker is an in-memory Broker for testing the HTTP layer.
type fakeBroker struct {
	mu           sync.Mutex
	clients      map[string]ClientInfo
	subs         []SubscriptionInfo
	retained     map[string]RetainedInfo
	disconnected []string
	err          error // returned by every call when set
	lastDeadline time.Duration
	reg          *metrics.Registry
}

func newFake() *fakeBroker {
	f := &fakeBroker{clients: map[string]ClientInfo{}, retained: map[string]RetainedInfo{}, reg: metrics.NewRegistry(2, "test")}
	for n, id := range []string{"alpha", "bravo", "charlie", "delta", "a/b c"} {
		f.clients[id] = ClientInfo{ID: id, ProtocolVersion: 4 + n%2, RemoteAddr: "127.0.0.1:" + fmt.Sprint(40000+n),
			Loop: n % 2, Connected: n != 3, Subscriptions: 1, Queued: n}
		f.subs = append(f.subs, SubscriptionInfo{ClientID: id, Filter: "sensors/" + id + "/#", QoS: n % 3})
	}
	for _, t := range []string{"sensors/1/temp", "sensors/2/temp", "other/x"} {
		f.retained[t] = RetainedInfo{Topic: t, QoS: 1, PayloadSize: 2, Payload: []byte("21")}
	}
	f.reg.Loop(1).PublishIn(1, 10)
	f.reg.Loop(1).Flush() // as the loop does at the end of its iteration
	return f
}

func (f *fakeBroker) enter(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		f.lastDeadline = time.Until(dl)
	}
	return f.err
}

func pageOf[T any](all []T, offset, limit int) []T {
	if offset >= len(all) {
		return nil
	}
	return all[offset:min(len(all), offset+limit)]
}

func (f *fakeBroker) Clients(ctx context.Context, offset, limit int) ([]ClientInfo, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, 0, err
	}
	var all []ClientInfo
	for _, c := range f.clients {
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return pageOf(all, offset, limit), len(all), nil
}

func (f *fakeBroker) Client(ctx context.Context, id string) (ClientInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return ClientInfo{}, err
	}
	c, ok := f.clients[id]
	if !ok {
		return ClientInfo{}, fmt.Errorf("client %q: %w", id, ErrNotFound)
	}
	return c, nil
}

func (f *fakeBroker) Disconnect(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return err
	}
	c, ok := f.clients[id]
	if !ok || !c.Connected {
		return fmt.Errorf("client %q not connected: %w", id, ErrNotFound)
	}
	c.Connected = false
	f.clients[id] = c
	f.disconnected = append(f.disconnected, id)
	return nil
}

func (f *fakeBroker) Subscriptions(ctx context.Context, clientID string, offset, limit int) ([]SubscriptionInfo, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, 0, err
	}
	var all []SubscriptionInfo
	for _, s := range f.subs {
		if clientID == "" || s.ClientID == clientID {
			all = append(all, s)
		}
	}
	return pageOf(all, offset, limit), len(all), nil
}

// matches is a small MQTT filter match for the fake.
func matches(filter, topic string) bool {
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range fl {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

func (f *fakeBroker) Retained(ctx context.Context, filter string, offset, limit int) ([]RetainedInfo, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return nil, 0, err
	}
	var all []RetainedInfo
	for t, r := range f.retained {
		if matches(filter, t) {
			all = append(all, r)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Topic < all[j].Topic })
	return pageOf(all, offset, limit), len(all), nil
}

func (f *fakeBroker) DeleteRetained(ctx context.Context, topic string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter(ctx); err != nil {
		return err
	}
	if _, ok := f.retained[topic]; !ok {
		return fmt.Errorf("retained %q: %w", topic, ErrNotFound)
	}
	delete(f.retained, topic)
	return nil
}

func (f *fakeBroker) Metrics() metrics.Snapshot { return f.reg.Snapshot() }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start serves f on 127.0.0.1:0 and returns the base URL.
func start(t *testing.T, f *fakeBroker, token string) (*Server, string) {
	t.Helper()
	s, err := Serve("127.0.0.1:0", token, f, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s, "http://" + s.Addr().String()
}

var client = &http.Client{Timeout: 10 * time.Second}

// do sends a request and returns status, headers and body.
func do(t *testing.T, method, u, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// wantJSON decodes body into v, failing unless the status is want and the
// response is JSON.
func wantJSON(t *testing.T, status int, h http.Header, body []byte, want int, v any) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d; body %s", status, want, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
	}
}

type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func wantError(t *testing.T, method, u, token string, want int) apiError {
	t.Helper()
	st, h, body := do(t, method, u, token)
	var e apiError
	wantJSON(t, st, h, body, want, &e)
	if e.Status != want || e.Error == "" {
		t.Fatalf("%s %s: error body %s, want status %d and a message", method, u, body, want)
	}
	return e
}

func TestClientsPaged(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	var got struct {
		Total, Offset, Limit int
		Clients              []ClientInfo
	}
	st, h, body := do(t, "GET", base+"/api/v1/clients?offset=1&limit=2", "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 5 || got.Offset != 1 || got.Limit != 2 || len(got.Clients) != 2 ||
		got.Clients[0].ID != "alpha" || got.Clients[1].ID != "bravo" {
		t.Fatalf("page = %+v", got)
	}
	// The JSON names are the documented ones.
	for _, key := range []string{`"id"`, `"protocol_version"`, `"remote_address"`, `"loop"`, `"subscriptions"`, `"queue_length"`, `"connected"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("body lacks %s: %s", key, body)
		}
	}
	// Defaults, and past the end: an empty list, not null.
	st, h, body = do(t, "GET", base+"/api/v1/clients", "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Offset != 0 || got.Limit != DefaultLimit || len(got.Clients) != 5 {
		t.Fatalf("default page = %+v", got)
	}
	st, h, body = do(t, "GET", base+"/api/v1/clients?offset=50", "")
	wantJSON(t, st, h, body, 200, nil)
	if !strings.Contains(string(body), `"clients":[]`) {
		t.Fatalf("past the end: %s", body)
	}
	for _, q := range []string{"offset=-1", "offset=x", "limit=0", "limit=1001", "limit=", "limit=2.5"} {
		wantError(t, "GET", base+"/api/v1/clients?"+q, "", 400)
	}
}

func TestClientShowAndDisconnect(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	var c ClientInfo
	st, h, body := do(t, "GET", base+"/api/v1/clients/bravo", "")
	wantJSON(t, st, h, body, 200, &c)
	if c.ID != "bravo" || c.ProtocolVersion != 5 || c.RemoteAddr != "127.0.0.1:40001" || c.Loop != 1 || !c.Connected {
		t.Fatalf("client = %+v", c)
	}
	// An identifier with a slash and a space, escaped in the path.
	st, h, body = do(t, "GET", base+"/api/v1/clients/"+url.PathEscape("a/b c"), "")
	wantJSON(t, st, h, body, 200, &c)
	if c.ID != "a/b c" {
		t.Fatalf("escaped id: got %+v", c)
	}
	wantError(t, "GET", base+"/api/v1/clients/nobody", "", 404)
	wantError(t, "GET", base+"/api/v1/clients/", "", 404)

	st, h, body = do(t, "DELETE", base+"/api/v1/clients/charlie", "")
	wantJSON(t, st, h, body, 200, nil)
	f.mu.Lock()
	disc := slices.Clone(f.disconnected)
	f.mu.Unlock()
	if !slices.Equal(disc, []string{"charlie"}) {
		t.Fatalf("broker disconnected %v, want [charlie]", disc)
	}
	// Now offline: a second DELETE finds no connected client.
	wantError(t, "DELETE", base+"/api/v1/clients/charlie", "", 404)
	wantError(t, "DELETE", base+"/api/v1/clients/nobody", "", 404)
	if e := wantError(t, "PUT", base+"/api/v1/clients/alpha", "", 405); !strings.Contains(e.Error, "PUT") {
		t.Errorf("405 message %q does not name the method", e.Error)
	}
}

func TestSubscriptions(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	var got struct {
		Total         int
		Subscriptions []SubscriptionInfo
	}
	st, h, body := do(t, "GET", base+"/api/v1/subscriptions?client=delta", "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 1 || len(got.Subscriptions) != 1 || got.Subscriptions[0].Filter != "sensors/delta/#" || got.Subscriptions[0].QoS != 0 {
		t.Fatalf("subscriptions of delta = %+v", got)
	}
	st, h, body = do(t, "GET", base+"/api/v1/subscriptions?limit=3", "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 5 || len(got.Subscriptions) != 3 {
		t.Fatalf("subscriptions page = %+v", got)
	}
	wantError(t, "GET", base+"/api/v1/subscriptions?offset=-3", "", 400)
	wantError(t, "DELETE", base+"/api/v1/subscriptions", "", 405)
}

func TestRetained(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	var got struct {
		Total    int
		Retained []RetainedInfo
	}
	st, h, body := do(t, "GET", base+"/api/v1/retained?topic="+url.QueryEscape("sensors/+/temp"), "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 2 || got.Retained[0].Topic != "sensors/1/temp" || string(got.Retained[0].Payload) != "21" {
		t.Fatalf("retained sensors/+/temp = %+v", got)
	}
	st, h, body = do(t, "GET", base+"/api/v1/retained", "") // default "#"
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 3 {
		t.Fatalf("retained # = %+v", got)
	}
	for _, bad := range []string{"a/#/b", "a+", "#a", "", "a\x00b", "\xff"} {
		wantError(t, "GET", base+"/api/v1/retained?topic="+url.QueryEscape(bad), "", 400)
	}

	wantError(t, "DELETE", base+"/api/v1/retained", "", 400)
	wantError(t, "DELETE", base+"/api/v1/retained?topic="+url.QueryEscape("sensors/#"), "", 400)
	st, h, body = do(t, "DELETE", base+"/api/v1/retained?topic="+url.QueryEscape("sensors/1/temp"), "")
	wantJSON(t, st, h, body, 200, nil)
	st, h, body = do(t, "GET", base+"/api/v1/retained?topic="+url.QueryEscape("sensors/#"), "")
	wantJSON(t, st, h, body, 200, &got)
	if got.Total != 1 || got.Retained[0].Topic != "sensors/2/temp" {
		t.Fatalf("after delete: %+v", got)
	}
	wantError(t, "DELETE", base+"/api/v1/retained?topic="+url.QueryEscape("sensors/1/temp"), "", 404)
	wantError(t, "POST", base+"/api/v1/retained?topic=x", "", 405)
}

func TestMetricsEndpoint(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	st, h, body := do(t, "GET", base+"/metrics", "")
	if st != 200 || h.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("status %d Content-Type %q", st, h.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	var qos1 float64 = -1
	for _, m := range fams["sol_publish_received_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "qos" && l.GetValue() == "1" {
				qos1 = m.GetCounter().GetValue()
			}
		}
	}
	if qos1 != 1 {
		t.Fatalf("sol_publish_received_total{qos=\"1\"} = %v, want 1", qos1)
	}
	wantError(t, "POST", base+"/metrics", "", 405)
}

func TestHealthzAndUnknownPath(t *testing.T) {
	_, base := start(t, newFake(), "")
	var h struct{ Status string }
	st, hdr, body := do(t, "GET", base+"/healthz", "")
	wantJSON(t, st, hdr, body, 200, &h)
	if h.Status != "ok" {
		t.Fatalf("healthz = %s", body)
	}
	wantError(t, "GET", base+"/nope", "", 404)
	wantError(t, "GET", base+"/api/v2/clients", "", 404)
}

func TestToken(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "s3cret")
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"} {
		for _, path := range []string{"/metrics", "/api/v1/clients", "/api/v1/clients/alpha", "/api/v1/retained"} {
			st, h, body := do(t, "GET", base+path, auth)
			var e apiError
			wantJSON(t, st, h, body, 401, &e)
			if e.Status != 401 || h.Get("WWW-Authenticate") == "" {
				t.Fatalf("GET %s with %q: %s, WWW-Authenticate %q", path, auth, body, h.Get("WWW-Authenticate"))
			}
		}
	}
	// A DELETE without the token must not reach the broker.
	wantError(t, "DELETE", base+"/api/v1/clients/alpha", "Bearer nope", 401)
	f.mu.Lock()
	n := len(f.disconnected)
	f.mu.Unlock()
	if n != 0 {
		t.Fatal("an unauthorized DELETE disconnected a client")
	}
	for _, auth := range []string{"Bearer s3cret", "bearer s3cret"} {
		if st, _, body := do(t, "GET", base+"/api/v1/clients/alpha", auth); st != 200 {
			t.Fatalf("with %q: status %d %s", auth, st, body)
		}
	}
	if st, _, _ := do(t, "GET", base+"/metrics", "Bearer s3cret"); st != 200 {
		t.Fatalf("metrics with token: %d", st)
	}
	// Health checks work without the token.
	if st, _, _ := do(t, "GET", base+"/healthz", ""); st != 200 {
		t.Fatalf("healthz without token: %d", st)
	}
}

func TestBrokerErrors(t *testing.T) {
	f := newFake()
	_, base := start(t, f, "")
	cases := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("waiting for loop 1: %w", context.DeadlineExceeded), 503},
		{fmt.Errorf("bad: %w", ErrInvalid), 400},
		{errors.New("something broke"), 500},
	}
	for _, c := range cases {
		f.mu.Lock()
		f.err = c.err
		f.mu.Unlock()
		for _, u := range []string{"/api/v1/clients", "/api/v1/clients/alpha", "/api/v1/subscriptions", "/api/v1/retained"} {
			e := wantError(t, "GET", base+u, "", c.want)
			if !strings.Contains(e.Error, c.err.Error()) {
				t.Errorf("%s: error %q does not carry %q", u, e.Error, c.err)
			}
		}
		wantError(t, "DELETE", base+"/api/v1/clients/alpha", "", c.want)
		wantError(t, "DELETE", base+"/api/v1/retained?topic=a", "", c.want)
	}
	f.mu.Lock()
	dl := f.lastDeadline
	f.mu.Unlock()
	if dl <= 0 || dl > RequestTimeout {
		t.Fatalf("broker call deadline %v, want within (0, %v]", dl, RequestTimeout)
	}
}

func TestServeAndShutdown(t *testing.T) {
	if _, err := Serve("127.0.0.1:0", "", nil, nil); err == nil {
		t.Fatal("Serve accepted a nil broker")
	}
	s, err := Serve("127.0.0.1:0", "", newFake(), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if _, err := Serve(addr, "", newFake(), quietLogger()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("second Serve on %s: err %v, want an error naming the address", addr, err)
	}
	if st, _, _ := do(t, "GET", "http://"+addr+"/healthz", ""); st != 200 {
		t.Fatalf("healthz %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}
