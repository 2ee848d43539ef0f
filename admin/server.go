package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sol-broker/sol/metrics"
)

// Limits of the HTTP server. The admin API is for a few operators and a
// scraper, not for load.
const (
	// RequestTimeout bounds each Broker call (the ctx it gets).
	RequestTimeout = 5 * time.Second
	// DefaultLimit is the page size when ?limit= is absent; MaxLimit the
	// largest accepted.
	DefaultLimit = 100
	MaxLimit     = 1000

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	maxTopicLength    = 65535 // MQTT's UTF-8 string limit
)

// Server is a running admin HTTP listener. Its methods are safe from any
// goroutine.
type Server struct {
	ln    net.Listener
	srv   *http.Server
	b     Broker
	token []byte
	log   *slog.Logger
	done  chan struct{} // closed when Serve returns
}

// Serve listens on addr ("host:port"; port 0 picks one) and serves the
// admin endpoints for b in a new goroutine until Shutdown. token, when not
// empty, is the bearer token every endpoint but /healthz requires. log
// receives one line per failed broker call and server error; nil means
// slog.Default(). It returns an error naming addr when it cannot listen, or
// when b is nil.
func Serve(addr, token string, b Broker, log *slog.Logger) (*Server, error) {
	if b == nil {
		return nil, errors.New("admin: nil broker")
	}
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	s := &Server{ln: ln, b: b, log: log, done: make(chan struct{})}
	if token != "" {
		s.token = []byte(token)
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "listener", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("admin listening", "listener", ln.Addr().String(), "token", token != "")
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, waits for requests in progress to finish and
// returns; if ctx ends first it closes the remaining connections and
// returns ctx's error (wrapped). Safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
		err = fmt.Errorf("admin shutdown: %w", err)
	}
	<-s.done
	return err
}

// Handler returns the server's http.Handler (token check included), for
// tests or for mounting on another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", s.metrics)
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/api/v1/clients", s.clients)
	mux.HandleFunc("/api/v1/clients/{id...}", s.client)
	mux.HandleFunc("/api/v1/subscriptions", s.subscriptions)
	mux.HandleFunc("/api/v1/retained", s.retained)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sol"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// authorized reports whether r carries the configured token (or none is
// configured).
func (s *Server) authorized(r *http.Request) bool {
	if s.token == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(scheme):])), s.token) == 1
}

// allow answers 405 with an Allow header unless r's method is one of
// methods (HEAD is allowed wherever GET is).
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	return false
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	w.Header().Set("Content-Type", metrics.ContentType)
	if err := metrics.WritePrometheus(w, s.b.Metrics()); err != nil {
		s.log.Debug("admin metrics write failed", "remote", r.RemoteAddr, "err", err)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) clients(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	servePage(s, w, r, "clients", s.b.Clients)
}

// servePage answers a paged list: it reads ?offset= and ?limit=, asks fetch
// within RequestTimeout, and writes {"total","offset","limit",key: [...]},
// with an empty list rather than null.
func servePage[T any](s *Server, w http.ResponseWriter, r *http.Request, key string,
	fetch func(ctx context.Context, offset, limit int) ([]T, int, error)) {
	offset, limit, ok := paging(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	list, total, err := fetch(ctx, offset, limit)
	if err != nil {
		s.brokerError(w, r, err)
		return
	}
	if list == nil {
		list = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "offset": offset, "limit": limit, key: list})
}

func (s *Server) client(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodDelete) {
		return
	}
	id := r.PathValue("id")
	if id == "" {
		writeError(w, http.StatusNotFound, "empty client identifier")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
	defer cancel()
	if r.Method == http.MethodDelete {
		if err := s.b.Disconnect(ctx, id); err != nil {
			s.brokerError(w, r, err)
			return
		}
		s.log.Info("admin disconnected client", "client", id, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "disconnected": true})
		return
	}
	c, err := s.b.Client(ctx, id)
	if err != nil {
		s.brokerError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	client := r.URL.Query().Get("client")
	servePage(s, w, r, "subscriptions", func(ctx context.Context, offset, limit int) ([]SubscriptionInfo, int, error) {
		return s.b.Subscriptions(ctx, client, offset, limit)
	})
}

func (s *Server) retained(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet, http.MethodDelete) {
		return
	}
	q := r.URL.Query()
	topic := q.Get("topic")
	if r.Method == http.MethodDelete {
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		defer cancel()
		if !q.Has("topic") {
			writeError(w, http.StatusBadRequest, "DELETE needs ?topic=")
			return
		}
		if err := checkTopic(topic, false); err != nil {
			writeError(w, http.StatusBadRequest, "topic: "+err.Error())
			return
		}
		if err := s.b.DeleteRetained(ctx, topic); err != nil {
			s.brokerError(w, r, err)
			return
		}
		s.log.Info("admin deleted retained message", "topic", topic, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "deleted": true})
		return
	}
	if !q.Has("topic") {
		topic = "#"
	}
	if err := checkTopic(topic, true); err != nil {
		writeError(w, http.StatusBadRequest, "topic filter: "+err.Error())
		return
	}
	servePage(s, w, r, "retained", func(ctx context.Context, offset, limit int) ([]RetainedInfo, int, error) {
		return s.b.Retained(ctx, topic, offset, limit)
	})
}

// paging reads ?offset= and ?limit=, answering 400 and returning ok false
// when either is not a number in range.
func paging(w http.ResponseWriter, r *http.Request) (offset, limit int, ok bool) {
	q := r.URL.Query()
	offset, limit = 0, DefaultLimit
	if v := q.Get("offset"); v != "" || q.Has("offset") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("offset %q: want an integer >= 0", v))
			return 0, 0, false
		}
		offset = n
	}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want an integer in 1..%d", v, MaxLimit))
			return 0, 0, false
		}
		limit = n
	}
	return offset, limit, true
}

// checkTopic checks a topic name (filter false) or filter (filter true) as
// MQTT does: 1..65535 bytes of well-formed UTF-8 without U+0000; wildcards
// only in a filter, "+" alone in its level, "#" alone in the last level.
func checkTopic(t string, filter bool) error {
	switch {
	case t == "":
		return errors.New("empty")
	case len(t) > maxTopicLength:
		return fmt.Errorf("%d bytes, longer than %d", len(t), maxTopicLength)
	case !utf8.ValidString(t):
		return errors.New("not valid UTF-8")
	case strings.IndexByte(t, 0) >= 0:
		return errors.New("contains U+0000")
	}
	if !filter {
		if strings.ContainsAny(t, "+#") {
			return errors.New("wildcards are not allowed in a topic name")
		}
		return nil
	}
	levels := strings.Split(t, "/")
	for n, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || n != len(levels)-1) {
			return errors.New(`"#" must be alone in the last level`)
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New(`"+" must be alone in its level`)
		}
	}
	return nil
}

// brokerError answers for a failed Broker call with the status its error
// asks for (see Broker).
func (s *Server) brokerError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		s.log.Warn("admin request failed", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	}
	writeError(w, status, err.Error())
}

// writeError writes {"error": msg, "status": status}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}{msg, status})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a failed write means the client went away
}
