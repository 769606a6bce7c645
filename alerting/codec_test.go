package alerting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// codecEpisode plays scores (one per hour from t0) and actions against a
// fresh state with the default policy, as the engine does.
type codecEpisode struct {
	scores  []float64
	actions map[int]Action // before the score of that hour
	churned bool           // on the last score
}

func (e codecEpisode) state(tb testing.TB) *State {
	tb.Helper()
	p := DefaultPolicy()
	st := &State{}
	prev := rules.Healthy
	for i, score := range e.scores {
		if a, ok := e.actions[i]; ok {
			var err error
			if a.Kind == KindAck {
				err = Ack(st, a)
			} else {
				err = Snooze(st, a)
			}
			require.NoError(tb, err, "action before hour %d", i)
		}
		tier := rules.DefaultThresholds.Classify(score, prev)
		r := scorer.Result{Customer: "acme-corp", Time: t0.Add(hours(float64(i))), Score: score, Tier: tier,
			PreviousTier: prev, Contributions: []scorer.Contribution{{Rule: "usage-drop", Category: "usage", Contribution: score}}}
		prev = tier
		p.Decide(st, r, nil, e.churned && i == len(e.scores)-1, MessageCause(uint64(i)))
	}
	return st
}

func codecAlertStates(tb testing.TB) map[string]*State {
	tb.Helper()
	at := func(h float64) time.Time { return t0.Add(hours(h)) }
	full := codecEpisode{scores: make([]float64, 2*MaxLog+2), actions: map[int]Action{}}
	for i := range full.scores {
		full.scores[i] = 65
		if i > 0 && i%2 == 0 {
			full.actions[i] = Action{Kind: KindSnooze, By: fmt.Sprintf("csm-%d", i), Note: "call booked",
				At: at(float64(i) - 0.5), Until: at(float64(i) + 1.25)}
		}
	}
	states := map[string]*State{
		"never alerted": {},
		"raised":        codecEpisode{scores: []float64{30, 65}}.state(tb),
		"acknowledged": codecEpisode{scores: []float64{30, 65, 66}, actions: map[int]Action{
			2: {Kind: KindAck, By: "alice", Note: "on it", At: at(1.5)}}}.state(tb),
		"snoozed": codecEpisode{scores: []float64{45, 65, 70}, actions: map[int]Action{
			2: {Kind: KindSnooze, By: "bob", Note: "renewal call booked", At: at(1.25), Until: at(72)}}}.state(tb),
		"resolved after ack, snooze and unsnooze": codecEpisode{scores: []float64{65, 66, 67, 85, 10}, actions: map[int]Action{
			1: {Kind: KindAck, By: "alice", At: at(0.5)},
			2: {Kind: KindSnooze, By: "bob", Note: "ünïcödé ✓", At: at(1.5), Until: at(48)},
			3: {Kind: KindUnsnooze, By: "bob", At: at(2.5)},
		}}.state(tb),
		"churned":  codecEpisode{scores: []float64{85, 90}, churned: true}.state(tb),
		"full log": full.state(tb),
		"hygiene": {Tier: rules.AtRisk, Score: 70, Opened: 1_790_000_000, LastSent: 1_790_000_000, LastID: "raise",
			Announced: 1_790_000_000, Unclaimed: "team-escalation", Deferred: 1_789_990_000, Inhibited: 1_789_000_000,
			Charge: Charge{Day: 20717, Pos: 4242 << 2}, Marks: []Mark{{Pos: 100, From: rules.Healthy, Day: 20716, Charged: true},
				{Pos: 4242 << 2, From: rules.Watch}}},
		"corners": {Tier: rules.Critical, Score: math.Copysign(0, -1), Opened: math.MinInt64, LastSent: math.MaxInt64,
			Resolved: -1, Ack: &Action{}, Snooze: &Action{Kind: "custom", At: time.Unix(-1, 999_999_999).UTC(),
				Until: time.Date(3000, 1, 1, 0, 0, 0, 1, time.UTC)}, Log: []Action{}},
	}
	require.NotNil(tb, states["acknowledged"].Ack)
	require.NotNil(tb, states["snoozed"].Snooze)
	require.Len(tb, states["resolved after ack, snooze and unsnooze"].Log, 3)
	require.Len(tb, states["full log"].Log, MaxLog)
	return states
}

// jsonAlertRoundTrip is what a JSON checkpoint gives back on restart.
func jsonAlertRoundTrip(tb testing.TB, st *State) *State {
	tb.Helper()
	data, err := json.Marshal(st)
	require.NoError(tb, err)
	var back State
	require.NoError(tb, json.Unmarshal(data, &back))
	return &back
}

func TestAlertStateBinaryRoundTrip(t *testing.T) {
	for name, st := range codecAlertStates(t) {
		t.Run(name, func(t *testing.T) {
			data, err := st.MarshalBinary()
			require.NoError(t, err)
			var got State
			require.NoError(t, got.UnmarshalBinary(data))
			assert.Equal(t, jsonAlertRoundTrip(t, st), &got, "binary and JSON checkpoints restore the same state")

			again, err := got.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, data, again, "a restored state encodes to the same bytes")

			js, err := json.Marshal(st)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(data), len(js)/2, "binary is at most half of JSON")
		})
	}
}

func TestAlertStateAppendBinary(t *testing.T) {
	st := codecAlertStates(t)["resolved after ack, snooze and unsnooze"]
	whole, err := st.MarshalBinary()
	require.NoError(t, err)
	out, err := st.AppendBinary([]byte("header"))
	require.NoError(t, err)
	assert.Equal(t, append([]byte("header"), whole...), out)

	bad := *st
	bad.Score = math.NaN()
	out, err = bad.AppendBinary([]byte("header"))
	require.Error(t, err)
	assert.Equal(t, "header", string(out), "a failed append leaves b as it was")
}

// MarshalBinary sizes the encoding exactly (one allocation), and
// AppendBinary does not reallocate a buffer that has room for it.
func TestAlertStateBinarySize(t *testing.T) {
	for name, st := range codecAlertStates(t) {
		t.Run(name, func(t *testing.T) {
			want, err := st.MarshalBinary()
			require.NoError(t, err)
			out, err := st.AppendBinary(make([]byte, 0, len(want)))
			require.NoError(t, err)
			assert.Equal(t, want, out)
			assert.Equal(t, len(want), cap(out), "a buffer with room is not reallocated")
			assert.Equal(t, 1.0, testing.AllocsPerRun(10, func() { _, _ = st.MarshalBinary() }), "allocations of MarshalBinary")
			assert.Zero(t, testing.AllocsPerRun(10, func() { out, _ = st.AppendBinary(out[:0]) }), "allocations of AppendBinary")
		})
	}
}

// The engine records UTC times; others come back as the same instant in
// UTC, where JSON would give a fixed zone.
func TestAlertStateBinaryTimesAreUTC(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 20, 11, 30, 0, 123, paris)
	st := &State{Tier: rules.Watch, Ack: &Action{Kind: KindAck, By: "alice", At: at}}
	data, err := st.MarshalBinary()
	require.NoError(t, err)
	var got State
	require.NoError(t, got.UnmarshalBinary(data))
	assert.Equal(t, at.UTC(), got.Ack.At)
	assert.Equal(t, time.UTC, got.Ack.At.Location())
}

func TestAlertStateBinaryRefusesWhatJSONRefuses(t *testing.T) {
	for name, st := range map[string]*State{
		"NaN score":      {Score: math.NaN()},
		"infinite score": {Score: math.Inf(1)},
		"unknown tier":   {Tier: rules.Tier(4)},
		"note too long":  {Log: []Action{{Note: string(make([]byte, 65<<10))}}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := st.MarshalBinary()
			require.Error(t, err)
			assert.Nil(t, data)
			assert.Contains(t, err.Error(), "alerting: encode state: ")
		})
	}
}

// Every cut of a valid state is an error, never a panic, and leaves the
// target as it was.
func TestAlertStateBinaryTruncated(t *testing.T) {
	for name, st := range codecAlertStates(t) {
		t.Run(name, func(t *testing.T) {
			data, err := st.MarshalBinary()
			require.NoError(t, err)
			target := codecEpisode{scores: []float64{85}}.state(t)
			want := *target
			for n := range len(data) {
				err := target.UnmarshalBinary(data[:n])
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d of %d bytes", n, len(data))
			}
			assert.Equal(t, want, *target)
		})
	}
}

// TestAlertStateReadsVersion1 reads a state as riskd wrote it before the
// hygiene fields: the version 1 layout is version 2's without the second
// field byte and what follows it.
func TestAlertStateReadsVersion1(t *testing.T) {
	st := codecAlertStates(t)["resolved after ack, snooze and unsnooze"]
	require.Zero(t, st.Announced)
	require.Empty(t, st.Marks)
	v2, err := st.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, uint8(0), v2[len(v2)-1], "no hygiene field: the second field byte ends it")
	v1 := append([]byte{binaryVersion1}, v2[1:len(v2)-1]...)
	var got State
	require.NoError(t, got.UnmarshalBinary(v1))
	assert.Equal(t, jsonAlertRoundTrip(t, st), &got)

	var bad State
	assert.Error(t, bad.UnmarshalBinary(v2[:len(v2)-1]), "version 2 needs its second field byte")
}

func TestAlertStateBinaryRejects(t *testing.T) {
	st := codecAlertStates(t)["acknowledged"]
	good, err := st.MarshalBinary()
	require.NoError(t, err)
	nan := []byte{1, 0, hasScore, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "version"},
		{"unknown version", append([]byte{3}, good[1:]...), "unsupported format version 3"},
		{"version 2 without its second field byte", []byte{2, 0, 0}, "fields2"},
		{"unknown bits of the second field byte", []byte{2, 0, 0, 0x80}, "fields2 at byte 3: unknown field bits 0x80"},
		{"mark of an unknown tier", []byte{2, 0, 0, hasMarks, 1, 5, 9, 0, 0}, "Marks[0].From at byte 6: unknown tier"},
		{"mark charged 2", []byte{2, 0, 0, hasMarks, 1, 5, 1, 0, 2}, "Marks[0].Charged at byte 8: 2, want 0 or 1"},
		{"marks over the limit", append([]byte{2, 0, 0, hasMarks, 65}, make([]byte, 300)...), "Marks at byte 4: length 65 is over the limit of 64"},
		{"charge day past int32", append([]byte{2, 0, 0, hasCharge}, binary.AppendVarint(nil, 1<<40)...), "Charge.Day at byte 4"},
		{"a JSON checkpoint", []byte(`{"tier":"watch"}`), "unsupported format version 123"},
		{"trailing byte", append(bytes.Clone(good), 0), "1 trailing bytes"},
		{"unknown tier", []byte{1, 4, 0}, "Tier at byte 1: unknown tier"},
		{"NaN score", nan, "Score at byte 3: NaN"},
		{"bad time tag", []byte{1, 0, hasAck, 0, 0, 0, 2, 0, 0}, "Ack.At at byte 6: time tag 2"},
		{"nanoseconds over a second", []byte{1, 0, hasAck, 0, 0, 0, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0}, "Ack.At at byte 8: 1000000000 nanoseconds"},
		{"log over the limit", []byte{1, 0, hasLog, 0x81, 0x20}, "Log at byte 3: length 4097 is over the limit of 4096"},
		{"log longer than the input", append([]byte{1, 0, hasLog, 0x80, 0x20}, make([]byte, 100)...), "Log at byte 3: length 4096 needs more"},
		{"string longer than the input", []byte{1, 0, hasLastID, 0x80, 0x80, 0x04}, "LastID at byte 3: length 65536 needs more"},
		{"varint overflow", append([]byte{1, 0, hasOpened}, append(bytes.Repeat([]byte{0xff}, 10), 1)...), "Opened at byte 3: malformed varint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got State
			err := got.UnmarshalBinary(tc.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "alerting: decode binary state: ")
		})
	}
}

func FuzzAlertStateUnmarshalBinary(f *testing.F) {
	for _, st := range codecAlertStates(f) {
		data, err := st.MarshalBinary()
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0xff})
	f.Add([]byte{2, 0, 0, 0x3f})
	f.Add([]byte{2, 0, 0, hasMarks, 1, 5, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if st.UnmarshalBinary(data) != nil {
			return
		}
		again, err := st.MarshalBinary()
		require.NoError(t, err, "a decoded state encodes")
		var back State
		require.NoError(t, back.UnmarshalBinary(again), "a re-encoded state decodes")
		require.Equal(t, st, back)
		third, err := back.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, again, third, "encoding is a function of the state")
		// JSON mends invalid UTF-8 and refuses years past 9999; it agrees
		// on everything else.
		if _, err := json.Marshal(&st); err == nil && validAlertStrings(&st) {
			require.Equal(t, jsonAlertRoundTrip(t, &st), &st, "binary and JSON agree")
		}
	})
}

func validAlertStrings(st *State) bool {
	acts := append([]Action(nil), st.Log...)
	for _, a := range []*Action{st.Ack, st.Snooze} {
		if a != nil {
			acts = append(acts, *a)
		}
	}
	ok := utf8.ValidString(st.LastID)
	for _, a := range acts {
		for _, s := range []string{a.Kind, a.By, a.Note, a.AlertID} {
			ok = ok && utf8.ValidString(s)
		}
	}
	return ok
}

// BenchmarkAlertStateCodec compares the checkpoint formats on a customer
// with an acknowledged, snoozed alert and a log.
func BenchmarkAlertStateCodec(b *testing.B) {
	st := codecAlertStates(b)["resolved after ack, snooze and unsnooze"]
	bin, err := st.MarshalBinary()
	require.NoError(b, err)
	js, err := json.Marshal(st)
	require.NoError(b, err)
	for _, bc := range []struct {
		name string
		size int
		run  func() error
	}{
		{"binary-encode", len(bin), func() error { _, err := st.MarshalBinary(); return err }},
		{"binary-decode", len(bin), func() error { var back State; return back.UnmarshalBinary(bin) }},
		{"json-encode", len(js), func() error { _, err := json.Marshal(st); return err }},
		{"json-decode", len(js), func() error { var back State; return json.Unmarshal(js, &back) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.size), "B/record")
		})
	}
}
