package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/signals"
)

const (
	// MaxAckPending bounds the alerts a sink holds unacknowledged,
	// including those waiting for a later round after failed attempts, so
	// a webhook that hangs or fails cannot grow riskd's memory: the server
	// keeps the rest in the stream.
	MaxAckPending = 64
	// AckWait is how long the server waits for an ack before it delivers
	// an alert again; a delivery in progress keeps pushing it back.
	AckWait = 30 * time.Second
	// fetchWait bounds one pull request: a stopped consumer is noticed,
	// and a shutdown waits at most this long.
	fetchWait = 2 * time.Second
	// pause is the wait after a failed pull before the next one.
	pause = time.Second
)

// NewSinkLookback is how far back in the stream a sink seen for the first
// time starts. It covers the alerts published while riskd was starting,
// without flooding a newly added webhook with the stream's whole history.
var NewSinkLookback = 5 * time.Minute

// ConsumerName is the durable consumer of a sink on the alerts stream.
func ConsumerName(sink string) string { return "webhook-" + signals.SubjectToken(sink) }

// Metrics counts deliveries as riskwatch_webhook_deliveries_total{sink,
// result}, one per Result* event.
func Metrics(reg prometheus.Registerer) func(sink, result string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_webhook_deliveries_total",
		Help: "Webhook deliveries by sink and result."}, []string{"sink", "result"})
	reg.MustRegister(c)
	return func(sink, result string) { c.WithLabelValues(sink, result).Inc() }
}

// Run delivers alerts from the RISK_ALERTS stream to sinks until ctx
// ends, then returns nil. Each sink reads through its own durable
// consumer (ConsumerName, filter risk.alerts.>), one alert at a time, and
// acknowledges an alert only once it was delivered or refused for good;
// an alert whose attempts all failed goes back to the stream for a later
// round, and one in flight at shutdown is delivered after the restart.
// report, if not nil, receives one of the Result* values per event.
// Run waits for the stream if it does not exist yet.
func Run(ctx context.Context, js jetstream.JetStream, sinks []config.Webhook, log *zap.Logger, report func(sink, result string)) error {
	if log == nil {
		log = zap.NewNop()
	}
	seen := map[string]bool{}
	for _, s := range sinks {
		if err := s.Validate(); err != nil {
			return err
		}
		if seen[ConsumerName(s.Name)] {
			return fmt.Errorf("webhook %q: the name is used twice", s.Name)
		}
		seen[ConsumerName(s.Name)] = true
	}
	client := &http.Client{
		// A webhook answering with a redirect is misconfigured; following
		// it would turn the POST into a GET somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d := &Deliverer{Client: client, Log: log, Report: report}
	limited := logging.NewLimited(log, time.Minute)
	var wg sync.WaitGroup
	for _, s := range sinks {
		w := &worker{sink: withDefaults(s), js: js, d: d, log: log.With(zap.String("sink", s.Name))}
		p := ingest.Puller{Name: "webhook " + s.Name, Open: w.open, MaxWait: fetchWait, Pause: pause, Log: limited}
		wg.Go(func() {
			_ = p.Run(ctx, func(b jetstream.MessageBatch) error {
				for msg := range b.Messages() {
					w.handleSafely(ctx, msg)
				}
				return nil
			})
		})
	}
	wg.Wait()
	return nil
}

type worker struct {
	sink    config.Webhook
	js      jetstream.JetStream
	d       *Deliverer
	log     *zap.Logger
	waiting bool // logged that the stream is missing
}

// open creates or updates the sink's consumer. An existing consumer keeps
// its starting point: the server refuses to change it, and it no longer
// matters once the consumer has acked.
func (w *worker) open(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(w.sink.Name),
		Description:   "riskwatch webhook " + w.sink.Name,
		FilterSubject: alerting.SubjectPrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxAckPending: MaxAckPending,
		MaxDeliver:    -1,
	}
	if w.sink.Digests {
		cfg.FilterSubject, cfg.FilterSubjects = "", []string{alerting.SubjectPrefix + ">", alerting.DigestPrefix + ">"}
	}
	cons, err := w.js.Consumer(ctx, api.AlertsStream, cfg.Durable)
	switch {
	case err == nil:
		old := cons.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
		cons, err = w.js.UpdateConsumer(ctx, api.AlertsStream, cfg)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		start := time.Now().Add(-NewSinkLookback)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		cons, err = w.js.CreateConsumer(ctx, api.AlertsStream, cfg)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) && !w.waiting {
		w.log.Info("waiting for the alerts stream", zap.String("stream", api.AlertsStream))
		w.waiting = true
	}
	if err != nil {
		return nil, fmt.Errorf("webhook %s: consumer %s on %s: %w", w.sink.Name, cfg.Durable, api.AlertsStream, err)
	}
	return cons, nil
}

// handleSafely is handle, with a panic logged and the alert put back for
// a later round instead of taking riskd down.
func (w *worker) handleSafely(ctx context.Context, msg jetstream.Msg) {
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("panic in webhook delivery; the alert will be sent again later",
				zap.String("subject", msg.Subject()), zap.Any("panic", p), zap.Stack("stack"))
			_ = msg.NakWithDelay(w.sink.MaxBackoff)
		}
	}()
	w.handle(ctx, msg)
}

func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	if strings.HasPrefix(msg.Subject(), alerting.DigestPrefix) {
		w.handleDigest(ctx, msg)
		return
	}
	var a alerting.Alert
	if err := json.Unmarshal(msg.Data(), &a); err != nil || a.ID == "" {
		w.d.report(w.sink.Name, ResultInvalid)
		w.log.Warn("not an alert on the alerts stream; dropped", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	if !matches(w.sink.Match, &a) {
		w.d.report(w.sink.Name, ResultSkipped)
		w.ack(ctx, msg, a.ID)
		return
	}
	err := func() error {
		stop := keepAlive(msg, AckWait/3)
		defer stop() // a panic too
		return w.d.Deliver(ctx, w.sink, &a, msg.Data())
	}()
	switch {
	case err == nil, errors.Is(err, ErrRejected):
		w.ack(ctx, msg, a.ID)
	case ctx.Err() != nil:
		// Back to the stream, to be delivered after the restart.
		_ = msg.Nak()
	default:
		w.d.report(w.sink.Name, ResultDeferred)
		w.log.Warn("webhook delivery failed; the alert will be sent again later",
			zap.String("alert", a.ID), zap.Duration("in", w.sink.MaxBackoff), zap.Error(err))
		_ = msg.NakWithDelay(w.sink.MaxBackoff)
	}
}

// handleDigest delivers a digest as handle delivers an alert. Of the
// sink's match only the owners apply: a digest has no severity or segment.
func (w *worker) handleDigest(ctx context.Context, msg jetstream.Msg) {
	var d alerting.Digest
	if err := json.Unmarshal(msg.Data(), &d); err != nil || d.Date == "" {
		w.d.report(w.sink.Name, ResultInvalid)
		w.log.Warn("not a digest on the digest subject; dropped", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	id := alerting.DigestID(d)
	if !matchesOwner(w.sink.Match, d.Owner) {
		w.d.report(w.sink.Name, ResultSkipped)
		w.ack(ctx, msg, id)
		return
	}
	stop := keepAlive(msg, AckWait/3)
	err := w.d.DeliverDigest(ctx, w.sink, &d, msg.Data())
	stop()
	switch {
	case err == nil, errors.Is(err, ErrRejected):
		w.ack(ctx, msg, id)
	case ctx.Err() != nil:
		_ = msg.Nak()
	default:
		w.d.report(w.sink.Name, ResultDeferred)
		w.log.Warn("webhook delivery of a digest failed; it will be sent again later",
			zap.String("digest", id), zap.Duration("in", w.sink.MaxBackoff), zap.Error(err))
		_ = msg.NakWithDelay(w.sink.MaxBackoff)
	}
}

// ack confirms with the server, even while stopping: a lost ack means the
// alert is delivered twice, which Idempotency-Key absorbs, but better not.
func (w *worker) ack(ctx context.Context, msg jetstream.Msg, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		w.log.Warn("ack of a delivered alert failed; it may be delivered again", zap.String("alert", id), zap.Error(err))
	}
}

// keepAlive tells the server every so often that msg is still being
// worked on, so that retries with backoff do not outlast AckWait and
// cause a second, concurrent delivery.
func keepAlive(msg jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
