package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
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
	// fetchWait bounds one pull request, so a stopped consumer is noticed.
	fetchWait = 30 * time.Second
	// pause is the wait after a failed pull before the next one.
	pause = time.Second
)

// NewSinkLookback is how far back in the stream a sink seen for the first
// time starts. It covers the alerts published while riskd was starting,
// without flooding a newly added webhook with the stream's whole history.
var NewSinkLookback = 5 * time.Minute

// ConsumerName is the durable consumer of a sink on the alerts stream.
func ConsumerName(sink string) string { return "webhook-" + signals.SubjectToken(sink) }

// Run delivers alerts from the RISK_ALERTS stream to sinks until ctx
// ends, then returns nil. Each sink reads through its own durable
// consumer (ConsumerName, filter risk.alerts.>), one alert at a time, and
// acknowledges an alert only once it was delivered or refused for good;
// an alert whose attempts all failed goes back to the stream for a later
// round, and one in flight at shutdown is delivered after the restart.
// report, if not nil, receives one of the Result* values per event.
// Run waits for the stream if it does not exist yet.
func Run(ctx context.Context, js jetstream.JetStream, sinks []Sink, log *zap.Logger, report func(sink, result string)) error {
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
	workers := make([]*worker, 0, len(sinks))
	for _, s := range sinks {
		w := &worker{sink: s.withDefaults(), js: js, d: d, log: log.With(zap.String("sink", s.Name))}
		if err := w.setup(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		workers = append(workers, w)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return nil
}

type worker struct {
	sink Sink
	js   jetstream.JetStream
	cons jetstream.Consumer
	d    *Deliverer
	log  *zap.Logger

	lastErr    string
	lastLogged time.Time
}

// setup creates or updates the sink's consumer, waiting for the stream.
// An existing consumer keeps its starting point: the server refuses to
// change it, and it no longer matters once the consumer has acked.
func (w *worker) setup(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(w.sink.Name),
		Description:   "riskwatch webhook " + w.sink.Name,
		FilterSubject: alerting.SubjectPrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxAckPending: MaxAckPending,
		MaxDeliver:    -1,
	}
	waiting := false
	for {
		cons, err := w.js.Consumer(ctx, alerting.Stream, cfg.Durable)
		switch {
		case err == nil:
			old := cons.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
			cons, err = w.js.UpdateConsumer(ctx, alerting.Stream, cfg)
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			start := time.Now().Add(-NewSinkLookback)
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
			cons, err = w.js.CreateConsumer(ctx, alerting.Stream, cfg)
		}
		if err == nil {
			w.cons = cons
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("webhook %s: consumer %s on %s: %w", w.sink.Name, cfg.Durable, alerting.Stream, err)
		}
		if !waiting {
			w.log.Info("waiting for the alerts stream", zap.String("stream", alerting.Stream))
			waiting = true
		}
		if !sleep(ctx, pause) {
			return ctx.Err()
		}
	}
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		msg, err := w.cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			w.fetchFailed(ctx, err)
			continue
		}
		w.handle(ctx, msg)
	}
}

func (w *worker) fetchFailed(ctx context.Context, err error) {
	switch {
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return // stopping, or no alert for a while
	case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
		w.log.Warn("webhook consumer is gone; recreating it", zap.Error(err))
		if !sleep(ctx, pause) {
			return
		}
		if err := w.setup(ctx); err != nil && ctx.Err() == nil {
			w.logLimited("webhook consumer cannot be recreated", err)
		}
		return
	}
	w.logLimited("webhook cannot read the alerts stream", err)
	sleep(ctx, pause)
}

// logLimited logs an error once, then again only when it changes or a
// minute has passed, so an outage of NATS does not flood the log.
func (w *worker) logLimited(msg string, err error) {
	if err.Error() == w.lastErr && time.Since(w.lastLogged) < time.Minute {
		return
	}
	w.lastErr, w.lastLogged = err.Error(), time.Now()
	w.log.Warn(msg, zap.Error(err))
}

func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	var a alerting.Alert
	if err := json.Unmarshal(msg.Data(), &a); err != nil || a.ID == "" {
		w.d.report(w.sink.Name, ResultInvalid)
		w.log.Warn("not an alert on the alerts stream; dropped", zap.String("subject", msg.Subject()), zap.Error(err))
		_ = msg.Term()
		return
	}
	if !w.sink.Match.Matches(&a) {
		w.d.report(w.sink.Name, ResultSkipped)
		w.ack(ctx, msg, a.ID)
		return
	}
	stop := keepAlive(msg, AckWait/3)
	err := w.d.Deliver(ctx, w.sink, &a, msg.Data())
	stop()
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

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
