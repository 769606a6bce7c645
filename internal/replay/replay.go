// Package replay runs a signal file through the real engine offline: an
// in-process NATS server with no port and a temporary store, the engine on
// the event clock, every line published in file order, and the final
// scores, tiers and alerts read back. It is what `riskctl replay` prints
// and the base for backtests: the same file gives the same result on any
// machine, and the same as riskd would have given live.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/broker"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Options configure a replay.
type Options struct {
	Rules  *rules.Set
	Policy alerting.Policy
	// MaxInFlight bounds the publishes awaiting their acknowledgement
	// (default 512).
	MaxInFlight int
	// TotalBytes is the input's size when known, for progress.
	TotalBytes int64
	// Progress, if set, is called now and then from the replaying
	// goroutine.
	Progress func(Progress)
	// TempDir is where the temporary store is made ("" for the system's).
	TempDir string
	// Now is the clock far-future event times are judged by (default
	// time.Now), as riskd judges them live.
	Now func() time.Time
}

// Progress reports how far a replay got.
type Progress struct {
	// Phase is "publishing" while lines are read and published, then
	// "scoring" while the engine catches up.
	Phase      string
	Lines      int
	Bytes      int64
	TotalBytes int64
	// Applied and Last are stream sequences: scored so far and the last
	// one published.
	Applied, Last uint64
}

// Result is the outcome of a replay.
type Result struct {
	Summary   Summary               `json:"summary"`
	Customers []engine.CustomerView `json:"customers"`
	Alerts    []alerting.Alert      `json:"alerts"`
	Rejected  []Reject              `json:"rejected"`
}

// Summary counts what happened.
type Summary struct {
	Lines    int `json:"lines"`
	Signals  int `json:"signals"`
	Profiles int `json:"profiles"`
	// Duplicates were dropped by JetStream's duplicate window (same id).
	Duplicates int `json:"duplicates"`
	// Rejected counts invalid lines and the signals the engine sent to its
	// dead-letter queue (late events, for example).
	Rejected         int            `json:"rejected"`
	RejectedByReason map[string]int `json:"rejected_by_reason"`
	Customers        int            `json:"customers"`
	Tiers            map[string]int `json:"tiers"`
	AlertsByType     map[string]int `json:"alerts_by_type"`
	// From and To are the earliest and latest event times of the valid
	// signals in the file.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// Reject is a line that was not scored.
type Reject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// maxCustomers is how many customers the engine lists at most.
const maxCustomers = 10_000

// Run replays the signal file r. The temporary server and store are
// removed before it returns.
func Run(ctx context.Context, r io.Reader, o Options) (*Result, error) {
	if o.Rules == nil {
		return nil, errors.New("replay: no rule set")
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Policy.Repeat == nil {
		o.Policy = alerting.DefaultPolicy()
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	dir, err := os.MkdirTemp(o.TempDir, "riskctl-replay-")
	if err != nil {
		return nil, fmt.Errorf("replay: temporary store: %w", err)
	}
	defer os.RemoveAll(dir)
	srv, err := broker.StartEmbedded(broker.EmbeddedOptions{NoListen: true, StoreDir: dir}, nil)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	nc, err := broker.ConnectEmbedded(srv, broker.ClientOptions{Name: "riskctl-replay"})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer nc.Close()
	return run(ctx, nc, r, o)
}

func run(ctx context.Context, nc *nats.Conn, r io.Reader, o Options) (*Result, error) {
	eng, err := engine.New(nc, engine.Config{Rules: o.Rules, Policy: o.Policy, Clock: engine.ClockEvent,
		CheckpointInterval: 10 * time.Second, Now: o.Now, Durable: durable})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(runCtx) }()
	// stopEngine ends the engine once: its final checkpoint confirms every
	// alert and dead letter it published.
	stopped := false
	stopEngine := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stop()
		return <-runDone
	}
	defer func() { _ = stopEngine() }()
	if err := waitConsuming(ctx, nc, runDone); err != nil {
		return nil, err
	}

	res := &Result{Summary: Summary{RejectedByReason: map[string]int{}, Tiers: map[string]int{},
		AlertsByType: map[string]int{}}, Rejected: []Reject{}}
	lines, last, err := publish(ctx, nc, r, o, res)
	if err != nil {
		return nil, err
	}
	if last > 0 {
		if err := waitApplied(ctx, eng, last, res.Summary.Lines, o); err != nil {
			return nil, err
		}
	}
	if err := stopEngine(); err != nil {
		return nil, fmt.Errorf("replay: engine: %w", err)
	}
	// The server outlives the engine (Run shuts it down), so the alerts
	// and dead letters can be read back.
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if err := readDLQ(ctx, js, lines, res); err != nil {
		return nil, err
	}
	if err := readAlerts(ctx, js, res); err != nil {
		return nil, err
	}
	res.Customers = eng.List(engine.Filter{Limit: maxCustomers})
	if res.Customers == nil {
		res.Customers = []engine.CustomerView{}
	}
	st := eng.Stats()
	res.Summary.Customers = st.Customers
	for _, c := range res.Customers {
		res.Summary.Tiers[c.Tier.String()]++
	}
	slices.SortStableFunc(res.Rejected, func(a, b Reject) int { return a.Line - b.Line })
	res.Summary.Rejected = len(res.Rejected)
	return res, nil
}

// durable is the engine's consumer; it exists once the engine has set up
// its streams and restored its (empty) state.
const durable = "riskctl-replay"

// waitConsuming waits until the engine's consumer exists: from then on
// the streams are there to publish to.
func waitConsuming(ctx context.Context, nc *nats.Conn, runDone chan error) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := js.Consumer(ctx, engine.SignalsStream, durable); err == nil {
			return nil
		}
		select {
		case err := <-runDone:
			runDone <- err // for stopEngine
			return fmt.Errorf("replay: the engine stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func waitApplied(ctx context.Context, eng *engine.Engine, last uint64, lines int, o Options) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := eng.WaitApplied(wctx, last)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.Progress(Progress{Phase: "scoring", Lines: lines, Applied: eng.Stats().Applied, Last: last})
	}
}

// pending is a publish awaiting its acknowledgement.
type pending struct {
	line int
	f    jetstream.PubAckFuture
}

// publish reads every line, validates it, and publishes the valid ones in
// file order. It returns the stream sequence of each line and the last
// sequence published.
func publish(ctx context.Context, nc *nats.Conn, r io.Reader, o Options, res *Result) (map[uint64]int, uint64, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.MaxInFlight))
	if err != nil {
		return nil, 0, fmt.Errorf("replay: %w", err)
	}
	seqs := map[uint64]int{}
	var last uint64
	var inflight []pending
	settle := func() error {
		for _, p := range inflight {
			select {
			case ack := <-p.f.Ok():
				switch {
				case ack.Duplicate:
					res.Summary.Duplicates++
				default:
					seqs[ack.Sequence] = p.line
					last = max(last, ack.Sequence)
				}
			case err := <-p.f.Err():
				return fmt.Errorf("replay: line %d: publish: %w", p.line, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		inflight = inflight[:0]
		return nil
	}
	rd := signals.NewLineReader(r, o.Now())
	lastReport := time.Now()
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("replay: reading: %w", err)
		}
		res.Summary.Lines++
		msg, ok := message(l, res)
		if !ok {
			continue
		}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return nil, 0, fmt.Errorf("replay: line %d: publish: %w", l.No, err)
		}
		inflight = append(inflight, pending{line: l.No, f: f})
		if len(inflight) >= o.MaxInFlight {
			if err := settle(); err != nil {
				return nil, 0, err
			}
		}
		if time.Since(lastReport) >= 100*time.Millisecond {
			lastReport = time.Now()
			o.Progress(Progress{Phase: "publishing", Lines: res.Summary.Lines, Bytes: rd.Offset(), TotalBytes: o.TotalBytes, Last: last})
		}
	}
	if err := settle(); err != nil {
		return nil, 0, err
	}
	o.Progress(Progress{Phase: "publishing", Lines: res.Summary.Lines, Bytes: rd.Offset(), TotalBytes: o.TotalBytes, Last: last})
	return seqs, last, nil
}

// message turns a line into the message a producer would publish, or
// records it as rejected.
func message(l signals.Line, res *Result) (*nats.Msg, bool) {
	switch {
	case l.Err != nil:
		reject(res, l.No, l.Err)
		return nil, false
	case l.Profile != nil:
		res.Summary.Profiles++
		msg := nats.NewMsg(signals.CustomerPrefix + signals.SubjectToken(l.Profile.ID))
		msg.Data = slices.Clone(l.ProfileRaw)
		return msg, true
	}
	s := l.Signal
	res.Summary.Signals++
	if res.Summary.From.IsZero() || s.Time.Before(res.Summary.From) {
		res.Summary.From = s.Time
	}
	if s.Time.After(res.Summary.To) {
		res.Summary.To = s.Time
	}
	msg := nats.NewMsg(signals.Subject(s.Kind, s.Customer))
	msg.Data = slices.Clone(l.Raw)
	msg.Header.Set(jetstream.MsgIDHeader, s.ID)
	return msg, true
}

func reject(res *Result, line int, err error) {
	reason := string(signals.ReasonOf(err))
	res.Summary.RejectedByReason[reason]++
	res.Rejected = append(res.Rejected, Reject{Line: line, Reason: reason, Error: err.Error()})
}

// readDLQ finds the lines the engine refused: each dead letter's message
// id is "dlq-<stream sequence>" of the message it refused.
func readDLQ(ctx context.Context, js jetstream.JetStream, lines map[uint64]int, res *Result) error {
	return readStream(ctx, js, engine.DLQStream, func(m jetstream.Msg) error {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		seq, _ := strconv.ParseUint(strings.TrimPrefix(id, "dlq-"), 10, 64)
		msg := m.Headers().Get(engine.ErrorHeader)
		reason, _, _ := strings.Cut(msg, ":")
		res.Summary.RejectedByReason[reason]++
		res.Rejected = append(res.Rejected, Reject{Line: lines[seq], Reason: reason, Error: msg})
		return nil
	})
}

func readAlerts(ctx context.Context, js jetstream.JetStream, res *Result) error {
	res.Alerts = []alerting.Alert{}
	return readStream(ctx, js, alerting.Stream, func(m jetstream.Msg) error {
		if !strings.HasPrefix(m.Subject(), alerting.SubjectPrefix) {
			return nil // a digest
		}
		var a alerting.Alert
		if err := json.Unmarshal(m.Data(), &a); err != nil {
			return fmt.Errorf("alert on %s: %w", m.Subject(), err)
		}
		res.Alerts = append(res.Alerts, a)
		res.Summary.AlertsByType[string(a.Type)]++
		return nil
	})
}

// readStream reads every message of stream with an ordered consumer.
// Each fetch asks for exactly the messages still unread, so it returns as
// soon as they are delivered instead of waiting out a timeout.
func readStream(ctx context.Context, js jetstream.JetStream, stream string, fn func(jetstream.Msg) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("replay: stream %s: %w", stream, err)
	}
	total := s.CachedInfo().State.Msgs
	if total == 0 {
		return nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("replay: read %s: %w", stream, err)
	}
	for read := uint64(0); read < total; {
		batch, err := oc.Fetch(int(min(total-read, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("replay: read %s: %w", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := fn(m); err != nil {
				return fmt.Errorf("replay: read %s: %w", stream, err)
			}
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				read = total
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("replay: read %s: %w", stream, err)
		}
		if got == 0 {
			return fmt.Errorf("replay: read %s: %d of %d messages arrived", stream, read, total)
		}
		read += uint64(got)
	}
	return nil
}
