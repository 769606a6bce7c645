// Package outbox publishes what riskd's steps decide: alerts and digests,
// rejected input to the DLQ, and applied profiles to their bucket. Each
// message carries a deterministic Nats-Msg-Id and goes out at once,
// asynchronously; Confirm waits for every acknowledgement and re-sends
// what failed, and the engine confirms before it commits a checkpoint.
// So a crash before the commit replays the messages' causes, and
// JetStream drops the duplicates of what had already been sent.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/logging"
	"github.com/riskwatch/riskwatch/signals"
)

// Outbox publishes on one JetStream context. Its methods are safe for
// concurrent use.
type Outbox struct {
	js         jetstream.JetStream
	maxPayload func() int64
	log        *zap.Logger
	limited    *logging.Limited
	metrics    metrics
	// DigestPart is added to digests' message ids: with the input split
	// in partitions, each partition sends its part of an owner's digest,
	// and the duplicate window must not take the parts for one digest.
	DigestPart string

	mu      sync.Mutex
	pending []jetstream.PubAckFuture
	retry   []*nats.Msg
}

type metrics struct {
	alerts  *prometheus.CounterVec
	dlq     *prometheus.CounterVec
	dropped *prometheus.CounterVec
}

// New publishes through js; maxPayload is the server's limit (it may
// change with a reconnect). Its metrics are registered with reg.
func New(js jetstream.JetStream, maxPayload func() int64, reg prometheus.Registerer, log *zap.Logger) *Outbox {
	m := metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_alerts_total",
			Help: "Alerts published, by type and severity."}, []string{"type", "severity"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_dlq_total",
			Help: "Messages sent to RISK_DLQ, by reason."}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_publish_dropped_total",
			Help: "Alerts and digests not published because they exceed the NATS max payload, by kind."}, []string{"kind"}),
	}
	reg.MustRegister(m.alerts, m.dlq, m.dropped)
	return &Outbox{js: js, maxPayload: maxPayload, log: log, limited: logging.NewLimited(log, time.Minute), metrics: m}
}

// Effects publishes everything a step decided, in order.
func (o *Outbox) Effects(e *book.Effects) {
	for _, p := range e.Profiles {
		o.Profile(p.Profile, p.Seq)
	}
	for _, r := range e.Rejects {
		o.Reject(r)
	}
	for _, a := range e.Alerts {
		o.Alert(a)
	}
	for i := range e.Digests {
		o.Digest(&e.Digests[i])
	}
	for _, q := range e.Quiet {
		o.Quiet(q)
	}
}

// Quiet publishes an operator's alert that a producer went quiet or came
// back, and logs it: it is the operator's to look into.
func (o *Outbox) Quiet(q book.Quiet) {
	body, err := json.Marshal(q)
	if err != nil {
		o.log.Error("producer alert does not encode", zap.String("kind", string(q.Kind)), zap.Error(err))
		return
	}
	msg := nats.NewMsg(q.Subject())
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, q.ID())
	o.publish(msg)
	if q.Quiet {
		o.log.Warn("producer went quiet: its customers' silences are held until it is back",
			zap.String("kind", string(q.Kind)), zap.Time("latest", q.Latest), zap.Time("at", q.At))
	} else {
		o.log.Info("producer is back", zap.String("kind", string(q.Kind)), zap.Time("latest", q.Latest))
	}
}

// Alert publishes a on its subject; its id is the message id.
func (o *Outbox) Alert(a *alerting.Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		o.log.Error("alert does not encode", zap.String("customer", a.Customer), zap.Error(err))
		return
	}
	msg := nats.NewMsg(alerting.Subject(a))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, a.ID)
	o.publish(msg)
	o.metrics.alerts.WithLabelValues(string(a.Type), a.Severity).Inc()
}

// Digest publishes d: one per owner and day, whatever replays.
func (o *Outbox) Digest(d *alerting.Digest) {
	body, err := json.Marshal(d)
	if err != nil {
		o.log.Error("digest does not encode", zap.String("owner", d.Owner), zap.Error(err))
		return
	}
	msg := nats.NewMsg(alerting.DigestSubject(d.Owner))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, alerting.DigestID(*d)+o.DigestPart)
	o.publish(msg)
}

// Profile shares an applied profile in the profiles bucket, with the
// stream sequence it was applied at. riskd itself restores profiles from
// its checkpoints; the bucket is for other readers.
func (o *Outbox) Profile(p *signals.Profile, seq uint64) {
	body, err := json.Marshal(p)
	if err != nil {
		o.log.Error("profile does not encode", zap.String("customer", p.ID), zap.Error(err))
		return
	}
	msg := nats.NewMsg("$KV." + api.ProfilesBucket + "." + signals.SubjectToken(p.ID))
	msg.Data = body
	msg.Header.Set(api.SeqHeader, strconv.FormatUint(seq, 10))
	o.publish(msg)
}

// Reject sends a refused message to the DLQ with its reason. The DLQ
// message id is derived from the stream sequence, so a replay after a
// crash does not file it twice.
func (o *Outbox) Reject(r book.Reject) {
	reason := signals.ReasonOf(r.Err)
	msg := nats.NewMsg(api.DLQPrefix + dlqKind(r.Subject))
	msg.Data = r.Data
	msg.Header.Set(api.ErrorHeader, r.Err.Error())
	msg.Header.Set(api.SubjectHeader, r.Subject)
	msg.Header.Set(jetstream.MsgIDHeader, "dlq-"+strconv.FormatUint(r.Seq, 10))
	if limit := o.maxPayload(); limit > 0 && int64(wireSize(msg)) > limit {
		// The headers push a message that fitted the stream over the
		// limit: the DLQ keeps what fits of it and says how big it was.
		msg.Header.Set(api.TruncatedHeader, strconv.Itoa(len(r.Data)))
		msg.Data = r.Data[:max(int(limit)-(wireSize(msg)-len(r.Data)), 0)]
	}
	o.publish(msg)
	o.metrics.dlq.WithLabelValues(string(reason)).Inc()
	o.limited.Warn("dlq:"+string(reason), "input rejected to the DLQ",
		zap.String("reason", string(reason)), zap.String("subject", truncate(r.Subject, 120)),
		zap.Uint64("seq", r.Seq), zap.String("error", truncate(r.Err.Error(), 300)))
}

// dlqKind is the last token of a DLQ subject: the signal kind, customer,
// action or unknown.
func dlqKind(subject string) string {
	switch {
	case strings.HasPrefix(subject, signals.SignalPrefix):
		return book.KindLabel(subject)
	case strings.HasPrefix(subject, signals.CustomerPrefix):
		return "customer"
	case strings.HasPrefix(subject, api.ActionPrefix):
		return "action"
	case subject == book.ClockSubject:
		return "clock"
	}
	return "unknown"
}

// publish sends msg asynchronously; Confirm waits for its ack.
func (o *Outbox) publish(msg *nats.Msg) {
	if limit := o.maxPayload(); limit > 0 && int64(wireSize(msg)) > limit {
		// It would fail on every attempt, and a message kept for retry
		// fails every checkpoint after it: riskd would stop for good.
		kind := outputKind(msg.Subject)
		o.metrics.dropped.WithLabelValues(kind).Inc()
		o.limited.Warn("dropped:"+kind, "output larger than the NATS max payload is dropped",
			zap.String("subject", truncate(msg.Subject, 120)), zap.Int("bytes", wireSize(msg)), zap.Int64("max_payload", limit))
		return
	}
	f, err := o.js.PublishMsgAsync(msg)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.retry = append(o.retry, msg)
		return
	}
	o.pending = append(o.pending, f)
}

// Confirm waits for the acks of everything published so far, re-sending
// what failed. On an error what is not confirmed stays for the next call.
func (o *Outbox) Confirm(ctx context.Context) error {
	o.mu.Lock()
	pending, retry := o.pending, o.retry
	o.pending, o.retry = nil, nil
	o.mu.Unlock()
	var failed []*nats.Msg
	for i, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			o.limited.Warn("publish", "publish failed, retrying", zap.String("subject", f.Msg().Subject), zap.Error(err))
			failed = append(failed, f.Msg())
		case <-ctx.Done():
			o.requeue(append(append(failed, msgsOf(pending[i:])...), retry...))
			return ctx.Err()
		}
	}
	failed = append(failed, retry...)
	for i, m := range failed {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := o.js.PublishMsg(pctx, m)
		cancel()
		if err != nil {
			o.requeue(failed[i:])
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
	}
	return nil
}

func msgsOf(fs []jetstream.PubAckFuture) []*nats.Msg {
	out := make([]*nats.Msg, len(fs))
	for i, f := range fs {
		out[i] = f.Msg()
	}
	return out
}

func (o *Outbox) requeue(msgs []*nats.Msg) {
	o.mu.Lock()
	o.retry = append(msgs, o.retry...)
	o.mu.Unlock()
}

// wireSize is what msg weighs against the server's max payload: its data
// and its encoded headers.
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

// outputKind labels what is published on subject.
func outputKind(subject string) string {
	switch {
	case strings.HasPrefix(subject, alerting.DigestPrefix):
		return "digest"
	case strings.HasPrefix(subject, api.DLQPrefix):
		return "dlq"
	}
	return "alert"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
