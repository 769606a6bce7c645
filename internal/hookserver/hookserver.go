// Package hookserver serves riskd's inbound webhooks, POST /hooks/<name>:
// it verifies each request's signature, maps it to a signal with package
// hooks, publishes the signal to RISK_SIGNALS with its id as Nats-Msg-Id
// (a retried delivery is dropped by the stream), and answers 2xx only
// once JetStream acknowledged the signal, or the DLQ entry of a payload
// that cannot be mapped. Hooks authenticate with their signatures, not
// the API's bearer token.
package hookserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/signals"
)

// Prefix is the path under which hooks are served.
const Prefix = "/hooks/"

// DLQSubject is where payloads that cannot be mapped go, with the reason
// in Riskwatch-Error and the path in Riskwatch-Subject.
const DLQSubject = api.DLQPrefix + "hook"

// HookHeader on a DLQ entry names the hook it came from.
const HookHeader = "Riskwatch-Hook"

// publishTimeout bounds the wait for JetStream's acknowledgement; the
// sender retries on the 503 that follows.
const publishTimeout = 10 * time.Second

// Outcomes counted in riskwatch_hook_requests_total{source,outcome}.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeIgnored      = "ignored"
	OutcomeDLQ          = "dlq"
	OutcomeBadSignature = "bad_signature"
	OutcomeStale        = "stale"
	OutcomeTooLarge     = "too_large"
	OutcomeRateLimited  = "rate_limited"
	OutcomeUnavailable  = "unavailable"
	OutcomeBadRequest   = "bad_request"
)

// Publisher is what the server needs of JetStream.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Options of a Server. Publisher is required.
type Options struct {
	Publisher Publisher
	// MaxPayload is the NATS server's limit, which a DLQ entry with its
	// headers must fit; nil for none.
	MaxPayload func() int64
	Registerer prometheus.Registerer
	Log        *zap.Logger
	// Now is the clock for signatures and event times; time.Now when nil.
	Now func() time.Time
}

// Server is the /hooks/ handler.
type Server struct {
	opts     Options
	sources  map[string]*source
	requests *prometheus.CounterVec
	limited  *logging.Limited
}

type source struct {
	cfg    config.HookSource
	src    hooks.Source
	secret []byte
	lim    *rate.Limiter
}

// New builds the handler of the configured sources.
func New(cfgs []config.HookSource, o Options) (*Server, error) {
	if o.Publisher == nil {
		return nil, errors.New("hookserver: a publisher is required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, sources: map[string]*source{}, limited: logging.NewLimited(o.Log, time.Minute),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_hook_requests_total",
			Help: "Inbound webhook requests by source and outcome."}, []string{"source", "outcome"})}
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.requests); err != nil {
			return nil, fmt.Errorf("hookserver: metrics: %w", err)
		}
	}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		c = c.WithDefaults()
		src, err := hooks.New(c.Options())
		if err != nil {
			return nil, fmt.Errorf("hook %q: %w", c.Name, err)
		}
		if _, dup := s.sources[c.Name]; dup {
			return nil, fmt.Errorf("hook %q: the name is used twice", c.Name)
		}
		s.sources[c.Name] = &source{cfg: c, src: src, secret: []byte(c.Secret), lim: rate.NewLimiter(rate.Limit(c.Rate), c.Burst)}
	}
	return s, nil
}

// Mount serves s under Prefix and everything else with next. Hook
// requests skip next's bearer token and body limit: they carry their
// own signatures and limits.
func Mount(next http.Handler, s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			s.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Reply is the JSON answer to a hook request.
type Reply struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) count(name, outcome string) { s.requests.WithLabelValues(name, outcome).Inc() }

// ServeHTTP handles POST /hooks/<name>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.opts.Log.Error("panic in a hook handler", zap.String("path", r.URL.Path), zap.Any("panic", p), zap.Stack("stack"))
			reply(w, http.StatusInternalServerError, Reply{Error: "internal error"})
		}
	}()
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	src, ok := s.sources[name]
	if !ok {
		s.count("unknown", OutcomeBadRequest)
		reply(w, http.StatusNotFound, Reply{Error: "no such hook"})
		return
	}
	if r.Method != http.MethodPost {
		s.count(name, OutcomeBadRequest)
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, Reply{Error: "hooks take POST"})
		return
	}
	if !src.lim.Allow() {
		s.count(name, OutcomeRateLimited)
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusTooManyRequests, Reply{Error: "rate limit exceeded; retry later"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(src.cfg.MaxBody)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.count(name, OutcomeTooLarge)
			reply(w, http.StatusRequestEntityTooLarge, Reply{Error: fmt.Sprintf("body exceeds %d bytes", src.cfg.MaxBody)})
			return
		}
		s.count(name, OutcomeBadRequest)
		reply(w, http.StatusBadRequest, Reply{Error: "could not read the body"})
		return
	}
	now := s.opts.Now()
	req := hooks.Request{Header: r.Header, Body: body}
	if err := src.src.Verify(req, src.secret, now); err != nil {
		outcome := OutcomeBadSignature
		if errors.Is(err, hooks.ErrStale) {
			outcome = OutcomeStale
		}
		s.count(name, outcome)
		// The reason is for the operator; the sender learns only that it
		// failed.
		s.limited.Warn("hook-auth:"+name, "hook request refused", zap.String("hook", name), zap.String("outcome", outcome), zap.Error(err))
		reply(w, http.StatusUnauthorized, Reply{Error: "signature verification failed"})
		return
	}
	sig, err := src.src.Map(req, now)
	switch {
	case errors.Is(err, hooks.ErrIgnored):
		s.count(name, OutcomeIgnored)
		s.opts.Log.Debug("hook event ignored", zap.String("hook", name), zap.Error(err))
		reply(w, http.StatusOK, Reply{Status: OutcomeIgnored})
		return
	case err != nil:
		s.dlq(r.Context(), w, name, body, err)
		return
	}
	s.publish(r.Context(), w, name, sig)
}

func (s *Server) publish(ctx context.Context, w http.ResponseWriter, name string, sig signals.Signal) {
	body, err := hooks.Encode(sig)
	if err != nil {
		s.dlq(ctx, w, name, nil, err)
		return
	}
	msg := nats.NewMsg(signals.Subject(sig.Kind, sig.Customer))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, sig.ID)
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := s.opts.Publisher.PublishMsg(ctx, msg)
	if err != nil {
		s.count(name, OutcomeUnavailable)
		s.limited.Warn("hook-publish:"+name, "hook signal not stored; the sender will retry", zap.String("hook", name), zap.Error(err))
		reply(w, http.StatusServiceUnavailable, Reply{Error: "signal not stored; retry later"})
		return
	}
	outcome := OutcomeAccepted
	if ack.Duplicate {
		outcome = OutcomeDuplicate
	}
	s.count(name, outcome)
	s.opts.Log.Debug("hook signal stored", zap.String("hook", name), zap.String("id", sig.ID), zap.Uint64("seq", ack.Sequence))
	reply(w, http.StatusOK, Reply{Status: outcome, ID: sig.ID})
}

// dlq files a payload that cannot be mapped, with the reason. Its message
// id is the hash of the hook and body, so a retried delivery is filed
// once.
func (s *Server) dlq(ctx context.Context, w http.ResponseWriter, name string, body []byte, cause error) {
	sum := sha256.Sum256(append([]byte(name+"\x00"), body...))
	msg := nats.NewMsg(DLQSubject)
	msg.Data = body
	msg.Header.Set(api.ErrorHeader, cause.Error())
	msg.Header.Set(api.SubjectHeader, Prefix+name)
	msg.Header.Set(HookHeader, name)
	msg.Header.Set(jetstream.MsgIDHeader, "hook-"+hex.EncodeToString(sum[:16]))
	if s.opts.MaxPayload != nil {
		if limit := s.opts.MaxPayload(); limit > 0 && int64(wireSize(msg)) > limit {
			msg.Header.Set(api.TruncatedHeader, strconv.Itoa(len(body)))
			msg.Data = body[:max(int(limit)-(wireSize(msg)-len(body)), 0)]
		}
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if _, err := s.opts.Publisher.PublishMsg(ctx, msg); err != nil {
		s.count(name, OutcomeUnavailable)
		s.limited.Warn("hook-publish:"+name, "hook DLQ entry not stored; the sender will retry", zap.String("hook", name), zap.Error(err))
		reply(w, http.StatusServiceUnavailable, Reply{Error: "not stored; retry later"})
		return
	}
	s.count(name, OutcomeDLQ)
	reason := string(signals.ReasonOf(cause))
	s.limited.Warn("hook-dlq:"+name+":"+reason, "hook payload not mapped; filed in the DLQ",
		zap.String("hook", name), zap.String("reason", reason), zap.String("error", cause.Error()))
	// 200, not 4xx: the payload is stored and a retry would not change it.
	reply(w, http.StatusOK, Reply{Status: OutcomeDLQ, Error: cause.Error()})
}

// wireSize is what msg weighs against the max payload.
func wireSize(msg *nats.Msg) int {
	n := len(msg.Data)
	if len(msg.Header) > 0 {
		n += len("NATS/1.0\r\n\r\n")
		for k, vs := range msg.Header {
			for _, v := range vs {
				n += len(k) + len(": ") + len(v) + len("\r\n")
			}
		}
	}
	return n
}

func reply(w http.ResponseWriter, status int, v Reply) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
