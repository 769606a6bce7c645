package signals

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validProfile = `{"id":"acme-corp","name":"Acme","arr":120000,"currency":"EUR","renewal_date":"2027-01-15",
	"segment":"enterprise","owner":"alice","plan":"pro","stage":"renewal","crm_id":"0015g00000"}`

var validProfileWant = Profile{ID: "acme-corp", Name: "Acme", ARR: 120000, Currency: "EUR", RenewalDate: "2027-01-15",
	Segment: "enterprise", Owner: "alice", Plan: "pro", Stage: "renewal"}

func TestDecodeProfileValid(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		body    string
		want    Profile
	}{
		{name: "offline", body: validProfile, want: validProfileWant},
		{name: "with subject", subject: "risk.customers.acme-corp", body: validProfile, want: validProfileWant},
		{name: "id derived from subject", subject: "risk.customers.acme-corp", body: `{"arr":10}`,
			want: Profile{ID: "acme-corp", ARR: 10}},
		{name: "id derived from encoded subject", subject: CustomerPrefix + SubjectToken("a.b.>"), body: `{"owner":"bob"}`,
			want: Profile{ID: "a.b.>", Owner: "bob"}},
		{name: "odd id with matching subject", subject: CustomerPrefix + SubjectToken("x *"), body: `{"id":"x *"}`,
			want: Profile{ID: "x *"}},
		{name: "renewal as RFC 3339", body: `{"id":"a","renewal_date":"2027-01-15T00:00:00Z"}`,
			want: Profile{ID: "a", RenewalDate: "2027-01-15T00:00:00Z"}},
		{name: "zero arr", body: `{"id":"a","arr":0}`, want: Profile{ID: "a"}},
		{name: "parent and team", body: `{"id":"acme-emea","parent":"acme","team":"emea-cs"}`,
			want: Profile{ID: "acme-emea", Parent: "acme", Team: "emea-cs"}},
		{name: "parent with any bytes", body: `{"id":"a","parent":"a.b.>"}`, want: Profile{ID: "a", Parent: "a.b.>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeProfile(tc.subject, []byte(tc.body))
			require.NoError(t, err)
			want := tc.want
			want.Intern() // decoding interns, and parses the renewal date once
			assert.Equal(t, want, got)
			assert.NoError(t, got.Validate())
		})
	}
}

func TestDecodeProfileRejects(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		body    string
		reason  RejectReason
		field   string
	}{
		{name: "malformed", body: `{"id":`, reason: ReasonMalformed},
		{name: "trailing garbage", body: `{"id":"a"}}`, reason: ReasonMalformed},
		{name: "NaN arr", body: `{"id":"a","arr":NaN}`, reason: ReasonMalformed},
		{name: "oversize", body: `{"id":"a","name":"` + strings.Repeat("n", MaxEnvelope) + `"}`, reason: ReasonOversize},
		{name: "invalid UTF-8", body: "{\"id\":\"a\",\"name\":\"\xff\"}", reason: ReasonInvalidUTF8},
		{name: "missing id", body: `{"arr":1}`, reason: ReasonMissingField, field: "id"},
		{name: "id too long", body: `{"id":"` + strings.Repeat("i", MaxCustomer+1) + `"}`, reason: ReasonTooLong, field: "id"},
		{name: "arr as string", body: `{"id":"a","arr":"100"}`, reason: ReasonWrongType, field: "arr"},
		{name: "negative arr", body: `{"id":"a","arr":-1}`, reason: ReasonOutOfRange, field: "arr"},
		{name: "huge arr", body: `{"id":"a","arr":1e13}`, reason: ReasonOutOfRange, field: "arr"},
		{name: "arr 1e400", body: `{"id":"a","arr":1e400}`, reason: ReasonOutOfRange, field: "arr"},
		{name: "lower-case currency", body: `{"id":"a","currency":"eur"}`, reason: ReasonOutOfRange, field: "currency"},
		{name: "four-letter currency", body: `{"id":"a","currency":"EURO"}`, reason: ReasonOutOfRange, field: "currency"},
		{name: "currency of symbols", body: `{"id":"a","currency":"12$"}`, reason: ReasonOutOfRange, field: "currency"},
		{name: "bad stage", body: `{"id":"a","stage":"churned"}`, reason: ReasonOutOfRange, field: "stage"},
		{name: "bad renewal date", body: `{"id":"a","renewal_date":"soon"}`, reason: ReasonWrongType, field: "renewal_date"},
		{name: "renewal date in 1990", body: `{"id":"a","renewal_date":"1990-01-01"}`, reason: ReasonOutOfRange, field: "renewal_date"},
		{name: "renewal date with a 1000-digit fraction", body: `{"id":"a","renewal_date":"2027-01-15T00:00:00.` + strings.Repeat("1", 1000) + `Z"}`,
			reason: ReasonTooLong, field: "renewal_date"},
		{name: "owner too long", body: `{"id":"a","owner":"` + strings.Repeat("o", MaxField+1) + `"}`, reason: ReasonTooLong, field: "owner"},
		{name: "own parent", body: `{"id":"a","parent":"a"}`, reason: ReasonOutOfRange, field: "parent"},
		{name: "parent too long", body: `{"id":"a","parent":"` + strings.Repeat("p", MaxCustomer+1) + `"}`, reason: ReasonTooLong, field: "parent"},
		{name: "parent as number", body: `{"id":"a","parent":7}`, reason: ReasonWrongType, field: "parent"},
		{name: "team too long", body: `{"id":"a","team":"` + strings.Repeat("t", MaxField+1) + `"}`, reason: ReasonTooLong, field: "team"},
		{name: "subject token and id mismatch", subject: "risk.customers.globex", body: `{"id":"acme-corp"}`, reason: ReasonBadSubject, field: "id"},
		{name: "non-canonical subject token", subject: "risk.customers.=YWNtZS1jb3Jw", body: `{"id":"acme-corp"}`, reason: ReasonBadSubject, field: "id"},
		{name: "junk subject token without id", subject: "risk.customers.=!!", body: `{}`, reason: ReasonBadSubject},
		{name: "subject with extra token", subject: "risk.customers.acme-corp.x", body: `{"id":"acme-corp"}`, reason: ReasonBadSubject},
		{name: "subject without token", subject: "risk.customers.", body: `{"id":"acme-corp"}`, reason: ReasonBadSubject},
		{name: "signal subject", subject: "risk.signals.usage.acme-corp", body: `{"id":"acme-corp"}`, reason: ReasonBadSubject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeProfile(tc.subject, []byte(tc.body))
			require.Error(t, err)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.reason, e.Reason, "error: %v", err)
			assert.Equal(t, tc.field, e.Field, "error: %v", err)
			assert.Equal(t, Profile{}, got)
		})
	}
}

// TestProfileValidate covers what JSON cannot carry but a Go caller (the
// HTTP handler, a test) can put in a Profile.
func TestProfileValidate(t *testing.T) {
	cases := []struct {
		name   string
		p      Profile
		reason RejectReason
		field  string
	}{
		{name: "NaN arr", p: Profile{ID: "a", ARR: math.NaN()}, reason: ReasonOutOfRange, field: "arr"},
		{name: "infinite arr", p: Profile{ID: "a", ARR: math.Inf(1)}, reason: ReasonOutOfRange, field: "arr"},
		{name: "invalid UTF-8 id", p: Profile{ID: "acme\xff"}, reason: ReasonInvalidUTF8, field: "id"},
		{name: "invalid UTF-8 owner", p: Profile{ID: "a", Owner: "al\xc3"}, reason: ReasonInvalidUTF8, field: "owner"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.reason, e.Reason, "error: %v", err)
			assert.Equal(t, tc.field, e.Field, "error: %v", err)
		})
	}

	// NaN cannot even reach Validate through JSON: it has no literal and
	// encoding/json refuses to write one.
	_, err := json.Marshal(Profile{ID: "a", ARR: math.NaN()})
	require.Error(t, err)
}

func TestDaysToRenewal(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		renewal string
		want    int64
	}{
		{name: "unknown", renewal: "", want: -1},
		{name: "unparsable", renewal: "soon", want: -1},
		{name: "past", renewal: "2026-11-01", want: -1},
		{name: "yesterday", renewal: "2026-11-19", want: -1},
		{name: "today, already begun", renewal: "2026-11-20", want: 0},
		{name: "tomorrow, 12 hours away, rounds up", renewal: "2026-11-21", want: 1},
		{name: "in 55 days", renewal: "2027-01-14", want: 55},
		{name: "exact whole days", renewal: "2026-11-23T12:00:00Z", want: 3},
		{name: "one nanosecond past a whole day rounds up", renewal: "2026-11-23T12:00:00.000000001Z", want: 4},
		{name: "a minute from now", renewal: "2026-11-20T12:01:00Z", want: 1},
		{name: "exactly now", renewal: "2026-11-20T12:00:00Z", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Profile{ID: "a", RenewalDate: tc.renewal}
			assert.Equal(t, tc.want, p.DaysToRenewal(now))
		})
	}
}

func TestRenewal(t *testing.T) {
	assert.Equal(t, time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), Profile{RenewalDate: "2027-01-15"}.Renewal())
	assert.True(t, Profile{RenewalDate: "15.01.2027"}.Renewal().IsZero())
	assert.True(t, Profile{}.Renewal().IsZero())
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add("", []byte(validProfile))
	f.Add("risk.customers.acme-corp", []byte(validProfile))
	f.Add("risk.customers.acme-corp", []byte(`{}`))
	f.Add(CustomerPrefix+SubjectToken("a.b.>"), []byte(`{"arr":1e400}`))
	f.Add("risk.customers.=", []byte(`{"currency":"12$","stage":"x"}`))
	f.Add("", []byte(`{"id":"a","renewal_date":"2027-01-15T00:00:00.123Z","arr":-0}`))
	f.Add("", []byte(`null`))
	f.Add("", []byte(`{"id":"a","parent":"b","team":"emea"}`))
	f.Add("", []byte(`{"id":"a","parent":"a"}`))
	f.Add("", []byte("{\"id\":\"a\",\"team\":\"\xff\"}"))

	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		p, err := DecodeProfile(subject, data)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, Profile{}, p)
			return
		}
		require.NoError(t, p.Validate())

		// What was accepted is stored and re-published: it must decode
		// again, under its own subject, to the same profile.
		b, err := json.Marshal(p)
		require.NoError(t, err)
		again, err := DecodeProfile(CustomerPrefix+SubjectToken(p.ID), b)
		require.NoError(t, err)
		require.Equal(t, p, again)
	})
}

// Profiles repeat a few values across a whole customer base; decoded
// profiles must share them rather than each keep a copy.
func TestDecodeProfileSharesRepeatedValues(t *testing.T) {
	a, err := DecodeProfile("", []byte(`{"id":"a","name":"A","currency":"EUR","renewal_date":"2027-03-01","segment":"enterprise","owner":"alice","plan":"pro","stage":"renewal"}`))
	require.NoError(t, err)
	b, err := DecodeProfile("", []byte(`{"id":"b","name":"B","currency":"EUR","renewal_date":"2027-03-01","segment":"enterprise","owner":"alice","plan":"pro","stage":"renewal"}`))
	require.NoError(t, err)
	for _, f := range []struct{ name, x, y string }{
		{"currency", a.Currency, b.Currency}, {"renewal_date", a.RenewalDate, b.RenewalDate},
		{"segment", a.Segment, b.Segment}, {"owner", a.Owner, b.Owner}, {"plan", a.Plan, b.Plan}, {"stage", a.Stage, b.Stage},
	} {
		assert.Equal(t, f.x, f.y, f.name)
		assert.Same(t, unsafe.StringData(f.x), unsafe.StringData(f.y), f.name)
	}
	assert.NotSame(t, unsafe.StringData(a.Name), unsafe.StringData(b.Name), "names are not interned")
}

// Intern parses the renewal date once; a profile built by hand, never
// interned, parses it when asked. Both answer the same.
func TestRenewalParsedOnceOrOnDemand(t *testing.T) {
	for _, date := range []string{"2027-01-15", "2027-01-15T10:00:00Z", "", "not a date"} {
		literal := Profile{ID: "a", RenewalDate: date}
		interned := literal
		interned.Intern()
		assert.Equal(t, literal.Renewal(), interned.Renewal(), date)
		assert.Equal(t, literal.DaysToRenewal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)),
			interned.DaysToRenewal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)), date)
	}
	p := Profile{ID: "a", RenewalDate: "2027-01-15"}
	p.Intern()
	p.RenewalDate = "2030-01-01" // a copy edited after interning must be interned again
	p.Intern()
	assert.Equal(t, 2030, p.Renewal().Year())
}
