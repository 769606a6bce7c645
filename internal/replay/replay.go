// Package replay runs a signal file through the pipeline's pure step in
// process: every line, in file order, applied to a book on the event
// clock exactly as riskd applies its stream, then the final scores, tiers
// and alerts. It is what `riskctl replay` prints and the base of
// backtests: the same file gives the same result on any machine, and the
// same as riskd gives for the same stream (a test holds the two together).
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Options configure a replay.
type Options struct {
	Rules  *rules.Set
	Policy alerting.Policy
	// TotalBytes is the input's size when known, for progress.
	TotalBytes int64
	// Progress, if set, is called now and then from the replaying
	// goroutine.
	Progress func(Progress)
	// Now is the clock far-future event times are judged by (default
	// time.Now), as riskd judges them live.
	Now func() time.Time
}

// Progress reports how far a replay got.
type Progress struct {
	Lines      int
	Bytes      int64
	TotalBytes int64
	// Done marks the last report, once the whole input is read.
	Done bool
}

// Result is the outcome of a replay.
type Result struct {
	Summary   Summary            `json:"summary"`
	Customers []api.CustomerView `json:"customers"`
	Alerts    []alerting.Alert   `json:"alerts"`
	Rejected  []Reject           `json:"rejected"`
}

// Summary counts what happened.
type Summary struct {
	Lines    int `json:"lines"`
	Signals  int `json:"signals"`
	Profiles int `json:"profiles"`
	// Duplicates repeat the id of an earlier signal of the file: JetStream
	// drops them by their Nats-Msg-Id before riskd sees them.
	Duplicates int `json:"duplicates"`
	// Rejected counts invalid lines and the signals the step refused
	// (late events, for example), which riskd sends to its DLQ.
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
	// File names the file of the line when several were read together.
	File   string `json:"file,omitempty"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// maxCustomers is how many customers the result lists at most.
const maxCustomers = api.MaxLimit

// Run replays the signal file r.
func Run(ctx context.Context, r io.Reader, o Options) (*Result, error) {
	if o.Rules == nil {
		return nil, errors.New("replay: no rule set")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Policy.Repeat == nil {
		o.Policy = alerting.DefaultPolicy()
	}
	b := book.New(book.Config{Rules: o.Rules, Policy: o.Policy})
	res := &Result{Summary: Summary{RejectedByReason: map[string]int{}, Tiers: map[string]int{},
		AlertsByType: map[string]int{}}, Rejected: []Reject{}, Alerts: []alerting.Alert{}}
	if err := run(ctx, b, r, o, res); err != nil {
		return nil, err
	}
	all := api.Filter{Limit: maxCustomers}
	res.Customers = all.Order(b.Matching(all))
	if res.Customers == nil {
		res.Customers = []api.CustomerView{}
	}
	res.Summary.Customers, _ = b.Len()
	for _, c := range res.Customers {
		res.Summary.Tiers[c.Tier.String()]++
	}
	res.Summary.Rejected = len(res.Rejected)
	return res, nil
}

// run applies every line of r to b in file order. Each line the stream
// would hold takes the next sequence number, as JetStream numbers them.
func run(ctx context.Context, b *book.Book, r io.Reader, o Options, res *Result) error {
	rd := signals.NewLineReader(r, o.Now())
	ids := map[string]struct{}{}
	var (
		seq        uint64
		fx         book.Effects
		lastReport time.Time
	)
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("replay: reading: %w", err)
		}
		res.Summary.Lines++
		m, ok := message(l, ids, res)
		if !ok {
			continue
		}
		seq++
		m.Seq = seq
		b.Apply(&m, &fx)
		collect(&fx, l.No, res)
		fx.Reset()
		if now := time.Now(); now.Sub(lastReport) >= 100*time.Millisecond && o.Progress != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			lastReport = now
			o.Progress(Progress{Lines: res.Summary.Lines, Bytes: rd.Offset(), TotalBytes: o.TotalBytes})
		}
	}
	if o.Progress != nil {
		o.Progress(Progress{Lines: res.Summary.Lines, Bytes: rd.Offset(), TotalBytes: o.TotalBytes, Done: true})
	}
	return ctx.Err()
}

// message turns a line into the message riskd would read from its stream,
// or records why it would never get there.
func message(l signals.Line, ids map[string]struct{}, res *Result) (book.Message, bool) {
	switch {
	case l.Err != nil:
		reject(res, l.No, l.Err)
		return book.Message{}, false
	case l.Profile != nil:
		res.Summary.Profiles++
		return book.Message{Subject: signals.CustomerPrefix + signals.SubjectToken(l.Profile.ID),
			Data: slices.Clone(l.ProfileRaw)}, true
	}
	s := l.Signal
	res.Summary.Signals++
	if res.Summary.From.IsZero() || s.Time.Before(res.Summary.From) {
		res.Summary.From = s.Time
	}
	if s.Time.After(res.Summary.To) {
		res.Summary.To = s.Time
	}
	if _, dup := ids[s.ID]; dup {
		res.Summary.Duplicates++
		return book.Message{}, false
	}
	ids[s.ID] = struct{}{}
	return book.Message{Subject: signals.Subject(s.Kind, s.Customer), Data: slices.Clone(l.Raw), Signal: s}, true
}

// collect keeps what a step published: alerts, and rejections as the
// lines they came from.
func collect(fx *book.Effects, line int, res *Result) {
	for _, a := range fx.Alerts {
		res.Alerts = append(res.Alerts, *a)
		res.Summary.AlertsByType[string(a.Type)]++
	}
	for _, r := range fx.Rejects {
		reject(res, line, r.Err)
	}
}

func reject(res *Result, line int, err error) {
	reason := string(signals.ReasonOf(err))
	res.Summary.RejectedByReason[reason]++
	res.Rejected = append(res.Rejected, Reject{Line: line, Reason: reason, Error: err.Error()})
}
