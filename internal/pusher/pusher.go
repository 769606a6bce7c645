// Package pusher writes customers' scores into customer-success
// platforms (package push builds the requests). Every interval it reads
// the scores through the API's engine seam, picks the customers whose
// score changed meaningfully since they were last pushed, sends them
// within the vendor's rate limit with retries and backoff, and records
// what was pushed in the KV bucket risk_push, so a restart does not push
// everything again.
package pusher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/internal/webhook"
	"github.com/riskwatch/riskwatch/push"
	"github.com/riskwatch/riskwatch/signals"
)

// Bucket keeps the last record pushed per destination and customer (key
// "<destination>.<customer-token>", JSON of push.Record).
const Bucket = "risk_push"

// Scores is what the pusher reads of the engine: the seam of the HTTP
// API (apiserver.Engine), whatever implements it.
type Scores interface {
	List(ctx context.Context, f api.Filter) ([]api.CustomerView, error)
	Customer(ctx context.Context, id string) (api.CustomerView, bool, error)
}

// Options of Run; all optional.
type Options struct {
	Interval   time.Duration
	Thresholds push.Thresholds
	Client     *http.Client
	Log        *zap.Logger
	Registerer prometheus.Registerer
	// Backoff is the wait after a failed attempt, doubled per attempt up
	// to MaxBackoff (defaults 1s and 1m).
	Backoff, MaxBackoff time.Duration
	// RefusedWait is how long a customer the platform refused (a 4xx
	// other than 408 and 429) is left alone before it is tried again,
	// unless its record changes meanwhile (default 1h): a company missing
	// in the platform is not asked for every round.
	RefusedWait time.Duration
}

// Results counted in riskwatch_push_requests_total{destination,result}.
const (
	ResultOK       = "ok"
	ResultRetry    = "retry"
	ResultRejected = "rejected"
	ResultFailed   = "failed"
)

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = config.DefaultPushInterval
	}
	if o.Thresholds == (push.Thresholds{}) {
		o.Thresholds = push.DefaultThresholds
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.RefusedWait == 0 {
		o.RefusedWait = time.Hour
	}
	return o
}

type metrics struct {
	requests  *prometheus.CounterVec
	customers *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_push_requests_total",
			Help: "Requests to customer-success platforms, by destination and result."}, []string{"destination", "result"}),
		customers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_push_customers_total",
			Help: "Customers whose score was pushed, by destination."}, []string{"destination"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.customers} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("pusher: metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Run pushes to every destination until ctx ends, then returns nil.
func Run(ctx context.Context, scores Scores, js jetstream.JetStream, dests []config.PushDestination, o Options) error {
	o = o.withDefaults()
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return err
	}
	kv, err := openBucket(ctx, js, o.Log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, d := range dests {
		w, err := newWorker(d, scores, kv, o, m)
		if err != nil {
			return err
		}
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return nil
}

// openBucket creates the bucket, retrying while JetStream is not there.
func openBucket(ctx context.Context, js jetstream.JetStream, log *zap.Logger) (jetstream.KeyValue, error) {
	for {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket,
			Description: "Riskwatch: what was last pushed to each customer-success platform", Storage: jetstream.FileStorage})
		if err == nil {
			return kv, nil
		}
		log.Warn("push state bucket not available; retrying", zap.String("bucket", Bucket), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

type worker struct {
	name    string
	dest    push.Destination
	cfg     config.PushDestination
	scores  Scores
	kv      jetstream.KeyValue
	o       Options
	m       metrics
	lim     *rate.Limiter
	log     *zap.Logger
	limited *logging.Limited
	// last is what was pushed, per customer; refused what the platform
	// refused, and until when it is left alone. Only the worker's
	// goroutine touches them.
	last    map[string]push.Record
	refused map[string]refusal
}

type refusal struct {
	rec   push.Record
	until time.Time
}

func newWorker(d config.PushDestination, scores Scores, kv jetstream.KeyValue, o Options, m metrics) (*worker, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	dest := d.Destination().WithDefaults()
	v := push.Vendors[dest.Type]
	r, burst := v.Rate, v.Burst
	if d.Rate > 0 {
		r = d.Rate
	}
	if d.Burst > 0 {
		burst = d.Burst
	}
	if d.Timeout <= 0 {
		d.Timeout = config.DefaultTimeout
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = config.DefaultMaxAttempts
	}
	log := o.Log.With(zap.String("destination", d.Name))
	return &worker{name: d.Name, dest: dest, cfg: d, scores: scores, kv: kv, o: o, m: m,
		lim: rate.NewLimiter(rate.Limit(r), max(burst, 1)), log: log, limited: logging.NewLimited(log, time.Minute),
		last: map[string]push.Record{}, refused: map[string]refusal{}}, nil
}

func (w *worker) run(ctx context.Context) {
	for w.load(ctx) != nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		n, err := w.round(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.limited.Warn("round", "push round incomplete; the rest follows next round", zap.Int("pushed", n), zap.Error(err))
		case n > 0:
			w.log.Info("scores pushed", zap.Int("customers", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keyPrefix is the destination's part of the bucket.
func (w *worker) keyPrefix() string { return w.name + "." }

// load reads what was pushed before the restart.
func (w *worker) load(ctx context.Context) error {
	watch, err := w.kv.Watch(ctx, w.keyPrefix()+">", jetstream.IgnoreDeletes())
	if err != nil {
		w.limited.Warn("load", "reading the push state failed; retrying", zap.Error(err))
		return fmt.Errorf("watch %s: %w", Bucket, err)
	}
	defer func() { _ = watch.Stop() }()
	for e := range watch.Updates() {
		if e == nil {
			return nil // the initial values are all in
		}
		var r push.Record
		if err := json.Unmarshal(e.Value(), &r); err != nil || r.Customer == "" {
			w.limited.Warn("load-bad", "push state entry unreadable; the customer is pushed again", zap.String("key", e.Key()))
			continue
		}
		w.last[r.Customer] = r
	}
	return ctx.Err()
}

// round pushes the customers that changed; it returns how many were
// pushed.
func (w *worker) round(ctx context.Context) (int, error) {
	views, err := w.scores.List(ctx, api.Filter{Limit: api.MaxLimit})
	if err != nil {
		// A partition between owners: this round waits for the next.
		return 0, fmt.Errorf("read the scores: %w", err)
	}
	var changed []push.Record
	for _, v := range views {
		r := push.FromView(v)
		last, ok := w.last[r.Customer]
		lp := &last
		if !ok {
			lp = nil
		}
		if !push.Changed(lp, r, w.o.Thresholds) {
			continue
		}
		if f, ok := w.refused[r.Customer]; ok && time.Now().Before(f.until) && !push.Changed(&f.rec, r, w.o.Thresholds) {
			continue
		}
		// The list carries no reasons: the explained view does.
		if full, ok, err := w.scores.Customer(ctx, r.Customer); err == nil && ok {
			r = push.FromView(full)
		}
		changed = append(changed, r)
	}
	if len(changed) == 0 {
		return 0, nil
	}
	reqs, err := w.dest.Build(changed)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]push.Record, len(changed))
	pending := map[string]int{}
	for _, r := range changed {
		byID[r.Customer] = r
	}
	for _, q := range reqs {
		for _, c := range q.Customers {
			pending[c]++
		}
	}
	failed := map[string]bool{}
	pushed := 0
	var firstErr error
	for _, q := range reqs {
		err := w.send(ctx, q)
		if ctx.Err() != nil {
			return pushed, ctx.Err()
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		var perm permanent
		refusedNow := errors.As(err, &perm)
		for _, c := range q.Customers {
			if err != nil {
				failed[c] = true
			}
			if refusedNow {
				w.refused[c] = refusal{rec: byID[c], until: time.Now().Add(w.o.RefusedWait)}
			}
			pending[c]--
			if pending[c] == 0 && !failed[c] {
				delete(w.refused, c)
				w.remember(ctx, byID[c])
				pushed++
			}
		}
	}
	w.m.customers.WithLabelValues(w.name).Add(float64(pushed))
	return pushed, firstErr
}

// remember records r as pushed, in memory and in the bucket.
func (w *worker) remember(ctx context.Context, r push.Record) {
	w.last[r.Customer] = r
	b, err := json.Marshal(r)
	if err == nil {
		_, err = w.kv.Put(ctx, w.keyPrefix()+signals.SubjectToken(r.Customer), b)
	}
	if err != nil {
		// Pushed but not recorded: a restart pushes it again, which the
		// vendor's API takes as the same update.
		w.limited.Warn("remember", "push state not stored", zap.String("customer", r.Customer), zap.Error(err))
	}
}

// send makes a request, retrying with backoff within the rate limit.
func (w *worker) send(ctx context.Context, q push.Request) error {
	var last error
	for attempt := 1; attempt <= w.cfg.MaxAttempts; attempt++ {
		if err := w.lim.Wait(ctx); err != nil {
			return err
		}
		wait, err := w.attempt(ctx, q)
		if err == nil {
			w.m.requests.WithLabelValues(w.name, ResultOK).Inc()
			return nil
		}
		last = err
		var perm permanent
		if errors.As(err, &perm) {
			w.m.requests.WithLabelValues(w.name, ResultRejected).Inc()
			w.limited.Warn("rejected", "the platform refused the update; retried next round", zap.Error(err))
			return err
		}
		if attempt == w.cfg.MaxAttempts {
			break
		}
		w.m.requests.WithLabelValues(w.name, ResultRetry).Inc()
		wait = max(wait, webhook.Backoff(w.o.Backoff, w.o.MaxBackoff, attempt))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	w.m.requests.WithLabelValues(w.name, ResultFailed).Inc()
	return fmt.Errorf("push %s: %d attempts failed, last: %w", w.name, w.cfg.MaxAttempts, last)
}

// permanent is a refusal that another attempt would not change.
type permanent struct{ error }

func (w *worker) attempt(ctx context.Context, q push.Request) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, q.Method, q.URL, bytes.NewReader(q.Body))
	if err != nil {
		return 0, permanent{fmt.Errorf("build request: %w", webhook.Redact(err))}
	}
	req.Header = q.Header.Clone()
	req.Header.Set("User-Agent", "riskwatch-push")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return 0, webhook.Redact(err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case push.Retryable(code):
		return min(push.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), w.o.MaxBackoff),
			fmt.Errorf("%s %s: HTTP %d: %s", q.Method, pathOf(q.URL), code, webhook.Snippet(resp.Body))
	default:
		return 0, permanent{fmt.Errorf("%s %s: HTTP %d: %s", q.Method, pathOf(q.URL), code, webhook.Snippet(resp.Body))}
	}
}

// pathOf is a URL without its query, which may carry a key.
func pathOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(url)"
	}
	return p.Host + p.Path
}
