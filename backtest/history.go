package backtest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/signals"
)

// History is a customer base's history as a backtest reads it: the
// profiles, and the signals in event-time order with the outcomes among
// them.
type History struct {
	// Profiles in the order of the file; a later one of a customer
	// replaces an earlier one. Profile lines carry no time, so a backtest
	// applies them all before the first signal.
	Profiles []book.Message
	// Signals sorted by event time (the file's order for equal times),
	// duplicates of an id dropped as JetStream drops them.
	Signals []book.Message
	// Churned is each churned customer's first churn outcome.
	Churned map[string]time.Time
	// First and Last are the first and the last event time.
	First, Last time.Time
	// Lines, Rejected and Duplicates count the file's lines.
	Lines, Rejected, Duplicates int
}

// maxLines bounds what one history may hold: a backtest keeps it in
// memory (a demo history peaks at about 1.5 KB of RSS a signal).
const maxLines = 20_000_000

// Read reads the NDJSON of riskctl replay: signal envelopes, outcome
// signals among them, and profile lines. Lines that riskd would reject
// are counted and skipped. progress, when set, is told of the bytes read.
func Read(r io.Reader, progress func(bytes int64)) (*History, error) {
	h := &History{Churned: map[string]time.Time{}}
	rd := signals.NewLineReader(r, time.Time{})
	ids := map[string]struct{}{}
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backtest: read history: %w", err)
		}
		if h.Lines++; h.Lines > maxLines {
			return nil, fmt.Errorf("backtest: more than %d lines: split the history", maxLines)
		}
		if progress != nil && h.Lines%10_000 == 0 {
			progress(rd.Offset())
		}
		switch {
		case l.Err != nil:
			h.Rejected++
			continue
		case l.Profile != nil:
			h.Profiles = append(h.Profiles, book.Message{
				Subject: signals.CustomerPrefix + signals.SubjectToken(l.Profile.ID), Data: slices.Clone(l.ProfileRaw)})
			continue
		}
		s := *l.Signal
		if _, dup := ids[s.ID]; dup {
			h.Duplicates++
			continue
		}
		ids[s.ID] = struct{}{}
		h.Signals = append(h.Signals, book.Message{Subject: signals.Subject(s.Kind, s.Customer),
			Data: slices.Clone(l.Raw), Signal: &s})
		if s.Kind == signals.KindOutcome && s.Outcome.Type == outcomeChurned {
			if t, ok := h.Churned[s.Customer]; !ok || s.Time.Before(t) {
				h.Churned[s.Customer] = s.Time
			}
		}
	}
	if progress != nil {
		progress(rd.Offset())
	}
	slices.SortStableFunc(h.Signals, func(a, b book.Message) int { return a.Signal.Time.Compare(b.Signal.Time) })
	if n := len(h.Signals); n > 0 {
		h.First, h.Last = h.Signals[0].Signal.Time, h.Signals[n-1].Signal.Time
	}
	return h, nil
}

// outcomeChurned is the outcome type of a customer lost.
const outcomeChurned = "churned"
