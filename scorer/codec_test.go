package scorer_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// codecStates are customers as the model leaves them, plus the corners
// JSON treats specially (nil and empty slices, a Before with nothing in
// it, events out of order).
func codecStates(tb testing.TB) map[string]*scorer.State {
	tb.Helper()
	m := defaultModel(tb)
	p := profile()
	states := map[string]*scorer.State{}
	add := func(name string, at float64, sigs ...signals.Signal) *scorer.State {
		st := build(tb, m, p, sigs...)
		if at > 0 {
			m.Evaluate(st, p, on(at))
		}
		states[name] = st
		return st
	}

	states["new customer"] = scorer.NewState("acme")
	states["zero value"] = &scorer.State{}
	add("healthy", 35, healthyHistory()...)
	add("at risk", 35, atRiskHistory()...).Seq = 1 << 40
	add("critical", 35.5, criticalHistory()...)
	add("not evaluated", 0, atRiskHistory()...)

	// More sparse events than the list keeps, so the oldest go to Before.
	crowded := daily(0, 55, 50)
	for i := range 100 {
		crowded = append(crowded, ticket(float64(i)/2+0.1, fmt.Sprintf("k%d", i), signals.TicketOpened, "normal"))
	}
	crowded = append(crowded, nps(3, 6), nps(20, 9), contact(5), champion(6, "left"), rating(7, "red"),
		renewed(8, on(400).Format("2006-01-02")))
	add("values kept aside", 56, crowded...)

	// Every optional event field: response times, reach, percentages,
	// sentiment, urgent flags.
	add("every event field", 36, concat(daily(0, 35, 80), []signals.Signal{
		answered(3, "r1", 42.5), answered(4, "r2", 0.25),
		ticket(5, "u1", signals.TicketOpened, "urgent"),
		commercial(6, signals.DowngradeRequest, ptr(-12.5)),
		commercial(7, signals.ContractChange, ptr(30.0)),
		mention(8, ptr(-0.75), "", ptr(12000.0)),
		mention(9, nil, "Love the new dashboard, great support", nil),
		billing(10, "card_expiring"), billing(11, "invoice_overdue"), billing(12, "payment_succeeded"),
		champion(13, "added"), rating(14, "yellow"), contact(15),
		{ID: "churn", Kind: signals.KindOutcome, Time: on(34), Outcome: signals.Outcome{Type: "churned"}},
	})...)

	// Outcomes with their warnings, and a warning still open.
	add("outcomes and fates", 45, concat(criticalHistory(), daily(35, 45, 100), []signals.Signal{
		outcome(10.5, "renewed", nil), outcome(36.5, "expanded", ptr(150000.0)), outcome(37.5, "downgraded", ptr(90000.0)),
	})...)

	var npsCode, contactCode scorer.Code
	require.NoError(tb, npsCode.UnmarshalText([]byte("nps")))
	require.NoError(tb, contactCode.UnmarshalText([]byte("contact")))
	states["empty slices and an empty Before"] = &scorer.State{Customer: "edge", Events: []scorer.Event{},
		Fired: []scorer.Firing{}, Before: &scorer.Before{}, Score: math.Copysign(0, -1), HistoryTop: math.MinInt32}
	states["events out of order"] = &scorer.State{Customer: "edge", Tier: rules.Critical, Events: []scorer.Event{
		{T: 300, ID: "b", Code: npsCode, V: 3}, {T: 100, ID: "", Code: contactCode}, {T: 300, ID: "a", Code: contactCode, Flags: 0xff},
		{T: math.MinInt64, ID: "min", Code: npsCode, Key: math.MaxUint64}, {T: math.MaxInt64, ID: "max", Code: npsCode, W: -1.5},
	}, Fired: []scorer.Firing{{Rule: "usage-drop", At: math.MinInt64}, {Rule: "", At: math.MaxInt64}}, Committed: 5}
	// The raw sum past the cap and below zero, which the score hides.
	states["raw past the cap"] = &scorer.State{Customer: "cap", Score: 100, Raw: 250.5, Tier: rules.Critical}
	states["raw below zero"] = &scorer.State{Customer: "protected", Raw: -42.5}

	require.Equal(tb, rules.AtRisk, states["at risk"].Tier)
	require.NotEmpty(tb, states["critical"].Fired)
	require.NotNil(tb, states["values kept aside"].Before, "the list overflowed into Before")
	every := states["every event field"]
	require.NotZero(tb, every.Churned)
	fates := states["outcomes and fates"]
	require.Len(tb, fates.Outcomes, 3)
	require.NotZero(tb, fates.Outcomes[1].Alert)
	require.NotZero(tb, fates.AtRisk)
	var key, v, w bool
	for _, ev := range every.Events {
		key, v, w = key || ev.Key != 0, v || ev.V != 0, w || ev.W != 0
	}
	require.True(tb, key && v && w, "events with a key, a value and a reach")
	return states
}

// jsonRoundTrip is what a JSON checkpoint gives back on restart.
func jsonRoundTrip(tb testing.TB, st *scorer.State) *scorer.State {
	tb.Helper()
	data, err := json.Marshal(st)
	require.NoError(tb, err)
	var back scorer.State
	require.NoError(tb, json.Unmarshal(data, &back))
	back.Restore()
	return &back
}

func TestStateBinaryRoundTrip(t *testing.T) {
	for name, st := range codecStates(t) {
		t.Run(name, func(t *testing.T) {
			data, err := st.MarshalBinary()
			require.NoError(t, err)
			var got scorer.State
			require.NoError(t, got.UnmarshalBinary(data))
			assert.Equal(t, jsonRoundTrip(t, st), &got, "binary and JSON checkpoints restore the same state")

			for field, s := range map[string][2]int{
				"usage":        {len(got.Usage.C), cap(got.Usage.C)},
				"active users": {len(got.ActiveUsers.C), cap(got.ActiveUsers.C)},
				"opened":       {len(got.Opened.C), cap(got.Opened.C)},
				"events":       {len(got.Events), cap(got.Events)},
				"fired":        {len(got.Fired), cap(got.Fired)},
			} {
				assert.Equal(t, s[0], s[1], "%s: length and capacity", field)
			}

			again, err := got.MarshalBinary()
			require.NoError(t, err)
			var twice scorer.State
			require.NoError(t, twice.UnmarshalBinary(again))
			assert.Equal(t, &got, &twice, "a restored state encodes to itself")

			if js, err := json.Marshal(st); err == nil && len(st.Events) > 0 {
				assert.Less(t, len(data), len(js)/2, "binary is at most half of JSON")
			}
		})
	}
}

// A restored state scores the next signals exactly like the one that
// never left memory.
func TestStateBinaryRestoresScoring(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, criticalHistory()...)
	m.Evaluate(st, p, on(35.5))
	data, err := st.MarshalBinary()
	require.NoError(t, err)
	var back scorer.State
	require.NoError(t, back.UnmarshalBinary(data))

	next := []signals.Signal{ticket(35.6, "after", signals.TicketOpened, "urgent"), usage(36.2, 5), nps(37, 2)}
	for i := range next {
		next[i].ID, next[i].Customer = fmt.Sprintf("after-%d", i), "acme"
		require.NoError(t, m.Apply(st, &next[i], p))
		require.NoError(t, m.Apply(&back, &next[i], p))
	}
	assert.Equal(t, m.Explain(st, p, on(38), nil), m.Explain(&back, p, on(38), nil))
	assert.ErrorIs(t, m.Apply(&back, &next[2], p), scorer.ErrDuplicate, "the restored state remembers the ids it saw")
}

func TestStateAppendBinary(t *testing.T) {
	st := codecStates(t)["at risk"]
	whole, err := st.MarshalBinary()
	require.NoError(t, err)

	prefix := []byte("header")
	out, err := st.AppendBinary(prefix)
	require.NoError(t, err)
	assert.Equal(t, "header", string(out[:len(prefix)]), "what was in b stays")
	assert.Equal(t, whole, out[len(prefix):])

	var bad scorer.State
	require.NoError(t, bad.UnmarshalBinary(whole))
	bad.Score = math.NaN()
	out, err = bad.AppendBinary(prefix)
	require.Error(t, err)
	assert.Equal(t, prefix, out, "a failed append leaves b as it was")
}

// MarshalBinary sizes the encoding exactly (one allocation), and
// AppendBinary does not reallocate a buffer that has room for it.
func TestStateBinarySize(t *testing.T) {
	for name, st := range codecStates(t) {
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

// Rule names are interned: a million restored customers share one copy of
// each.
func TestStateBinaryInternsRuleNames(t *testing.T) {
	st := codecStates(t)["critical"]
	require.NotEmpty(t, st.Fired)
	data, err := st.MarshalBinary()
	require.NoError(t, err)
	var a, b scorer.State
	require.NoError(t, a.UnmarshalBinary(data))
	require.NoError(t, b.UnmarshalBinary(bytes.Clone(data)))
	for i := range a.Fired {
		assert.Same(t, unsafe.StringData(a.Fired[i].Rule), unsafe.StringData(b.Fired[i].Rule), "rule %s", a.Fired[i].Rule)
	}
}

func TestStateBinaryRefusesWhatJSONRefuses(t *testing.T) {
	var badCode scorer.Code = 200
	for name, st := range map[string]*scorer.State{
		"NaN score":         {Score: math.NaN()},
		"infinite score":    {Score: math.Inf(-1)},
		"NaN raw score":     {Raw: math.NaN()},
		"unknown tier":      {Tier: rules.Tier(9)},
		"unknown code":      {Events: []scorer.Event{{T: 1, ID: "a", Code: badCode}}},
		"no code":           {Events: []scorer.Event{{T: 1, ID: "a"}}},
		"infinite value":    {Events: []scorer.Event{{T: 1, ID: "a", Code: 1, V: math.Inf(1)}}},
		"NaN reach":         {Events: []scorer.Event{{T: 1, ID: "a", Code: 1, W: float32(math.NaN())}}},
		"customer too long": {Customer: string(make([]byte, 65<<10))},
	} {
		t.Run(name, func(t *testing.T) {
			_, jsonErr := json.Marshal(st)
			data, err := st.MarshalBinary()
			require.Error(t, err)
			assert.Nil(t, data)
			if name != "unknown tier" && name != "customer too long" {
				assert.Error(t, jsonErr, "JSON refuses it too")
			}
		})
	}
}

// Every cut of a valid state is an error, never a panic, and leaves the
// target as it was.
func TestStateBinaryTruncated(t *testing.T) {
	for name, st := range codecStates(t) {
		t.Run(name, func(t *testing.T) {
			data, err := st.MarshalBinary()
			require.NoError(t, err)
			target := scorer.NewState("untouched")
			want := jsonRoundTrip(t, target)
			*target = *want
			for n := range len(data) {
				err := target.UnmarshalBinary(data[:n])
				require.Error(t, err, "cut at %d of %d bytes", n, len(data))
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d of %d bytes", n, len(data))
			}
			assert.Equal(t, want, target)
		})
	}
}

func TestStateBinaryRejects(t *testing.T) {
	st := codecStates(t)["at risk"]
	st.Score, st.Tier = 71.25, rules.AtRisk
	good, err := st.MarshalBinary()
	require.NoError(t, err)

	score := binary.LittleEndian.AppendUint64(nil, math.Float64bits(st.Score))
	at := bytes.Index(good, score)
	require.Positive(t, at, "the test finds the score by its bytes")
	require.Equal(t, -1, bytes.Index(good[at+1:], score), "the score's bytes are unique")

	// The first event record follows the ids of all events.
	single := &scorer.State{Customer: "x", Events: []scorer.Event{{T: 7, ID: "only-event", Code: st.Events[0].Code}}}
	one, err := single.MarshalBinary()
	require.NoError(t, err)
	codeAt := bytes.Index(one, []byte("only-event")) + len("only-event")

	patch := func(data []byte, at int, v ...byte) []byte {
		out := bytes.Clone(data)
		copy(out[at:], v)
		return out
	}
	nan := binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN()))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "version"},
		{"unknown version", patch(good, 0, 6), "unsupported format version 6"},
		{"version zero", patch(good, 0, 0), "unsupported format version 0"},
		{"a JSON checkpoint", []byte(`{"customer":"acme"}`), "unsupported format version 123"},
		{"trailing byte", append(bytes.Clone(good), 0), "1 trailing bytes"},
		{"NaN score", patch(good, at, nan...), "Score at byte"},
		{"unknown tier", patch(good, at+8, 4), "unknown tier"},
		{"NaN raw score", patch(good, len(good)-8, nan...), "Raw at byte"},
		{"unknown event code", patch(one, codeAt, 99), "Events[0].Code at byte"},
		{"event code zero", patch(one, codeAt, 0), "unknown event code 0"},
		{"unknown event field bits", patch(one, codeAt+2, 0x80), "Events[0].fields"},
		{"ring over the limit", []byte{1, 0, 0, 0, 0, 0, 0x81, 0x40}, "Usage.C at byte 6: length 8193 is over the limit of 4096"},
		{"ring longer than the input", []byte{1, 0, 0, 0, 0, 0, 0x80, 0x20, 1, 2}, "Usage.C at byte 6: length 4096 needs more than the 2 bytes left"},
		{"customer longer than the input", []byte{1, 0x80, 0x80, 0x04}, "Customer at byte 1: length 65536 needs more"},
		{"customer over the limit", []byte{1, 0x81, 0x80, 0x04}, "over the limit of 65536"},
		{"top out of range", []byte{1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10}, "Usage.Top at byte 5: 2147483648 is out of the int32 range"},
		{"varint overflow", append([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, good...), "First at byte 2: malformed varint"},
		{"active users over 16 bits", []byte{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0x80, 0x80, 0x04}, "ActiveUsers.C at byte 10: day 0 holds 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got scorer.State
			err := got.UnmarshalBinary(tc.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "scorer: decode binary state: ")
		})
	}
}

// Lengths as large as the limits allow cost at most a small multiple of
// the input in memory, and lengths past the input cost nothing.
func TestStateBinaryAllocationIsBounded(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	uv := func(n uint64) []byte { return binary.AppendUvarint(nil, n) }
	header := []byte{1, 0, 0, 0, 0}                                           // version, Customer, First, Watermark, Seq
	rings := []byte{0, 0, 0, 0, 0, 0}                                         // Top and length of three empty rings
	usage := []byte{0, 0, 0, 0}                                               // FirstUsage, LastUsage, LastUsageID, UsageBefore
	tail := cat(uv(0), uv(0), []byte{0, 0}, make([]byte, 8*16), []byte{0, 0}) // no events, no Before, Churned, Seen, SeenPos, Committed
	// The smallest valid event: code 1, no flags or fields, T and id length 0.
	event := []byte{1, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		data []byte
		want string // where decoding stops
	}{
		{"full usage ring", cat(header, []byte{0}, uv(4096), bytes.Repeat([]byte{1}, 4096)), "ActiveUsers.Top"},
		{"full event list", cat(header, rings, usage, uv(4096), uv(0), bytes.Repeat(event, 4096)), "Before at"},
		{"full firings", cat(header, rings, usage, tail, uv(4096), bytes.Repeat([]byte{0, 0}, 4096)), "Score at"},
		{"ring longer than input", cat(header, []byte{0}, uv(4096), make([]byte, 100)), "Usage.C at"},
		{"events longer than input", cat(header, rings, usage, uv(4096), uv(0), make([]byte, 100)), "Events at"},
		{"ids longer than input", cat(header, rings, usage, uv(1), uv(1<<30), make([]byte, 100)), "Events ids at"},
		{"customer over the limit", cat([]byte{1}, uv(1<<40), make([]byte, 100)), "Customer at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got scorer.State
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := got.UnmarshalBinary(tc.data)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(24*len(tc.data)+4096), "bytes allocated for %d bytes of input", len(tc.data))
		})
	}
}

func FuzzStateUnmarshalBinary(f *testing.F) {
	for _, st := range codecStates(f) {
		data, err := st.MarshalBinary()
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	// Version 2 states, as riskd wrote them before ActiveDays.
	for _, st := range codecStates(f) {
		f.Add(asVersion2(f, st))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var st scorer.State
		if st.UnmarshalBinary(data) != nil {
			return
		}
		again, err := st.MarshalBinary()
		require.NoError(t, err, "a decoded state encodes")
		var back scorer.State
		require.NoError(t, back.UnmarshalBinary(again), "a re-encoded state decodes")
		require.Equal(t, &st, &back)
		third, err := back.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, again, third, "encoding is a function of the state")
		// JSON mends invalid UTF-8; it agrees on everything else.
		if validStrings(&st) {
			require.Equal(t, jsonRoundTrip(t, &st), &st, "binary and JSON agree")
		}
	})
}

func validStrings(st *scorer.State) bool {
	ss := []string{st.Customer, st.LastUsageID}
	for _, ev := range st.Events {
		ss = append(ss, ev.ID)
	}
	for _, f := range st.Fired {
		ss = append(ss, f.Rule)
	}
	if b := st.Before; b != nil {
		ss = append(ss, b.NPS[0].ID, b.NPS[1].ID, b.Rating.ID, b.Renewal.ID)
	}
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// BenchmarkStateCodec compares the checkpoint formats on an at-risk
// customer. Decoding includes Restore, as a restart does.
func BenchmarkStateCodec(b *testing.B) {
	m := defaultModel(b)
	p := profile()
	st := build(b, m, p, atRiskHistory()...)
	r := m.Evaluate(st, p, on(35))
	if r.Tier != rules.AtRisk {
		b.Fatalf("the benchmark customer is %s, want at_risk", r.Tier)
	}
	bin, err := st.MarshalBinary()
	require.NoError(b, err)
	js, err := json.Marshal(st)
	require.NoError(b, err)

	b.Run("binary-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(bin)), "B/record")
	})
	b.Run("binary-append", func(b *testing.B) {
		buf := make([]byte, 0, len(bin))
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = st.AppendBinary(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(bin)), "B/record")
	})
	b.Run("binary-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var back scorer.State
			if err := back.UnmarshalBinary(bin); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(bin)), "B/record")
	})
	b.Run("json-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(st); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(js)), "B/record")
	})
	b.Run("json-decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var back scorer.State
			if err := json.Unmarshal(js, &back); err != nil {
				b.Fatal(err)
			}
			back.Restore()
		}
		b.ReportMetric(float64(len(js)), "B/record")
	})
}

// beforeOutcomes is st as a riskd from before version 4 knew it: no
// outcome and no open warning.
func beforeOutcomes(st *scorer.State) *scorer.State {
	old := *st
	old.Outcomes, old.OutcomesFloor, old.AtRisk = nil, 0, 0
	return &old
}

// asVersion2 is st as riskd wrote it before version 3: the layout of the
// current version up to the Kinds, without the ActiveDays of version 3,
// the outcomes section of version 4 and the Raw of version 5 that follow
// them. The outcomes
// are dropped (see beforeOutcomes), so that section is its empty form: no
// outcome, OutcomesFloor and AtRisk 0.
func asVersion2(tb testing.TB, st *scorer.State) []byte {
	tb.Helper()
	data, err := beforeOutcomes(st).MarshalBinary()
	require.NoError(tb, err)
	require.Equal(tb, byte(5), data[0])
	// Version 5's Raw, the last 8 bytes, goes first.
	data = data[:len(data)-8]
	tail := append(binary.AppendUvarint(nil, uint64(st.ActiveDays)), 0, 0, 0)
	require.True(tb, bytes.HasSuffix(data, tail), "the encoding ends with ActiveDays and an empty outcomes section")
	v2 := bytes.Clone(data[:len(data)-len(tail)])
	v2[0] = 2
	return v2
}

// Version 2 states (before ActiveDays) still restore: ActiveDays is
// counted from the usage ring, which for these customers holds every
// active day, so they come back equal, with no outcome known.
func TestStateBinaryReadsVersion2(t *testing.T) {
	for name, st := range codecStates(t) {
		t.Run(name, func(t *testing.T) {
			var got scorer.State
			require.NoError(t, got.UnmarshalBinary(asVersion2(t, st)))
			want := jsonRoundTrip(t, beforeOutcomes(st))
			want.Raw = want.Score // not kept before version 5
			assert.Equal(t, want, &got)

			again, err := got.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, byte(5), again[0], "written back in the current version")
		})
	}
	st := codecStates(t)["healthy"]
	require.Equal(t, uint32(35), st.ActiveDays, "days 0 to 34")
	var got scorer.State
	require.NoError(t, got.UnmarshalBinary(asVersion2(t, st)))
	assert.Equal(t, uint32(35), got.ActiveDays)

	// The ActiveDays of version 3 and later is read, not counted: a
	// customer whose first active days have left the ring keeps them.
	long := *st
	long.ActiveDays = 400
	data, err := long.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, got.UnmarshalBinary(data))
	assert.Equal(t, uint32(400), got.ActiveDays)
}

// A JSON checkpoint from before ActiveDays (no "ad") counts it from the
// usage ring, as a version 2 binary one does.
func TestStateJSONWithoutActiveDays(t *testing.T) {
	st := codecStates(t)["healthy"]
	data, err := json.Marshal(st)
	require.NoError(t, err)
	old := bytes.Replace(data, []byte(`,"ad":35`), nil, 1)
	require.NotEqual(t, data, old, "the state has ActiveDays")
	var back scorer.State
	require.NoError(t, json.Unmarshal(old, &back))
	back.Restore()
	assert.Equal(t, uint32(35), back.ActiveDays)
	assert.Equal(t, jsonRoundTrip(t, st), &back)
}

// riskd 0.1 wrote version 1 states (testdata/state_v1.bin is the "at risk"
// state as it wrote it, before its tickets were solved in the fixture and
// under the rules of the time): they still restore, with the latest event
// of each kind taken from the events they hold, each firing as its last
// day, and ActiveDays counted from the usage ring.
func TestStateBinaryReadsVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/state_v1.bin")
	require.NoError(t, err)
	require.Equal(t, byte(1), data[0])
	var st scorer.State
	require.NoError(t, st.UnmarshalBinary(data))
	m := defaultModel(t)
	p := profile()
	want := build(t, m, p, v1AtRiskHistory()...)
	assert.Equal(t, want.Customer, st.Customer)
	assert.Equal(t, 73.0, st.Score, "the score riskd 0.1's rules gave")
	assert.Equal(t, want.Events, st.Events)
	assert.Equal(t, uint32(35), st.ActiveDays, "days 0 to 34, all in the ring")
	assert.Equal(t, st.LastUsage, st.Kinds[signals.KindUsage.Index()])
	assert.Positive(t, st.Kinds[signals.KindTicket.Index()])
	assert.Zero(t, st.Kinds[signals.KindRating.Index()], "no rating ever came")
	for _, f := range st.Fired {
		assert.Equal(t, uint64(1), f.Mask, f.Rule)
	}
	again, err := st.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, byte(5), again[0], "written back in the current version")
	var back scorer.State
	require.NoError(t, back.UnmarshalBinary(again))
	assert.Equal(t, st.Kinds, back.Kinds)
	assert.Equal(t, st.ActiveDays, back.ActiveDays)
	assert.Equal(t, m.Explain(&st, p, on(38), nil), m.Explain(&back, p, on(38), nil))
}
