package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riskwatch/riskwatch/api"
	"go.uber.org/zap"
)

// Server timeouts. WriteTimeout leaves room for a command that waits
// writeTimeout for the engine.
const (
	readHeaderTimeout  = 5 * time.Second
	readTimeout        = 15 * time.Second
	serverWriteTimeout = writeTimeout + 10*time.Second
	idleTimeout        = 2 * time.Minute
	shutdownGrace      = 5 * time.Second
)

// unauthenticated paths answer without the bearer token: probes of
// orchestrators do not carry secrets.
var unauthenticated = map[string]bool{"/healthz": true, "/readyz": true}

// NewHandler returns riskd's HTTP API over e. gatherer, when not nil, is
// served on /metrics. token, when not empty, is the bearer token required
// on every path except /healthz and /readyz. now stamps acks and snoozes.
func NewHandler(e Engine, gatherer prometheus.Gatherer, token string, now func() time.Time, log *zap.Logger) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	h := &handler{ops: newOps(e, now), log: log}
	mux := http.NewServeMux()
	// The mux matches segments of the escaped path, so an id with an
	// escaped slash (x%2Fy) is one {id}, and PathValue unescapes it.
	mux.HandleFunc("GET /v1/customers", h.list)
	mux.HandleFunc("GET /v1/outcomes", h.outcomes)
	mux.HandleFunc("GET /v1/customers/{id}", h.get)
	mux.HandleFunc("PUT /v1/customers/{id}", h.putProfile)
	mux.HandleFunc("POST /v1/customers/{id}/snooze", h.snooze)
	mux.HandleFunc("POST /v1/alerts/{id}/ack", h.ack)
	mux.HandleFunc("GET /v1/churn", h.churn)
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
			ErrorLog: zap.NewStdLog(log), ErrorHandling: promhttp.ContinueOnError}))
	}
	// Method-less patterns are less specific than the ones above, so they
	// only catch the wrong methods: answered in JSON like every error.
	for path, allow := range map[string]string{
		"/v1/customers":             "GET",
		"/v1/outcomes":              "GET",
		"/v1/customers/{id}":        "GET, PUT",
		"/v1/customers/{id}/snooze": "POST",
		"/v1/alerts/{id}/ack":       "POST",
		"/v1/churn":                 "GET",
		"/healthz":                  "GET",
		"/readyz":                   "GET",
		"/metrics":                  "GET",
	} {
		if path == "/metrics" && gatherer == nil {
			continue
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	var next http.Handler = mux
	if token != "" {
		next = requireToken(token, next)
	}
	return h.recoverAndLog(limitBody(crossOrigin(next)))
}

type handler struct {
	ops *ops
	log *zap.Logger
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.ops.customer(r.Context(), r.PathValue("id"))
	h.reply(w, r, v, err)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q, err := listQuery(r)
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	resp, err := h.ops.list(r.Context(), q)
	h.reply(w, r, resp, err)
}

func (h *handler) outcomes(w http.ResponseWriter, r *http.Request) {
	var q api.OutcomesRequest
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			h.reply(w, r, nil, api.Errorf(http.StatusBadRequest, "query parameter %q given %d times", k, len(vs)))
			return
		}
		switch v := vs[0]; k {
		case "owner":
			q.Owner = v
		case "segment":
			q.Segment = v
		case "since":
			q.Since = v
		case "until":
			q.Until = v
		default:
			h.reply(w, r, nil, api.Errorf(http.StatusBadRequest, "unknown query parameter %q (want owner, segment, since or until)", k))
			return
		}
	}
	resp, err := h.ops.outcomes(r.Context(), q)
	h.reply(w, r, resp, err)
}

// listQuery reads the list filter from query parameters. Unknown or
// repeated parameters are refused so that a typo ("teir=critical") does
// not quietly return every customer.
func listQuery(r *http.Request) (api.Filter, error) {
	var q api.Filter
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			return q, api.Errorf(http.StatusBadRequest, "query parameter %q given %d times", k, len(vs))
		}
		switch v := vs[0]; k {
		case "tier":
			q.Tier = v
		case "owner":
			q.Owner = v
		case "segment":
			q.Segment = v
		case "sort":
			q.Sort = v
		case "limit":
			n, err := parseLimit(v)
			if err != nil {
				return q, err
			}
			q.Limit = n
		case "after":
			q.After = v
		default:
			return q, api.Errorf(http.StatusBadRequest, "unknown query parameter %q (want tier, owner, segment, sort, limit or after)", k)
		}
	}
	return q, nil
}

func (h *handler) churn(w http.ResponseWriter, r *http.Request) {
	var req api.ChurnRequest
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			h.reply(w, r, nil, api.Errorf(http.StatusBadRequest, "query parameter %q given %d times", k, len(vs)))
			return
		}
		switch k {
		case "by":
			req.By = vs[0]
		case "from":
			req.From = vs[0]
		case "to":
			req.To = vs[0]
		default:
			h.reply(w, r, nil, api.Errorf(http.StatusBadRequest, "unknown query parameter %q (want by, from or to)", k))
			return
		}
	}
	resp, err := h.ops.churn(r.Context(), req)
	h.reply(w, r, resp, err)
}

func (h *handler) putProfile(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		h.reply(w, r, nil, err)
		return
	}
	p, err := h.ops.putProfile(r.Context(), r.PathValue("id"), body)
	h.reply(w, r, p, err)
}

func (h *handler) ack(w http.ResponseWriter, r *http.Request) {
	var req api.AckRequest
	if err := readJSON(r, &req); err != nil {
		h.reply(w, r, nil, err)
		return
	}
	if req.AlertID != "" {
		writeError(w, http.StatusBadRequest, "alert_id belongs in the path, not the body")
		return
	}
	req.AlertID = r.PathValue("id")
	v, err := h.ops.ack(r.Context(), req)
	h.reply(w, r, v, err)
}

func (h *handler) snooze(w http.ResponseWriter, r *http.Request) {
	var req api.SnoozeRequest
	if err := readJSON(r, &req); err != nil {
		h.reply(w, r, nil, err)
		return
	}
	if req.ID != "" {
		writeError(w, http.StatusBadRequest, "id belongs in the path, not the body")
		return
	}
	req.ID = r.PathValue("id")
	v, err := h.ops.snooze(r.Context(), req)
	h.reply(w, r, v, err)
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.e.Healthy(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unhealthy: "+err.Error())
		return
	}
	writeText(w, http.StatusOK, "ok\n")
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := h.ops.e.Ready(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	writeText(w, http.StatusOK, "ok\n")
}

// reply writes v as JSON, or err as a JSON error with its status. Server
// faults are logged: the client only sees the message.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		status := api.StatusOf(err)
		if status >= 500 {
			h.log.Warn("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", status), zap.Error(err))
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, api.Errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", tooLarge.Limit)
		}
		return nil, api.Errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return body, nil
}

func readJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(api.ErrorBody{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: msg})
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}

// requireToken checks "Authorization: Bearer <token>". Comparing digests
// in constant time hides both the token and its length from timing.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unauthenticated[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="riskwatch"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="riskwatch", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// recoverAndLog turns a panic into a JSON 500 instead of a dropped
// connection, and logs each request at debug level.
func (h *handler) recoverAndLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("panic in HTTP handler", zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.Any("panic", p), zap.Stack("stack"))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			h.log.Debug("request", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", sw.status), zap.Duration("took", time.Since(start)))
		}()
		next.ServeHTTP(sw, r)
	})
}

// NewServer wraps h in an http.Server with every timeout set, so a slow
// or idle client cannot hold a connection forever.
func NewServer(addr string, h http.Handler, log *zap.Logger) *http.Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}
}

// Serve listens on addr and serves h until ctx is done, then shuts down
// gracefully within 5 s. A listen error (a busy port, a bad address) is
// returned at once so that riskd fails fast. With certFile and keyFile it
// serves HTTPS. A clean shutdown returns nil.
func Serve(ctx context.Context, addr string, h http.Handler, certFile, keyFile string, log *zap.Logger) error {
	if (certFile == "") != (keyFile == "") {
		return fmt.Errorf("http TLS needs both a certificate and a key file (got cert %q, key %q)", certFile, keyFile)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if isLoopbackListen(addr) {
		h = loopbackHosts(h)
	}
	return serve(ctx, ln, h, certFile, keyFile, log)
}

// serve is Serve on an open listener; it closes ln.
func serve(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	srv := NewServer(ln.Addr().String(), h, log)
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("HTTP API listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", certFile != ""))
	select {
	case err := <-errc:
		// Serve failed before any shutdown, e.g. an unreadable key.
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down HTTP on %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	}
	return nil
}
