package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/chaos"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

// runTo runs an engine on nc that checkpoints only when it stops, feeds it
// msgs and stops it once it applied them all.
func runTo(t *testing.T, nc *nats.Conn, js jetstream.JetStream, msgs []chaos.Message) {
	t.Helper()
	eng, err := engine.New(nc, engine.Config{Rules: defaultRules(t), Policy: alerting.DefaultPolicy(),
		Clock: engine.ClockEvent, CheckpointInterval: time.Hour, CheckpointEvery: 1 << 30})
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

// bucket reads every key of the state bucket.
func bucket(t *testing.T, kv jetstream.KeyValue) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	keys, err := kv.ListKeys(ctx)
	require.NoError(t, err)
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		require.NoError(t, err)
		out[k] = e.Value()
	}
	return out
}

// streamIDs counts the Nats-Msg-Id of every message of stream.
func streamIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ctx := context.Background()
	ids := map[string]int{}
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	total := s.CachedInfo().State.Msgs
	if total == 0 {
		return ids
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for n := uint64(0); n < total; n++ {
		m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		ids[m.Subject()[:strings.LastIndexByte(m.Subject(), '.')+1]+" "+m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	return ids
}

// readable turns the customer records of a bucket read into JSON, so that
// outcomes compare as data and a difference can be read.
func readable(t *testing.T, records map[string][]byte) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte, len(records))
	for k, v := range records {
		if !strings.HasPrefix(k, "c.") {
			out[k] = v
			continue
		}
		rec, err := engine.DecodeRecord(v)
		require.NoError(t, err, k)
		if out[k], err = json.Marshal(rec); err != nil {
			require.NoError(t, err, k)
		}
	}
	return out
}

type crashOutcome struct {
	records map[string][]byte
	sent    map[string]int // alerts, digests and DLQ entries by subject prefix and id
}

// crashRun feeds w to engines that stop at two cut points. With keep >= 0,
// the second stop is turned into a crash in the middle of its checkpoint:
// the checkpoint record is rolled back to the first stop's, and only the
// share keep of the customer records the second stop wrote survive, the
// others rolled back too.
func crashRun(t *testing.T, w chaos.Workload, cutA, cutB int, keep float64) crashOutcome {
	t.Helper()
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	runTo(t, nc, js, w.Messages[:cutA])
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, engine.StateBucket)
	require.NoError(t, err)
	atA := bucket(t, kv)
	runTo(t, nc, js, w.Messages[cutA:cutB])
	if keep >= 0 {
		atB := bucket(t, kv)
		ahead := 0
		for k, vb := range atB {
			h := fnv.New32a()
			h.Write([]byte(k))
			survives := float64(h.Sum32()%1000) < keep*1000
			va, existed := atA[k]
			switch {
			case k == "meta.checkpoint":
				_, err = kv.Put(ctx, k, va)
			case string(va) == string(vb):
				continue
			case survives:
				ahead++
				continue
			case existed:
				_, err = kv.Put(ctx, k, va)
			default:
				err = kv.Delete(ctx, k)
			}
			require.NoError(t, err)
		}
		if keep > 0 {
			require.Positive(t, ahead, "records ahead of the checkpoint survive the crash")
		}
	}
	runTo(t, nc, js, w.Messages[cutB:])
	out := crashOutcome{records: readable(t, bucket(t, kv)), sent: streamIDs(t, js, engine.AlertsStream)}
	for id, n := range streamIDs(t, js, engine.DLQStream) {
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
	want := crashRun(t, w, cutA, cutB, -1)
	require.Len(t, want.records, w.Expect.Customers+1, "a record per customer and the checkpoint record")
	for _, tc := range []struct {
		name string
		keep float64
	}{
		{"every record written", 1},
		{"half of the records written", 0.5},
		{"no record written", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := crashRun(t, w, cutA, cutB, tc.keep)
			var diffs []string
			for k, v := range want.records {
				if k == "meta.checkpoint" {
					// Its wall-clock time stamp differs; what it covers must not.
					v, got.records[k] = withoutTime(t, v), withoutTime(t, got.records[k])
				}
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

func withoutTime(t *testing.T, cp []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(cp, &m))
	delete(m, "time")
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
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

	want := crashRun(t, w, cutA, cutB, -1)
	got := crashRun(t, w, cutA, cutB, 1)
	key := "c.late-comer"
	require.Contains(t, want.records, key)
	require.JSONEq(t, string(want.records[key]), string(got.records[key]))
	require.Equal(t, want.sent, got.sent)
}

// TestCrashAfterAnyCheckpoint runs an engine that checkpoints often while
// it consumes the first part of a workload, and keeps the checkpoint
// records it sees go by. It then stops it, puts one of those records back,
// as if riskd had crashed right after that checkpoint while the later ones
// had written their customer records and profile revisions but not their
// checkpoint record, and lets a new engine replay from there and consume
// the rest. The outcome must be that of the uninterrupted run, for early,
// middle and late checkpoints alike.
func TestCrashAfterAnyCheckpoint(t *testing.T) {
	w := chaos.Generate(chaos.Config{Seed: 13, Customers: 800, Signals: 8000, Days: 12,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)})
	cut := len(w.Messages) * 2 / 3
	want := crashRun(t, w, len(w.Messages)/3, cut, -1)
	for _, at := range []float64{0.2, 0.5, 0.9} {
		t.Run(fmt.Sprintf("checkpoint at %.0f%% of the cut", at*100), func(t *testing.T) {
			_, nc := natstest.Server(t, "")
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			ctx := context.Background()
			seen := checkpointsWhileRunning(t, nc, js, w.Messages[:cut])
			var seqs []uint64
			for seq := range seen {
				if seq < uint64(cut) {
					seqs = append(seqs, seq)
				}
			}
			require.NotEmpty(t, seqs, "no checkpoint seen while the engine ran")
			sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
			seq := seqs[int(at*float64(len(seqs)-1))]
			t.Logf("rolled back to the checkpoint at %d of %d (%d checkpoints seen)", seq, cut, len(seqs))
			kv, err := js.KeyValue(ctx, engine.StateBucket)
			require.NoError(t, err)
			_, err = kv.Put(ctx, "meta.checkpoint", seen[seq])
			require.NoError(t, err)

			runTo(t, nc, js, w.Messages[cut:])
			got := crashOutcome{records: readable(t, bucket(t, kv)), sent: streamIDs(t, js, engine.AlertsStream)}
			for id, n := range streamIDs(t, js, engine.DLQStream) {
				got.sent[id] += n
			}
			var diffs []string
			for k, v := range want.records {
				if k != "meta.checkpoint" && string(got.records[k]) != string(v) {
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

// checkpointsWhileRunning runs an engine that checkpoints as often as it
// can (small batches, a millisecond interval) over msgs, stops it, and
// returns the checkpoint records seen meanwhile by their sequence.
func checkpointsWhileRunning(t *testing.T, nc *nats.Conn, js jetstream.JetStream, msgs []chaos.Message) map[uint64][]byte {
	t.Helper()
	eng, stop := startWith(t, nc, engine.Config{CheckpointInterval: time.Millisecond, Batch: 50})
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, engine.StateBucket)
	require.NoError(t, err)
	seen := map[uint64][]byte{}
	watchDone := make(chan struct{})
	watchCtx, stopWatch := context.WithCancel(ctx)
	go func() {
		defer close(watchDone)
		for watchCtx.Err() == nil {
			if e, err := kv.Get(watchCtx, "meta.checkpoint"); err == nil {
				var cp struct {
					Seq uint64 `json:"seq"`
				}
				if json.Unmarshal(e.Value(), &cp) == nil {
					seen[cp.Seq] = e.Value()
				}
			}
		}
	}()
	last, err := chaos.Publish(js, msgs)
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, eng.WaitApplied(wctx, last))
	stopWatch()
	<-watchDone
	require.NoError(t, stop())
	return seen
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
