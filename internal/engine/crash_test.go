package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/chaos"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/statelog"
)

// runTo runs an engine on nc that checkpoints only when it stops, feeds it
// msgs and stops it once it applied them all.
func runTo(t *testing.T, nc *nats.Conn, js jetstream.JetStream, msgs []chaos.Message) {
	t.Helper()
	eng, err := engine.New(nc, engine.Config{Rules: defaultRules(t), Policy: alerting.DefaultPolicy(),
		CheckpointInterval: time.Hour, CheckpointEvery: 1 << 30})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool { return eng.Ready() == nil }, 30*time.Second, 5*time.Millisecond)
	if len(msgs) == 0 {
		return // a restart that only replays
	}
	last, err := chaos.Publish(js, msgs)
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	require.NoError(t, eng.WaitApplied(wctx, last))
}

// stateView reads the last committed checkpoint as JSON documents, so
// that outcomes compare as data and a difference can be read: a record
// per customer ("c.<id>") and profile ("p.<id>"), and what the checkpoint
// covers ("meta.checkpoint").
func stateView(t *testing.T, js jetstream.JetStream) map[string][]byte {
	t.Helper()
	cp, err := statelog.ReadCheckpoint(context.Background(), js)
	require.NoError(t, err)
	out := map[string][]byte{}
	put := func(k string, v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err, k)
		out[k] = b
	}
	for _, r := range cp.Records {
		put("c."+r.State.Customer, r)
	}
	for _, p := range cp.Profiles {
		put("p."+p.ID, p)
	}
	put("meta.checkpoint", map[string]any{"seq": cp.Seq, "watermark": cp.Clock.Watermark,
		"last_sweep": cp.Clock.LastSweep, "last_digest": cp.Clock.LastDigest})
	return out
}

// commits lists the checkpoint commits in RISK_STATE, oldest first.
func commits(t *testing.T, js jetstream.JetStream) []uint64 {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, api.StateStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var seqs []uint64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		if m.Subject == api.StateCommitSubject {
			seqs = append(seqs, seq)
		}
	}
	return seqs
}

// deleteFrom deletes the RISK_STATE messages from seq on, of every subject
// or only commits.
func deleteFrom(t *testing.T, js jetstream.JetStream, seq uint64, onlyCommits bool) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, api.StateStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	for ; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		if !onlyCommits || m.Subject == api.StateCommitSubject {
			require.NoError(t, s.DeleteMsg(ctx, seq))
		}
	}
}

// streamIDs counts the Nats-Msg-Id of every message of stream.
func streamIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ctx := context.Background()
	ids := map[string]int{}
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(m jetstream.Msg) error {
		ids[m.Subject()[:strings.LastIndexByte(m.Subject(), '.')+1]+" "+m.Headers().Get(jetstream.MsgIDHeader)]++
		return nil
	}))
	return ids
}

type crashOutcome struct {
	records map[string][]byte
	sent    map[string]int // alerts, digests and DLQ entries by subject prefix and id
}

// Ways the second stop of crashRun is turned into a crash inside its
// checkpoint.
const (
	noCrash = iota
	// crashBeforeCommit: its chunks were written, its commit was not.
	crashBeforeCommit
	// crashBeforeChunks: it wrote nothing.
	crashBeforeChunks
)

// crashRun feeds w to engines that stop at two cut points; crash turns the
// second stop into a crash in the middle of its checkpoint.
func crashRun(t *testing.T, w chaos.Workload, cutA, cutB int, crash int) crashOutcome {
	t.Helper()
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	runTo(t, nc, js, w.Messages[:cutA])
	atA := commits(t, js)
	require.NotEmpty(t, atA)
	runTo(t, nc, js, w.Messages[cutA:cutB])
	atB := commits(t, js)
	require.Len(t, atB, len(atA)+1, "one checkpoint at the second stop")
	require.Equal(t, atA, atB[:len(atA)], "the second stop's checkpoint purged nothing")
	switch crash {
	case crashBeforeCommit:
		deleteFrom(t, js, atB[len(atB)-1], true)
	case crashBeforeChunks:
		deleteFrom(t, js, atA[len(atA)-1]+1, false)
	}
	runTo(t, nc, js, w.Messages[cutB:])
	out := crashOutcome{records: stateView(t, js), sent: streamIDs(t, js, api.AlertsStream)}
	for id, n := range streamIDs(t, js, api.DLQStream) {
		out.sent[id] += n
	}
	return out
}

// TestCrashInsideACheckpoint crashes riskd between writing customer records
// and writing the checkpoint record that covers them, with all or only
// some of the records written. The restarted engine replays from the
// previous checkpoint with those records already ahead of it, and must end
// in the state, alerts, digests and DLQ entries of a run that did not
// crash, none of them sent twice.
func TestCrashInsideACheckpoint(t *testing.T) {
	w := chaos.Generate(chaos.Config{Seed: 11, Customers: 800, Signals: 8000, Days: 12,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)})
	cutA, cutB := len(w.Messages)*2/5, len(w.Messages)*3/5
	want := crashRun(t, w, cutA, cutB, noCrash)
	customers := 0
	for k := range want.records {
		if strings.HasPrefix(k, "c.") {
			customers++
		}
	}
	require.Equal(t, w.Expect.Customers, customers, "a record per customer")
	for _, tc := range []struct {
		name  string
		crash int
	}{
		{"chunks written, no commit", crashBeforeCommit},
		{"nothing written", crashBeforeChunks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := crashRun(t, w, cutA, cutB, tc.crash)
			var diffs []string
			for k, v := range want.records {
				if string(got.records[k]) != string(v) {
					diffs = append(diffs, fmt.Sprintf("record %s: %s", k, jsonDiff(v, got.records[k])))
				}
			}
			for k, n := range got.sent {
				if n != 1 || want.sent[k] != 1 {
					diffs = append(diffs, fmt.Sprintf("%s: sent %d times, %d without the crash", k, n, want.sent[k]))
				}
			}
			for k := range want.sent {
				if got.sent[k] == 0 {
					diffs = append(diffs, fmt.Sprintf("%s: not sent", k))
				}
			}
			sort.Strings(diffs)
			require.Empty(t, diffs[:min(len(diffs), 10)], "%d differences from the run without a crash", len(diffs))
			require.Len(t, got.records, len(want.records))
		})
	}
}

// TestCrashInsideACheckpointSweepsAsBefore crashes in the checkpoint that
// follows a day's sweep, with the record of a customer whose first signal
// came after that sweep but carries an earlier event time (a lagging
// source) already written. Replaying the sweep must leave that customer
// alone, as the uninterrupted run did: it did not exist yet.
func TestCrashInsideACheckpointSweepsAsBefore(t *testing.T) {
	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	msg := func(id, customer string, at time.Time, kind, data string) chaos.Message {
		body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"data":%s}`,
			id, kind, customer, at.UTC().Format(time.RFC3339), data)
		return chaos.Message{Subject: "risk.signals." + kind + "." + customer, Data: []byte(body), MsgID: id}
	}
	var msgs []chaos.Message
	for d := range 3 {
		msgs = append(msgs, msg(fmt.Sprintf("early-%d", d), "early", day.AddDate(0, 0, d).Add(9*time.Hour), "usage", `{"events":50}`))
	}
	cutA := len(msgs)
	msgs = append(msgs,
		// Enters day 3: the sweep of day 3 runs on this message.
		msg("early-3", "early", day.AddDate(0, 0, 3).Add(10*time.Minute), "usage", `{"events":50}`),
		// After the sweep in the stream, before it in event time.
		msg("late-comer-1", "late-comer", day.AddDate(0, 0, 2).Add(20*time.Hour), "nps", `{"score":2}`),
	)
	cutB := len(msgs)
	msgs = append(msgs, msg("early-4", "early", day.AddDate(0, 0, 3).Add(11*time.Hour), "usage", `{"events":50}`))
	w := chaos.Workload{Messages: msgs}

	want := crashRun(t, w, cutA, cutB, noCrash)
	got := crashRun(t, w, cutA, cutB, crashBeforeCommit)
	key := "c.late-comer"
	require.Contains(t, want.records, key)
	require.JSONEq(t, string(want.records[key]), string(got.records[key]))
	require.Equal(t, want.sent, got.sent)
}

// TestCrashAfterAnyCheckpoint runs an engine that checkpoints often while
// it consumes the first part of a workload, stops it, and takes away the
// commits after one of its checkpoints, as if riskd had crashed right
// after that checkpoint while the later ones had written their chunks but
// not their commits. A new engine replays from there and consumes the
// rest. The outcome must be that of the uninterrupted run, for early,
// middle and late checkpoints alike.
func TestCrashAfterAnyCheckpoint(t *testing.T) {
	w := chaos.Generate(chaos.Config{Seed: 13, Customers: 800, Signals: 8000, Days: 12,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)})
	cut := len(w.Messages) * 2 / 3
	want := crashRun(t, w, len(w.Messages)/3, cut, noCrash)
	for _, at := range []float64{0.2, 0.5, 0.9} {
		t.Run(fmt.Sprintf("checkpoint at %.0f%% of the run", at*100), func(t *testing.T) {
			_, nc := natstest.Server(t, "")
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			// Every checkpoint a delta: an image would purge those before.
			eng, stop := startWith(t, nc, engine.Config{CheckpointInterval: time.Millisecond, Batch: 50, ImageFloor: 1 << 40})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// In parts, each one checkpointed before the next goes in.
			const parts = 8
			for p := range parts {
				before := len(commits(t, js))
				last, err := chaos.Publish(js, w.Messages[cut*p/parts:cut*(p+1)/parts])
				require.NoError(t, err)
				require.NoError(t, eng.WaitApplied(ctx, last))
				require.Eventually(t, func() bool { return len(commits(t, js)) > before }, 10*time.Second, 5*time.Millisecond)
			}
			require.NoError(t, stop())
			seqs := commits(t, js)
			require.GreaterOrEqual(t, len(seqs), parts, "a checkpoint per part")
			keep := seqs[int(at*float64(len(seqs)-2))]
			t.Logf("rolled back to the commit at %d (%d commits in the log)", keep, len(seqs))
			deleteFrom(t, js, keep+1, true)

			runTo(t, nc, js, w.Messages[cut:])
			got := crashOutcome{records: stateView(t, js), sent: streamIDs(t, js, api.AlertsStream)}
			for id, n := range streamIDs(t, js, api.DLQStream) {
				got.sent[id] += n
			}
			var diffs []string
			for k, v := range want.records {
				if string(got.records[k]) != string(v) {
					diffs = append(diffs, fmt.Sprintf("record %s: %s", k, jsonDiff(v, got.records[k])))
				}
			}
			for k, n := range got.sent {
				if n != 1 || want.sent[k] != 1 {
					diffs = append(diffs, fmt.Sprintf("%s: sent %d times, %d without the crash", k, n, want.sent[k]))
				}
			}
			sort.Strings(diffs)
			require.Empty(t, diffs[:min(len(diffs), 10)], "%d differences from the run without a crash", len(diffs))
		})
	}
}

// jsonDiff lists the paths where two JSON documents differ, with both
// values: a whole customer record is too long to compare by eye.
func jsonDiff(want, got []byte) string {
	var a, b any
	if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil {
		return fmt.Sprintf("\n  want %s\n  got  %s", want, got)
	}
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			for k := range keys {
				walk(path+"."+k, am[k], bm[k])
			}
			return
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			out = append(out, fmt.Sprintf("%s: want %v, got %v", path, a, b))
		}
	}
	walk("", a, b)
	sort.Strings(out)
	return strings.Join(out, "; ")
}
