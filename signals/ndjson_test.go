package signals

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReader(t *testing.T) {
	long := `{"id":"x","kind":"usage","customer":"c","time":"2026-06-01T00:00:00Z","data":{"user":"` +
		strings.Repeat("u", MaxEnvelope) + `"}}`
	in := strings.Join([]string{
		`{"profile":{"id":"acme","owner":"alice"}}`,
		``,
		`   `,
		`{"id":"s1","kind":"usage","customer":"acme","time":"2026-06-01T00:00:00Z"}` + "\r",
		long,
		`{"profile":{"id":"acme","stage":"teen"}}`,
		`not json`,
		`{"id":"s2","kind":"nps","customer":"acme","time":"2026-06-01T00:00:00Z","data":{"score":5}}`,
	}, "\n") // no final newline: the last line still counts
	r := NewLineReader(strings.NewReader(in), time.Time{})
	var got []Line
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		l.Raw = nil
		got = append(got, l)
	}
	require.Len(t, got, 6)
	assert.Equal(t, 1, got[0].No)
	require.NotNil(t, got[0].Profile)
	assert.Equal(t, "alice", got[0].Profile.Owner)
	assert.Equal(t, 4, got[1].No, "blank lines are counted and skipped")
	require.NotNil(t, got[1].Signal, "a CRLF line is a signal: %v", got[1].Err)
	assert.Equal(t, "s1", got[1].Signal.ID)
	assert.Equal(t, 5, got[2].No)
	assert.Equal(t, ReasonOversize, ReasonOf(got[2].Err))
	assert.Equal(t, ReasonOutOfRange, ReasonOf(got[3].Err), "a profile line is validated as a profile")
	assert.Equal(t, ReasonMalformed, ReasonOf(got[4].Err))
	assert.Equal(t, 8, got[5].No)
	require.NotNil(t, got[5].Signal)
	assert.Equal(t, int64(len(in)), r.Offset())
}

func TestReaderChecksTheFutureAgainstNow(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	r := NewLineReader(strings.NewReader(`{"id":"s","kind":"usage","customer":"c","time":"2026-06-03T00:00:00Z"}`), now)
	l, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, ReasonFarFuture, ReasonOf(l.Err))
}

// FuzzParseLine feeds arbitrary lines to the signal-file decoder: it must
// never panic, and a line it accepts is exactly one of a signal or a
// profile, valid as such.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"profile":{"id":"acme","owner":"alice"}}`))
	f.Add([]byte(`{"id":"s1","kind":"usage","customer":"acme","time":"2026-06-01T00:00:00Z"}`))
	f.Add([]byte(`{"profile":null,"id":"s1","kind":"nps","customer":"a","time":"2026-06-01T00:00:00Z","data":{"score":5}}`))
	f.Add([]byte(`{"profile":{"id":""}}`))
	now := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, line []byte) {
		l := ParseLine(1, line, now)
		switch {
		case l.Err != nil:
			if l.Signal != nil || l.Profile != nil {
				t.Fatalf("a rejected line carries a value: %+v", l)
			}
			if ReasonOf(l.Err) == "" {
				t.Fatalf("a rejection without a reason: %v", l.Err)
			}
		case l.Profile != nil:
			if l.Signal != nil {
				t.Fatal("a line is both a profile and a signal")
			}
			if err := l.Profile.Validate(); err != nil {
				t.Fatalf("an accepted profile is invalid: %v", err)
			}
		case l.Signal == nil:
			t.Fatal("an accepted line holds neither a signal nor a profile")
		}
	})
}
