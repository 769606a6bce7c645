package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// delivery is one message of a batch, with what can be worked out before
// it is applied: its metadata and, for a signal, its decoding.
type delivery struct {
	msg    jetstream.Msg
	md     *jetstream.MsgMetadata
	mdErr  error
	signal bool // sig and sigErr hold the decoded signal
	sig    signals.Signal
	sigErr error
}

// deliveryChunk is how many deliveries travel from the decoding goroutine
// to the applying one at a time: enough to make the hand-over cheap.
const deliveryChunk = 64

var chunkPool = sync.Pool{New: func() any { return new([deliveryChunk]delivery) }}

// reader fetches from the consumer and decodes signals on its own
// goroutine: decoding is pure and takes a fifth of the cost of a signal,
// so the goroutine that applies messages in order, the one that bounds
// intake, does not do it; and the next fetch is requested as soon as the
// current one has arrived, not once it is applied.
type reader struct {
	items  chan readItem // unbuffered: see decodeBatch
	cancel context.CancelFunc
	done   chan struct{}
}

// readItem is a chunk of deliveries, or the end of a fetch (with its error
// and whether it found nothing).
type readItem struct {
	chunk []delivery
	end   bool
	empty bool
	err   error
}

func (e *Engine) startReader(ctx context.Context, cons jetstream.Consumer) *reader {
	ctx, cancel := context.WithCancel(ctx)
	r := &reader{items: make(chan readItem), cancel: cancel, done: make(chan struct{})}
	fetch := func() (jetstream.MessageBatch, error) {
		return cons.Fetch(e.cfg.Batch, jetstream.FetchMaxWait(200*time.Millisecond))
	}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			// One request at a time: the server spreads deliveries over
			// the requests waiting, and two would interleave the stream.
			// The next goes out as soon as this one has everything, while
			// the loop is still applying it.
			batch, err := fetch()
			if err != nil {
				if !r.send(ctx, readItem{end: true, empty: true, err: err}) {
					return
				}
				sleep(ctx, 250*time.Millisecond)
				continue
			}
			if !e.decodeBatch(ctx, batch, r) {
				return
			}
		}
	}()
	return r
}

func (r *reader) send(ctx context.Context, item readItem) bool {
	select {
	case r.items <- item:
		return true
	case <-ctx.Done():
		return false
	}
}

// stop ends the reader. Messages it fetched and did not hand over are
// dropped: the loop recreates the consumer (after a gap or a lost
// consumer) or stops, and a new consumer starts from the checkpoint.
func (r *reader) stop() {
	r.cancel()
	<-r.done
}

// decodeBatch reads batch and hands its messages over a chunk at a time,
// signals decoded, then the end of the batch. It reports false once the
// reader is stopped.
func (e *Engine) decodeBatch(ctx context.Context, batch jetstream.MessageBatch, r *reader) bool {
	chunk := chunkPool.Get().(*[deliveryChunk]delivery)[:0]
	got := false
	for msg := range batch.Messages() {
		got = true
		// Decoded in place: the slots are reused, a Signal is not
		// allocated per message.
		chunk = append(chunk, delivery{msg: msg})
		d := &chunk[len(chunk)-1]
		d.md, d.mdErr = msg.Metadata()
		if subject := msg.Subject(); strings.HasPrefix(subject, signals.SignalPrefix) {
			d.signal = true
			d.sigErr = signals.DecodeInto(&d.sig, subject, msg.Data(), e.cfg.Now())
		}
		if len(chunk) == deliveryChunk {
			if !r.send(ctx, readItem{chunk: chunk}) {
				return false
			}
			chunk = chunkPool.Get().(*[deliveryChunk]delivery)[:0]
			continue
		}
		// Hand over at once whenever the applying goroutine waits (items
		// is unbuffered): a chunk fills only while it is busy, so a quiet
		// stream is not held back to make one up.
		select {
		case r.items <- readItem{chunk: chunk}:
			chunk = chunkPool.Get().(*[deliveryChunk]delivery)[:0]
		case <-ctx.Done():
			return false
		default:
		}
	}
	return r.send(ctx, readItem{chunk: chunk, end: true, empty: !got, err: batch.Error()})
}

// applyChunk applies every delivery of chunk in order and returns how
// many were new, the last message (the one to acknowledge, which under
// AckAll acknowledges all before it), the stream's pending count after
// it, and whether deliveries went missing before a message, in which case
// nothing from there on is applied: the caller must resume from the
// checkpoint.
func (e *Engine) applyChunk(chunk []delivery) (int, jetstream.Msg, uint64, bool) {
	n := 0
	var last jetstream.Msg
	pending := uint64(1)
	gap := false
	// One hold of the lock for the chunk: a checkpoint encodes between
	// chunks, and taking the lock per message would let it in after every
	// message, slowing the intake to one message per encoded chunk.
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range chunk {
		d := &chunk[i]
		if gap {
			break
		}
		if d.mdErr != nil {
			e.logLimited("metadata", "message without JetStream metadata", zap.Error(d.mdErr))
			continue
		}
		md := d.md
		// Every delivery, redeliveries included, takes the next consumer
		// sequence. A jump means messages were handed out that never
		// arrived (a dropped connection, an expired pull): the server
		// would redeliver them only after AckWait, behind newer ones, and
		// applying those first would reorder the stream.
		if md.Sequence.Consumer > e.delivered+1 {
			gap = true
			continue
		}
		e.delivered = md.Sequence.Consumer
		pending = md.NumPending
		last = d.msg
		e.metrics.Lag.Set(float64(md.NumPending))
		if md.Sequence.Stream > e.applied {
			e.applyOne(d, md.Sequence.Stream, md.Timestamp)
			e.applied = md.Sequence.Stream
			n++
		} else {
			e.metrics.Signals.WithLabelValues("", "skipped").Inc()
		}
	}
	if chunk != nil {
		// Nothing applied keeps a reference into the chunk: the model
		// copies what it keeps of a signal.
		clear(chunk[:cap(chunk)])
		chunkPool.Put((*[deliveryChunk]delivery)(chunk[:deliveryChunk]))
	}
	if !e.ready && e.applied >= e.readyAt {
		e.ready = true
		e.log.Info("caught up", zap.Uint64("seq", e.applied))
	}
	if len(chunk) > 0 {
		close(e.appliedCh)
		e.appliedCh = make(chan struct{})
	}
	return n, last, pending, gap
}

// applyOne routes one message; a panic in the model sends the message to
// the DLQ instead of taking the daemon down. Called with e.mu held.
func (e *Engine) applyOne(d *delivery, seq uint64, published time.Time) {
	subject, data := d.msg.Subject(), d.msg.Data()
	defer func() {
		if r := recover(); r != nil {
			e.reject(subject, data, seq, &signals.Error{Reason: signals.ReasonProcessing,
				Msg: fmt.Sprintf("the engine failed on this message: %v", r)})
		}
	}()
	if e.cfg.Inspect != nil {
		e.cfg.Inspect(subject, data)
	}
	switch {
	case d.signal:
		e.applySignal(subject, data, &d.sig, d.sigErr, seq, published)
	case strings.HasPrefix(subject, signals.CustomerPrefix):
		e.applyProfile(subject, data, seq)
	case strings.HasPrefix(subject, ActionPrefix):
		e.applyAction(subject, data, seq)
	default:
		e.reject(subject, data, seq, &signals.Error{Reason: signals.ReasonBadSubject, Msg: "no handler for this subject"})
	}
}

// applySignal applies signal s, decoded from data with the outcome err.
func (e *Engine) applySignal(subject string, data []byte, s *signals.Signal, err error, seq uint64, published time.Time) {
	if err != nil {
		e.metrics.Signals.WithLabelValues(kindLabel(subject), "rejected").Inc()
		e.reject(subject, data, seq, err)
		return
	}
	// The event clock moves on every valid signal, even one this customer's
	// checkpoint already covers, so a replay sweeps at the same messages.
	if t := s.Time.Unix(); t > e.watermark {
		e.watermark = t
	}
	if e.cfg.Clock == ClockEvent {
		defer e.maybeSweepEvent(seq)
	}
	c := e.customerFor(s.Customer)
	if seq <= c.Score.Seq {
		return // already in this customer's checkpointed state
	}
	p := e.profiles[s.Customer]
	// Apply changes the state (counts, remembered ids, watermark) even when
	// the score does not move, and a panic may leave it half changed: the
	// next checkpoint must hold it either way.
	e.dirty[s.Customer] = struct{}{}
	if err := e.model.Apply(&c.Score, s, p); err != nil {
		if errors.Is(err, scorer.ErrDuplicate) {
			e.metrics.Signals.WithLabelValues(string(s.Kind), "duplicate").Inc()
			return
		}
		e.metrics.Signals.WithLabelValues(string(s.Kind), "late").Inc()
		e.reject(subject, data, seq, err)
		return
	}
	c.Score.Seq = seq
	e.evaluate(s.Customer, c, p, c.Score.Watermark, "seq:"+unixString(int64(seq)))
	e.metrics.Signals.WithLabelValues(string(s.Kind), "scored").Inc()
	if !published.IsZero() {
		e.metrics.Latency.Observe(time.Since(published).Seconds())
	}
	if e.cfg.Scored != nil {
		e.cfg.Scored(s.Customer, s.ID)
	}
}

func kindLabel(subject string) string {
	rest := strings.TrimPrefix(subject, signals.SignalPrefix)
	k, _, _ := strings.Cut(rest, ".")
	if signals.Kind(k).Valid() {
		return k
	}
	return "unknown"
}

func (e *Engine) customerFor(id string) *customer {
	c, ok := e.customers[id]
	if !ok {
		c = &customer{Score: *scorer.NewState(id)}
		e.customers[id] = c
	}
	return c
}

// evaluate rescores a customer at time at and publishes the alert the
// policy decides on, if any. Called with e.mu held.
//
// The score is explained only when an alert comes of it: explaining (rule
// details, evidence, playbook) costs more than scoring, and almost every
// signal changes nothing worth telling anyone.
func (e *Engine) evaluate(id string, c *customer, p *signals.Profile, at int64, cause string) {
	prevScore, prevTier, prevEval := c.Score.Score, c.Score.Tier, c.Score.Evaluated
	// The result is scratch, reused for every signal: nothing keeps it
	// (an alert copies what it says).
	res := &e.scratch
	e.model.ScoreInto(res, &c.Score, p, time.Unix(at, 0))
	for _, err := range res.Errors {
		e.metrics.RuleErrors.WithLabelValues(err.Rule).Inc()
		e.logLimited("rule:"+err.Rule, "rule evaluation failed", zap.String("rule", err.Rule), zap.Error(err))
	}
	prevAlert := c.Alert
	a := e.cfg.Policy.Decide(&c.Alert, *res, p, c.Score.Churned > 0, cause)
	if res.Score != prevScore || res.Tier != prevTier || a != nil || !sameAlertState(prevAlert, c.Alert) ||
		e.evalMoved(prevEval, c.Score.Evaluated) {
		e.dirty[id] = struct{}{}
	}
	if a == nil {
		return
	}
	// c.Score has only taken the evaluation since it was scored, which
	// Describe does not read: the explanation is Evaluate's.
	e.model.Describe(&c.Score, p, res)
	e.cfg.Policy.Describe(a, *res)
	if prevAlert.LastID != "" && prevAlert.LastID != c.Alert.LastID {
		delete(e.alertIndex, prevAlert.LastID)
	}
	e.alertIndex[a.ID] = id
	c.last = a
	e.publishAlert(a)
}

// evalMoved reports whether a new evaluation time must reach the next
// checkpoint. With the event clock it always must: the time feeds the
// decay of later evaluations and the day's history, and a replay has to
// resume from exactly the state an uninterrupted run had. With the wall
// clock, which replays do not reproduce anyway, only a new day is worth
// rewriting every customer after each sweep: it adds a point of history.
func (e *Engine) evalMoved(prev, now int64) bool {
	if e.cfg.Clock == ClockEvent {
		return now != prev
	}
	return now/daySeconds != prev/daySeconds
}

func sameAlertState(a, b alerting.State) bool {
	return a.Tier == b.Tier && a.LastSent == b.LastSent && a.Resolved == b.Resolved && a.LastID == b.LastID
}

// materialise writes a profile to the risk_customers bucket for its
// readers, as an alert is published: now, asynchronously, and confirmed by
// the next checkpoint. riskd itself restores profiles from RISK_STATE.
func (e *Engine) materialise(p *signals.Profile, seq uint64) {
	body, err := json.Marshal(p)
	if err != nil {
		e.log.Error("profile does not encode", zap.String("customer", p.ID), zap.Error(err))
		return
	}
	msg := nats.NewMsg("$KV." + ProfilesBucket + "." + signals.SubjectToken(p.ID))
	msg.Data = body
	msg.Header.Set(SeqHeader, strconv.FormatUint(seq, 10))
	e.publish(msg)
}

func (e *Engine) publishAlert(a *alerting.Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		e.log.Error("alert does not encode", zap.String("customer", a.Customer), zap.Error(err))
		return
	}
	msg := nats.NewMsg(alerting.Subject(a))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, a.ID)
	e.publish(msg)
	e.metrics.Alerts.WithLabelValues(string(a.Type), a.Severity).Inc()
}

// publish sends msg asynchronously; checkpoint waits for its ack.
func (e *Engine) publish(msg *nats.Msg) {
	if limit := e.nc.MaxPayload(); limit > 0 && int64(wireSize(msg)) > limit {
		// It would fail on every attempt, and a message kept for retry
		// fails every checkpoint after it: riskd would stop for good.
		kind := outputKind(msg.Subject)
		e.metrics.Dropped.WithLabelValues(kind).Inc()
		e.logLimited("dropped:"+kind, "output larger than the NATS max payload is dropped",
			zap.String("subject", truncate(msg.Subject, 120)), zap.Int("bytes", wireSize(msg)), zap.Int64("max_payload", limit))
		return
	}
	f, err := e.js.PublishMsgAsync(msg)
	if err != nil {
		e.retry = append(e.retry, msg)
		return
	}
	e.pending = append(e.pending, f)
}

// reject sends the original message to the DLQ with its reason. The DLQ
// message id is derived from the stream sequence, so a replay after a
// crash does not file it twice.
func (e *Engine) reject(subject string, data []byte, seq uint64, err error) {
	reason := signals.ReasonOf(err)
	kind := "unknown"
	switch {
	case strings.HasPrefix(subject, signals.SignalPrefix):
		kind = kindLabel(subject)
	case strings.HasPrefix(subject, signals.CustomerPrefix):
		kind = "customer"
	case strings.HasPrefix(subject, ActionPrefix):
		kind = "action"
	}
	msg := nats.NewMsg(DLQPrefix + kind)
	msg.Data = data
	msg.Header.Set(ErrorHeader, err.Error())
	msg.Header.Set(SubjectHeader, subject)
	msg.Header.Set(jetstream.MsgIDHeader, "dlq-"+unixString(int64(seq)))
	if limit := e.nc.MaxPayload(); limit > 0 && int64(wireSize(msg)) > limit {
		// The headers push a message that fitted the stream over the
		// limit: the DLQ keeps what fits of it and says how big it was.
		msg.Header.Set(TruncatedHeader, strconv.Itoa(len(data)))
		msg.Data = data[:max(int(limit)-(wireSize(msg)-len(data)), 0)]
	}
	e.publish(msg)
	e.metrics.DLQ.WithLabelValues(string(reason)).Inc()
	e.logLimited("dlq:"+string(reason), "input rejected to the DLQ",
		zap.String("reason", string(reason)), zap.String("subject", truncate(subject, 120)),
		zap.Uint64("seq", seq), zap.String("error", truncate(err.Error(), 300)))
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

// outputKind labels what the engine publishes on subject.
func outputKind(subject string) string {
	switch {
	case strings.HasPrefix(subject, alerting.DigestPrefix):
		return "digest"
	case strings.HasPrefix(subject, DLQPrefix):
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

func (e *Engine) applyProfile(subject string, data []byte, seq uint64) {
	p, err := signals.DecodeProfile(subject, data)
	if err != nil {
		e.reject(subject, data, seq, err)
		return
	}
	e.profiles[p.ID] = &p
	e.dirtyProf[p.ID] = struct{}{}
	e.metrics.Profiles.Inc()
	e.materialise(&p, seq)
	if c, ok := e.customers[p.ID]; ok && seq > c.Score.Seq {
		c.Score.Seq = seq
		e.dirty[p.ID] = struct{}{}
		e.evaluate(p.ID, c, &p, c.Score.Evaluated, "seq:"+unixString(int64(seq)))
	}
}
