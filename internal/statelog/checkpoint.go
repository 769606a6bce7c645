package statelog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/signals"
)

// uvarint is binary.Uvarint.
func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

// Checkpoint is the last committed checkpoint as read back, for tools and
// tests: what it covers and the records it stands on, one per customer
// and profile.
type Checkpoint struct {
	// Seq is the last RISK_SIGNALS sequence it covers; Commit the sequence
	// of its commit in RISK_STATE.
	Seq, Commit uint64
	Clock       book.Clock
	Records     []Record
	Profiles    []signals.Profile
}

// ReadCheckpoint reads the last committed checkpoint; with none, it
// returns an empty Checkpoint. It only reads, so it may run beside riskd.
func ReadCheckpoint(ctx context.Context, js jetstream.JetStream) (Checkpoint, error) {
	return ReadPartCheckpoint(ctx, js, PartOf(0, 1, 0))
}

// ReadPartCheckpoint is ReadCheckpoint of one partition's log.
func ReadPartCheckpoint(ctx context.Context, js jetstream.JetStream, part Part) (Checkpoint, error) {
	r, err := read(ctx, js, part, false)
	if errors.Is(err, ErrNoCheckpoint) {
		return Checkpoint{}, nil
	}
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{Seq: r.Commit.Seq, Commit: r.CommitSeq, Clock: r.Commit.Clock()}
	latest := map[string]*book.Customer{}
	var order []string
	for _, c := range r.Customers {
		if _, ok := latest[c.Score.Customer]; !ok {
			order = append(order, c.Score.Customer)
		}
		latest[c.Score.Customer] = c
	}
	for _, id := range order {
		c := latest[id]
		cp.Records = append(cp.Records, Record{State: &c.Score, Alert: c.Alert})
	}
	profiles := map[string]*signals.Profile{}
	var porder []string
	for _, p := range r.Profiles {
		if _, ok := profiles[p.ID]; !ok {
			porder = append(porder, p.ID)
		}
		profiles[p.ID] = p
	}
	for _, id := range porder {
		cp.Profiles = append(cp.Profiles, *profiles[id])
	}
	return cp, nil
}

// WriteImage writes cp's records and profiles to RISK_STATE as a full
// image with its commit, and drops the log before it: what a riskd
// started on that stream restores. riskbench grows a state with it.
func WriteImage(ctx context.Context, js jetstream.JetStream, cp Checkpoint, maxPayload int64) error {
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(1)); err != nil {
		return fmt.Errorf("create or update stream %s: %w", api.StateStream, err)
	}
	l := New(js, func() int64 { return maxPayload }, 0, PartOf(0, 1, 0))
	s, err := js.Stream(ctx, api.StateStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", api.StateStream, err)
	}
	if last, err := s.GetLastMsgForSubject(ctx, api.StateCommitSubject); err == nil {
		l.lastCommit = last.Sequence // replaced, not raced: nothing else writes
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("read checkpoint commit: %w", err)
	}
	w := l.Begin(ctx, true)
	for _, r := range cp.Records {
		if err := w.Customer(&book.Customer{Score: *r.State, Alert: r.Alert}); err != nil {
			return err
		}
		if w.Full() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	for i := range cp.Profiles {
		if err := w.Profile(&cp.Profiles[i]); err != nil {
			return err
		}
		if w.Full() {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if _, err := w.Commit(CommitOf(cp.Seq, cp.Clock)); err != nil {
		return err
	}
	return w.log.purgeBefore(ctx, w.first)
}
