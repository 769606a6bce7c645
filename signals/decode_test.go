package signals

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testNow is the engine clock of every test; the example signals happen
// two hours before it.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

var exampleTime = time.Date(2026, 11, 20, 10, 4, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// env is an envelope as raw JSON values by key. body() starts from a valid
// usage signal for acme-corp; an override with an empty value drops the key,
// so that tests can write malformed or missing values as they appear on the
// wire.
type env map[string]string

var defaultEnv = env{
	"id":       `"sig-1"`,
	"kind":     `"usage"`,
	"customer": `"acme-corp"`,
	"time":     `"2026-11-20T10:04:00Z"`,
	"data":     `{}`,
}

func body(over env) string {
	m := maps.Clone(defaultEnv)
	for k, v := range over {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%q:%s", k, m[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// jsonString quotes s as a JSON string, for ids built in tests.
func jsonString(tb testing.TB, s string) string {
	tb.Helper()
	b, err := json.Marshal(s)
	require.NoError(tb, err)
	return string(b)
}

type validCase struct {
	name string
	kind Kind
	body string
	want Signal
}

// validCases holds a valid signal of every kind, plus the defaults. The fuzz
// seeds and examples reuse them.
var validCases = []validCase{
	{
		name: "usage",
		kind: KindUsage,
		body: `{"id":"seg-1","kind":"usage","customer":"acme-corp","time":"2026-11-20T10:04:00Z","source":"segment",
			"data":{"events":42,"user":"u-7","active_users":17,"unknown":[1,{"x":null}]}}`,
		want: Signal{ID: "seg-1", Kind: KindUsage, Customer: "acme-corp", Time: exampleTime, Source: "segment",
			Usage: Usage{Events: 42, User: "u-7", ActiveUsers: 17}},
	},
	{
		name: "usage events default to 1",
		kind: KindUsage,
		body: `{"id":"seg-2","kind":"usage","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"user":"u-7"}}`,
		want: Signal{ID: "seg-2", Kind: KindUsage, Customer: "acme-corp", Time: exampleTime,
			Usage: Usage{Events: 1, User: "u-7"}},
	},
	{
		name: "usage without data",
		kind: KindUsage,
		body: `{"id":"seg-3","kind":"usage","customer":"acme-corp","time":"2026-11-20T10:04:00Z"}`,
		want: Signal{ID: "seg-3", Kind: KindUsage, Customer: "acme-corp", Time: exampleTime, Usage: Usage{Events: 1}},
	},
	{
		name: "usage with null data and null events",
		kind: KindUsage,
		body: `{"id":"seg-4","kind":"usage","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"events":null}}`,
		want: Signal{ID: "seg-4", Kind: KindUsage, Customer: "acme-corp", Time: exampleTime, Usage: Usage{Events: 1}},
	},
	{
		name: "ticket",
		kind: KindTicket,
		body: `{"id":"zd-88412-opened","kind":"ticket","customer":"acme-corp","time":"2026-11-20T10:04:00Z","source":"zendesk",
			"data":{"ticket_id":"88412","status":"opened","priority":"urgent","first_response_minutes":95.5,"tags":["x"]}}`,
		want: Signal{ID: "zd-88412-opened", Kind: KindTicket, Customer: "acme-corp", Time: exampleTime, Source: "zendesk",
			Ticket: Ticket{TicketID: "88412", Status: TicketOpened, Priority: "urgent", FirstResponseMinutes: ptr(95.5)}},
	},
	{
		name: "ticket priority defaults to normal",
		kind: KindTicket,
		body: `{"id":"zd-88413-esc","kind":"ticket","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"ticket_id":"88413","status":"escalated"}}`,
		want: Signal{ID: "zd-88413-esc", Kind: KindTicket, Customer: "acme-corp", Time: exampleTime,
			Ticket: Ticket{TicketID: "88413", Status: TicketEscalated, Priority: "normal"}},
	},
	{
		name: "nps",
		kind: KindNPS,
		body: `{"id":"nps-1","kind":"nps","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"score":7,"comment":"meh"}}`,
		want: Signal{ID: "nps-1", Kind: KindNPS, Customer: "acme-corp", Time: exampleTime,
			NPS: NPS{Score: ptr[int64](7), Comment: "meh"}},
	},
	{
		name: "nps score 0",
		kind: KindNPS,
		body: `{"id":"nps-2","kind":"nps","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"score":0}}`,
		want: Signal{ID: "nps-2", Kind: KindNPS, Customer: "acme-corp", Time: exampleTime, NPS: NPS{Score: ptr[int64](0)}},
	},
	{
		name: "commercial",
		kind: KindCommercial,
		body: `{"id":"crm-1","kind":"commercial","customer":"acme-corp","time":"2026-11-20T10:04:00Z","source":"hubspot",
			"data":{"type":"contract_change","amount_pct":-30}}`,
		want: Signal{ID: "crm-1", Kind: KindCommercial, Customer: "acme-corp", Time: exampleTime, Source: "hubspot",
			Commercial: Commercial{Type: ContractChange, AmountPct: ptr(-30.0)}},
	},
	{
		name: "commercial without amount",
		kind: KindCommercial,
		body: `{"id":"crm-2","kind":"commercial","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"type":"quote_request"}}`,
		want: Signal{ID: "crm-2", Kind: KindCommercial, Customer: "acme-corp", Time: exampleTime,
			Commercial: Commercial{Type: QuoteRequest}},
	},
	{
		name: "mention",
		kind: KindMention,
		body: `{"id":"m-1","kind":"mention","customer":"acme-corp","time":"2026-11-20T10:04:00Z",
			"data":{"channel":"twitter","sentiment":-0.8,"text":"Acme support is slow","reach":12000}}`,
		want: Signal{ID: "m-1", Kind: KindMention, Customer: "acme-corp", Time: exampleTime,
			Mention: Mention{Channel: "twitter", Sentiment: ptr(-0.8), Text: "Acme support is slow", Reach: ptr(12000.0)}},
	},
	{
		name: "billing",
		kind: KindBilling,
		body: `{"id":"stripe-1","kind":"billing","customer":"acme-corp","time":"2026-11-20T10:04:00Z","source":"stripe","data":{"type":"payment_failed"}}`,
		want: Signal{ID: "stripe-1", Kind: KindBilling, Customer: "acme-corp", Time: exampleTime, Source: "stripe",
			Billing: Billing{Type: "payment_failed"}},
	},
	{
		name: "contact",
		kind: KindContact,
		body: `{"id":"c-1","kind":"contact","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"type":"qbr","by":"alice"}}`,
		want: Signal{ID: "c-1", Kind: KindContact, Customer: "acme-corp", Time: exampleTime,
			Contact: Contact{Type: "qbr", By: "alice"}},
	},
	{
		name: "champion",
		kind: KindChampion,
		body: `{"id":"ch-1","kind":"champion","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"type":"left","contact":"jane@acme.example"}}`,
		want: Signal{ID: "ch-1", Kind: KindChampion, Customer: "acme-corp", Time: exampleTime,
			Champion: Champion{Type: "left", Contact: "jane@acme.example"}},
	},
	{
		name: "rating",
		kind: KindRating,
		body: `{"id":"r-1","kind":"rating","customer":"acme-corp","time":"2026-11-20T10:04:00Z","data":{"value":"red","by":"alice","reason":"budget cuts"}}`,
		want: Signal{ID: "r-1", Kind: KindRating, Customer: "acme-corp", Time: exampleTime,
			Rating: Rating{Value: "red", By: "alice", Reason: "budget cuts"}},
	},
	{
		name: "outcome",
		kind: KindOutcome,
		body: `{"id":"o-1","kind":"outcome","customer":"acme-corp","time":"2026-11-20T10:04:00Z",
			"data":{"type":"renewed","arr":130000,"renewal_date":"2027-11-20"}}`,
		want: Signal{ID: "o-1", Kind: KindOutcome, Customer: "acme-corp", Time: exampleTime,
			Outcome: Outcome{Type: "renewed", ARR: ptr(130000.0), RenewalDate: "2027-11-20"}},
	},
	{
		name: "time with offset and fraction is kept in UTC",
		kind: KindBilling,
		body: `{"id":"stripe-2","kind":"billing","customer":"acme-corp","time":"2026-11-20T12:04:00.123456789+02:00","data":{"type":"card_expiring"}}`,
		want: Signal{ID: "stripe-2", Kind: KindBilling, Customer: "acme-corp", Time: exampleTime.Add(123456789 * time.Nanosecond),
			Billing: Billing{Type: "card_expiring"}},
	},
	{
		name: "unknown envelope fields are ignored",
		kind: KindChampion,
		body: `{"id":"ch-2","kind":"champion","customer":"acme-corp","time":"2026-11-20T10:04:00Z","version":3,"meta":{"a":[1,2]},"data":{"type":"added"}}`,
		want: Signal{ID: "ch-2", Kind: KindChampion, Customer: "acme-corp", Time: exampleTime, Champion: Champion{Type: "added"}},
	},
}

func TestDecodeValid(t *testing.T) {
	covered := map[Kind]bool{}
	for _, tc := range validCases {
		covered[tc.kind] = true
		subjects := map[string]string{
			"full subject": Subject(tc.kind, tc.want.Customer),
			"kind subject": SignalPrefix + string(tc.kind),
			"offline":      "",
		}
		for sname, subject := range subjects {
			t.Run(tc.name+"/"+sname, func(t *testing.T) {
				got, err := Decode(subject, []byte(tc.body), testNow)
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			})
		}
	}
	for _, k := range Kinds {
		assert.True(t, covered[k], "no valid example of kind %s", k)
	}
}

func TestDecodeBoundaries(t *testing.T) {
	cases := []struct {
		name      string
		over      env
		zeroClock bool
	}{
		{name: "id of 128 bytes", over: env{"id": jsonString(t, strings.Repeat("i", MaxID))}},
		{name: "customer of 256 bytes", over: env{"customer": jsonString(t, strings.Repeat("c", MaxCustomer))}},
		{name: "source of 128 bytes", over: env{"source": jsonString(t, strings.Repeat("s", MaxSource))}},
		{name: "time 23h ahead", over: env{"time": `"2026-11-21T11:00:00Z"`}},
		{name: "time exactly 24h ahead", over: env{"time": `"2026-11-21T12:00:00Z"`}},
		{name: "time on 2000-01-01", over: env{"time": `"2000-01-01T00:00:00Z"`}},
		{name: "far future with zero clock", over: env{"time": `"2999-01-01T00:00:00Z"`}, zeroClock: true},
		{name: "events at the limit", over: env{"data": `{"events":1000000000}`}},
		{name: "customer with escapes", over: env{"customer": `"a\u002eb\n\u00e9"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := testNow
			if tc.zeroClock {
				now = time.Time{}
			}
			_, err := Decode("", []byte(body(tc.over)), now)
			require.NoError(t, err)
		})
	}

	t.Run("envelope of exactly 64 KiB", func(t *testing.T) {
		b := body(env{"data": `{"pad":""}`})
		pad := strings.Repeat("p", MaxEnvelope-len(b))
		b = body(env{"data": `{"pad":"` + pad + `"}`})
		require.Len(t, b, MaxEnvelope)
		_, err := Decode("", []byte(b), testNow)
		require.NoError(t, err)
	})
}

// TestDecodeOddCustomers covers IDs that look like subject syntax: they are
// valid in the body and must never turn into a wildcard or extra token.
func TestDecodeOddCustomers(t *testing.T) {
	ids := []string{"a.b.>", "*", ">", "..", ".", "x *", "with spaces", "tab\tand\nnewline", "nul\x00ctl\x01\x7f",
		"=abc", "é-unicode-☃", "a", strings.Repeat("z", 65), strings.Repeat("€", 85)}
	for _, id := range ids {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			b := []byte(body(env{"customer": jsonString(t, id)}))
			subject := Subject(KindUsage, id)
			toks := strings.Split(subject, ".")
			require.Len(t, toks, 4, "subject %q", subject)
			for _, tok := range toks {
				assertSubjectToken(t, tok)
			}
			for _, subj := range []string{"", SignalPrefix + "usage", subject} {
				got, err := Decode(subj, b, testNow)
				require.NoError(t, err, "subject %q", subj)
				assert.Equal(t, id, got.Customer)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := body(nil)
	nest := func(n int, open, close string) string {
		return body(env{"data": `{"deep":` + strings.Repeat(open, n) + `1` + strings.Repeat(close, n) + `}`})
	}
	cases := []struct {
		name    string
		subject string
		body    string
		reason  RejectReason
		field   string
	}{
		// Undecodable.
		{name: "empty", body: ``, reason: ReasonMalformed},
		{name: "not json", body: `hello`, reason: ReasonMalformed},
		{name: "malformed", body: `{"id":"a",,}`, reason: ReasonMalformed},
		{name: "truncated", body: valid[:len(valid)-3], reason: ReasonMalformed},
		{name: "truncated in a string", body: valid[:len(valid)/2], reason: ReasonMalformed},
		{name: "trailing garbage", body: valid + "x", reason: ReasonMalformed},
		{name: "trailing brace", body: valid + "}", reason: ReasonMalformed},
		{name: "trailing bracket", body: valid + " ]", reason: ReasonMalformed},
		{name: "second object", body: valid + valid, reason: ReasonMalformed},
		{name: "NaN", body: body(env{"kind": `"nps"`, "data": `{"score":NaN}`}), reason: ReasonMalformed},
		{name: "Infinity", body: body(env{"data": `{"events":Infinity}`}), reason: ReasonMalformed},
		{name: "-Infinity", body: body(env{"kind": `"mention"`, "data": `{"channel":"x","sentiment":-Infinity}`}), reason: ReasonMalformed},
		{name: "nested 10001 arrays", body: nest(10001, "[", "]"), reason: ReasonMalformed},
		{name: "nested 10000 objects", body: nest(10000, `{"a":`, "}"), reason: ReasonMalformed},

		// Oversized.
		{name: "64 KiB + 1", body: body(env{"data": `{"pad":"` + strings.Repeat("p", MaxEnvelope) + `"}`}), reason: ReasonOversize},
		{name: "1 MiB", body: strings.Repeat(" ", 1<<20-len(valid)) + valid, reason: ReasonOversize},

		// Missing fields.
		{name: "missing id", body: body(env{"id": ""}), reason: ReasonMissingField, field: "id"},
		{name: "empty id", body: body(env{"id": `""`}), reason: ReasonMissingField, field: "id"},
		{name: "missing kind", body: body(env{"kind": ""}), reason: ReasonMissingField, field: "kind"},
		{name: "missing customer", body: body(env{"customer": ""}), reason: ReasonMissingField, field: "customer"},
		{name: "empty customer", body: body(env{"customer": `""`}), reason: ReasonMissingField, field: "customer"},
		{name: "null customer", body: body(env{"customer": `null`}), reason: ReasonMissingField, field: "customer"},
		{name: "missing time", body: body(env{"time": ""}), reason: ReasonMissingField, field: "time"},
		{name: "null document", body: `null`, reason: ReasonMissingField, field: "id"},

		// Wrong types.
		{name: "document is an array", body: `[1]`, reason: ReasonWrongType, field: "(document)"},
		{name: "id as number", body: body(env{"id": `12`}), reason: ReasonWrongType, field: "id"},
		{name: "kind as bool", body: body(env{"kind": `true`}), reason: ReasonWrongType, field: "kind"},
		{name: "customer as object", body: body(env{"customer": `{"id":"a"}`}), reason: ReasonWrongType, field: "customer"},
		{name: "time as number", body: body(env{"time": `1763633040`}), reason: ReasonWrongType, field: "time"},
		{name: "time not RFC 3339", body: body(env{"time": `"20 Nov 2026"`}), reason: ReasonWrongType, field: "time"},
		{name: "time without zone", body: body(env{"time": `"2026-11-20T10:04:00"`}), reason: ReasonWrongType, field: "time"},
		{name: "time as date", body: body(env{"time": `"2026-11-20"`}), reason: ReasonWrongType, field: "time"},
		{name: "data as array", body: body(env{"data": `[{"events":1}]`}), reason: ReasonWrongType, field: "data"},
		{name: "data as string", body: body(env{"data": `"events"`}), reason: ReasonWrongType, field: "data"},
		{name: "data as number", body: body(env{"data": `1`}), reason: ReasonWrongType, field: "data"},
		{name: "nps score as string", body: body(env{"kind": `"nps"`, "data": `{"score":"9"}`}), reason: ReasonWrongType, field: "data.score"},
		{name: "events as string", body: body(env{"data": `{"events":"3"}`}), reason: ReasonWrongType, field: "data.events"},
		{name: "ticket status as number", body: body(env{"kind": `"ticket"`, "data": `{"ticket_id":"1","status":1}`}), reason: ReasonWrongType, field: "data.status"},
		{name: "sentiment as string", body: body(env{"kind": `"mention"`, "data": `{"channel":"x","sentiment":"bad"}`}), reason: ReasonWrongType, field: "data.sentiment"},

		// Numbers out of range.
		{name: "nps score 1e30", body: body(env{"kind": `"nps"`, "data": `{"score":1e30}`}), reason: ReasonOutOfRange, field: "data.score"},
		{name: "nps score 7.5", body: body(env{"kind": `"nps"`, "data": `{"score":7.5}`}), reason: ReasonOutOfRange, field: "data.score"},
		{name: "nps 11", body: body(env{"kind": `"nps"`, "data": `{"score":11}`}), reason: ReasonOutOfRange, field: "data.score"},
		{name: "nps -1", body: body(env{"kind": `"nps"`, "data": `{"score":-1}`}), reason: ReasonOutOfRange, field: "data.score"},
		{name: "events 1e400", body: body(env{"data": `{"events":1e400}`}), reason: ReasonOutOfRange, field: "data.events"},
		{name: "events 0", body: body(env{"data": `{"events":0}`}), reason: ReasonOutOfRange, field: "data.events"},
		{name: "events -5", body: body(env{"data": `{"events":-5}`}), reason: ReasonOutOfRange, field: "data.events"},
		{name: "events above the limit", body: body(env{"data": `{"events":1000000001}`}), reason: ReasonOutOfRange, field: "data.events"},
		{name: "active users -1", body: body(env{"data": `{"active_users":-1}`}), reason: ReasonOutOfRange, field: "data.active_users"},
		{name: "amount_pct 1e308", body: body(env{"kind": `"commercial"`, "data": `{"type":"contract_change","amount_pct":1e308}`}), reason: ReasonOutOfRange, field: "data.amount_pct"},
		{name: "amount_pct 1e400", body: body(env{"kind": `"commercial"`, "data": `{"type":"contract_change","amount_pct":1e400}`}), reason: ReasonOutOfRange, field: "data.amount_pct"},
		{name: "amount_pct -101", body: body(env{"kind": `"commercial"`, "data": `{"type":"contract_change","amount_pct":-101}`}), reason: ReasonOutOfRange, field: "data.amount_pct"},
		{name: "mention sentiment 1.5", body: body(env{"kind": `"mention"`, "data": `{"channel":"x","sentiment":1.5}`}), reason: ReasonOutOfRange, field: "data.sentiment"},
		{name: "mention reach -1", body: body(env{"kind": `"mention"`, "data": `{"channel":"x","reach":-1}`}), reason: ReasonOutOfRange, field: "data.reach"},
		{name: "first response -1", body: body(env{"kind": `"ticket"`, "data": `{"ticket_id":"1","status":"opened","first_response_minutes":-1}`}), reason: ReasonOutOfRange, field: "data.first_response_minutes"},
		{name: "outcome arr -1", body: body(env{"kind": `"outcome"`, "data": `{"type":"churned","arr":-1}`}), reason: ReasonOutOfRange, field: "data.arr"},

		// Invalid UTF-8 is refused before decoding, since encoding/json would
		// silently turn it into U+FFFD.
		{name: "invalid UTF-8 in customer", body: body(env{"customer": "\"acme\xff\""}), reason: ReasonInvalidUTF8},
		{name: "invalid UTF-8 in data text", body: body(env{"kind": `"mention"`, "data": "{\"channel\":\"x\",\"text\":\"caf\xc3\x28\"}"}), reason: ReasonInvalidUTF8},

		// Lengths.
		{name: "id of 129 bytes", body: body(env{"id": jsonString(t, strings.Repeat("i", MaxID+1))}), reason: ReasonTooLong, field: "id"},
		{name: "customer of 257 bytes", body: body(env{"customer": jsonString(t, strings.Repeat("c", MaxCustomer+1))}), reason: ReasonTooLong, field: "customer"},
		{name: "customer of 10 KB", body: body(env{"customer": jsonString(t, strings.Repeat("c", 10_000))}), reason: ReasonTooLong, field: "customer"},
		{name: "source of 129 bytes", body: body(env{"source": jsonString(t, strings.Repeat("s", MaxSource+1))}), reason: ReasonTooLong, field: "source"},
		{name: "usage user too long", body: body(env{"data": jsonObject(t, "user", strings.Repeat("u", MaxField+1))}), reason: ReasonTooLong, field: "data.user"},
		{name: "mention text too long", body: body(env{"kind": `"mention"`, "data": `{"channel":"x","text":` + jsonString(t, strings.Repeat("t", MaxText+1)) + `}`}), reason: ReasonTooLong, field: "data.text"},
		{name: "ticket id too long", body: body(env{"kind": `"ticket"`, "data": `{"status":"opened","ticket_id":` + jsonString(t, strings.Repeat("1", MaxID+1)) + `}`}), reason: ReasonTooLong, field: "data.ticket_id"},

		{name: "contact without type", body: body(env{"kind": `"contact"`, "data": jsonObject(t, "by", strings.Repeat("b", MaxField+1))}), reason: ReasonMissingField, field: "data.type"},
		{name: "contact by too long with type", body: body(env{"kind": `"contact"`, "data": `{"type":"reply","by":` + jsonString(t, strings.Repeat("b", MaxField+1)) + `}`}), reason: ReasonTooLong, field: "data.by"},
		{name: "champion contact too long", body: body(env{"kind": `"champion"`, "data": `{"type":"left","contact":` + jsonString(t, strings.Repeat("c", MaxField+1)) + `}`}), reason: ReasonTooLong, field: "data.contact"},
		{name: "rating reason too long", body: body(env{"kind": `"rating"`, "data": `{"value":"red","reason":` + jsonString(t, strings.Repeat("r", MaxText+1)) + `}`}), reason: ReasonTooLong, field: "data.reason"},

		// Kinds and subjects. Long values are cut in the message, which
		// travels in a NATS header.
		{name: "unknown kind of 10 KB", body: body(env{"kind": jsonString(t, strings.Repeat("k", 10_000))}), reason: ReasonUnknownKind, field: "kind"},
		{name: "subject token of 10 KB", subject: "risk.signals.usage." + strings.Repeat("t", 10_000), body: valid, reason: ReasonBadSubject, field: "customer"},
		{name: "unknown kind", body: body(env{"kind": `"survey"`}), reason: ReasonUnknownKind, field: "kind"},
		{name: "kind in capitals", body: body(env{"kind": `"Usage"`}), reason: ReasonUnknownKind, field: "kind"},
		{name: "kind/subject mismatch", subject: "risk.signals.ticket", body: valid, reason: ReasonKindMismatch, field: "kind"},
		{name: "unknown subject kind", subject: "risk.signals.survey.acme-corp", body: valid, reason: ReasonKindMismatch, field: "kind"},
		{name: "subject token of another customer", subject: "risk.signals.usage.globex", body: valid, reason: ReasonBadSubject, field: "customer"},
		{name: "subject token not canonical", subject: "risk.signals.usage.=YWNtZS1jb3Jw", body: valid, reason: ReasonBadSubject, field: "customer"},
		{name: "subject with extra token", subject: "risk.signals.usage.acme-corp.x", body: valid, reason: ReasonBadSubject},
		{name: "subject with empty token", subject: "risk.signals.usage.", body: valid, reason: ReasonBadSubject},
		{name: "subject without kind", subject: "risk.signals.", body: valid, reason: ReasonBadSubject},
		{name: "subject outside the prefix", subject: "risk.customers.acme-corp", body: valid, reason: ReasonBadSubject},
		{name: "subject prefix only", subject: "risk.signals", body: valid, reason: ReasonBadSubject},

		// Time range.
		{name: "time in 1970", body: body(env{"time": `"1970-01-01T00:00:00Z"`}), reason: ReasonTooOld, field: "time"},
		{name: "time just before 2000", body: body(env{"time": `"1999-12-31T23:59:59Z"`}), reason: ReasonTooOld, field: "time"},
		{name: "time in 2999", body: body(env{"time": `"2999-01-01T00:00:00Z"`}), reason: ReasonFarFuture, field: "time"},
		{name: "time 25h ahead", body: body(env{"time": `"2026-11-21T13:00:00Z"`}), reason: ReasonFarFuture, field: "time"},
		{name: "time 24h and 1ns ahead", body: body(env{"time": `"2026-11-21T12:00:00.000000001Z"`}), reason: ReasonFarFuture, field: "time"},

		// Per-kind values.
		{name: "nps without score", body: body(env{"kind": `"nps"`, "data": `{"comment":"x"}`}), reason: ReasonMissingField, field: "data.score"},
		{name: "ticket bad status", body: body(env{"kind": `"ticket"`, "data": `{"ticket_id":"1","status":"pending"}`}), reason: ReasonOutOfRange, field: "data.status"},
		{name: "ticket without status", body: body(env{"kind": `"ticket"`, "data": `{"ticket_id":"1"}`}), reason: ReasonMissingField, field: "data.status"},
		{name: "ticket without id", body: body(env{"kind": `"ticket"`, "data": `{"status":"opened"}`}), reason: ReasonMissingField, field: "data.ticket_id"},
		{name: "ticket bad priority", body: body(env{"kind": `"ticket"`, "data": `{"ticket_id":"1","status":"opened","priority":"p1"}`}), reason: ReasonOutOfRange, field: "data.priority"},
		{name: "commercial bad type", body: body(env{"kind": `"commercial"`, "data": `{"type":"upsell"}`}), reason: ReasonOutOfRange, field: "data.type"},
		{name: "commercial without type", body: body(env{"kind": `"commercial"`}), reason: ReasonMissingField, field: "data.type"},
		{name: "mention without channel", body: body(env{"kind": `"mention"`, "data": `{"text":"x"}`}), reason: ReasonMissingField, field: "data.channel"},
		{name: "billing bad type", body: body(env{"kind": `"billing"`, "data": `{"type":"refund"}`}), reason: ReasonOutOfRange, field: "data.type"},
		{name: "contact bad type", body: body(env{"kind": `"contact"`, "data": `{"type":"email"}`}), reason: ReasonOutOfRange, field: "data.type"},
		{name: "champion bad type", body: body(env{"kind": `"champion"`, "data": `{"type":"promoted"}`}), reason: ReasonOutOfRange, field: "data.type"},
		{name: "rating bad value", body: body(env{"kind": `"rating"`, "data": `{"value":"blue"}`}), reason: ReasonOutOfRange, field: "data.value"},
		{name: "outcome bad type", body: body(env{"kind": `"outcome"`, "data": `{"type":"paused"}`}), reason: ReasonOutOfRange, field: "data.type"},
		{name: "outcome bad renewal_date", body: body(env{"kind": `"outcome"`, "data": `{"type":"renewed","renewal_date":"next year"}`}), reason: ReasonWrongType, field: "data.renewal_date"},
		{name: "outcome renewal_date in 2300", body: body(env{"kind": `"outcome"`, "data": `{"type":"renewed","renewal_date":"2300-01-01"}`}), reason: ReasonOutOfRange, field: "data.renewal_date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.subject, []byte(tc.body), testNow)
			require.Error(t, err)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.reason, e.Reason, "error: %v", err)
			assert.Equal(t, tc.field, e.Field, "error: %v", err)
			assert.NotEmpty(t, e.Msg)
			assert.Equal(t, Signal{}, got, "a rejected signal must come back empty")
			assert.NotContains(t, err.Error(), "\n", "the error goes into a NATS header")
			assert.LessOrEqual(t, len(err.Error()), 1024, "the error goes into a NATS header")
		})
	}
}

// TestDecodeDeepNesting checks that nesting inside data is either ignored
// or refused, never a crash: encoding/json bounds the depth itself.
func TestDecodeDeepNesting(t *testing.T) {
	for _, depth := range []int{100, 5000, 9990, 10000, 20000} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			b := body(env{"data": `{"deep":` + strings.Repeat(open, depth) + `0` + strings.Repeat(closer, depth) + `}`})
			if len(b) > MaxEnvelope {
				continue
			}
			t.Run(fmt.Sprintf("%d %s", depth, open), func(t *testing.T) {
				got, err := Decode("", []byte(b), testNow)
				if err != nil {
					assert.Equal(t, ReasonMalformed, ReasonOf(err), "error: %v", err)
					return
				}
				assert.Equal(t, int64(1), got.Usage.Events)
			})
		}
	}
}

func jsonObject(tb testing.TB, key, value string) string {
	tb.Helper()
	b, err := json.Marshal(map[string]string{key: value})
	require.NoError(tb, err)
	return string(b)
}

func TestParseTime(t *testing.T) {
	cases := []struct {
		in     string
		want   time.Time
		reason RejectReason
	}{
		{in: "2026-11-20T10:04:00Z", want: exampleTime},
		{in: "2026-11-20T05:04:00-05:00", want: exampleTime},
		{in: "2026-11-20T10:04:00.5Z", want: exampleTime.Add(500 * time.Millisecond)},
		{in: "2026-11-20 10:04:00Z", reason: ReasonWrongType},
		{in: "2026-11-20T24:00:00Z", reason: ReasonWrongType},
		{in: "", reason: ReasonWrongType},
		{in: "0001-01-01T00:00:00Z", reason: ReasonTooOld},
		{in: "9999-12-31T23:59:59Z", reason: ReasonFarFuture},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in, testNow)
			if tc.reason != "" {
				require.Error(t, err)
				assert.Equal(t, tc.reason, ReasonOf(err))
				assert.True(t, got.IsZero())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestParseDate(t *testing.T) {
	cases := []struct {
		in     string
		want   time.Time
		reason RejectReason
	}{
		{in: "2027-01-15", want: time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)},
		{in: "2027-01-15T10:00:00+01:00", want: time.Date(2027, 1, 15, 9, 0, 0, 0, time.UTC)},
		{in: "2000-01-01", want: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2200-12-31", want: time.Date(2200, 12, 31, 0, 0, 0, 0, time.UTC)},
		{in: "15/01/2027", reason: ReasonWrongType},
		{in: "2027-02-30", reason: ReasonWrongType},
		{in: "", reason: ReasonWrongType},
		{in: "1999-12-31", reason: ReasonOutOfRange},
		{in: "2201-01-01", reason: ReasonOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if tc.reason != "" {
				require.Error(t, err)
				assert.Equal(t, tc.reason, ReasonOf(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestErrorAndReasonOf(t *testing.T) {
	withField := &Error{Reason: ReasonTooLong, Field: "id", Msg: "129 bytes"}
	assert.Equal(t, "too_long: id: 129 bytes", withField.Error())
	assert.Equal(t, "malformed_json: bad", (&Error{Reason: ReasonMalformed, Msg: "bad"}).Error())

	assert.Equal(t, ReasonTooLong, ReasonOf(withField))
	assert.Equal(t, ReasonTooLong, ReasonOf(fmt.Errorf("decode sig-1: %w", withField)))
	assert.Equal(t, ReasonProcessing, ReasonOf(errors.New("boom")))
}

func TestKindValid(t *testing.T) {
	for _, k := range Kinds {
		assert.True(t, k.Valid(), k)
	}
	for _, k := range []Kind{"", "Usage", "usage ", "alert", "*"} {
		assert.False(t, k.Valid(), k)
	}
}

// encodeSignal is the producer side: the envelope a producer would send for
// s. Decoding it again must give s back.
func encodeSignal(tb testing.TB, s Signal) []byte {
	tb.Helper()
	payload := map[Kind]any{
		KindUsage: s.Usage, KindTicket: s.Ticket, KindNPS: s.NPS, KindCommercial: s.Commercial,
		KindMention: s.Mention, KindBilling: s.Billing, KindContact: s.Contact, KindChampion: s.Champion,
		KindRating: s.Rating, KindOutcome: s.Outcome,
	}[s.Kind]
	env := map[string]any{
		"id": s.ID, "kind": s.Kind, "customer": s.Customer,
		"time": s.Time.Format(time.RFC3339Nano), "source": s.Source, "data": payload,
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	// Without this, '<' grows to \u003c and a valid signal could re-encode
	// past the size limit.
	enc.SetEscapeHTML(false)
	require.NoError(tb, enc.Encode(env))
	return []byte(buf.String())
}

// checkSignal asserts the invariants every decoded signal holds.
func checkSignal(tb testing.TB, s Signal, now time.Time) {
	tb.Helper()
	require.NotEmpty(tb, s.ID)
	require.LessOrEqual(tb, len(s.ID), MaxID)
	require.NotEmpty(tb, s.Customer)
	require.LessOrEqual(tb, len(s.Customer), MaxCustomer)
	require.True(tb, utf8.ValidString(s.Customer))
	require.True(tb, s.Kind.Valid())
	require.False(tb, s.Time.Before(Earliest))
	require.False(tb, s.Time.After(now.Add(FutureSkew)))
	require.Equal(tb, time.UTC, s.Time.Location())

	// Only the payload of s.Kind may be set.
	zero := Signal{ID: s.ID, Kind: s.Kind, Customer: s.Customer, Time: s.Time, Source: s.Source}
	switch s.Kind {
	case KindUsage:
		zero.Usage = s.Usage
		require.GreaterOrEqual(tb, s.Usage.Events, int64(1))
	case KindTicket:
		zero.Ticket = s.Ticket
		require.Contains(tb, ticketPriorities, s.Ticket.Priority)
	case KindNPS:
		zero.NPS = s.NPS
		require.NotNil(tb, s.NPS.Score)
	case KindCommercial:
		zero.Commercial = s.Commercial
	case KindMention:
		zero.Mention = s.Mention
	case KindBilling:
		zero.Billing = s.Billing
	case KindContact:
		zero.Contact = s.Contact
	case KindChampion:
		zero.Champion = s.Champion
	case KindRating:
		zero.Rating = s.Rating
	case KindOutcome:
		zero.Outcome = s.Outcome
	}
	require.Equal(tb, zero, s)
}

func FuzzDecode(f *testing.F) {
	for _, tc := range validCases {
		f.Add(Subject(tc.kind, tc.want.Customer), []byte(tc.body))
		f.Add(SignalPrefix+string(tc.kind), []byte(tc.body))
		f.Add("", []byte(tc.body))
	}
	for _, id := range []string{"a.b.>", "x *", "", "\x00"} {
		b := body(env{"customer": jsonString(f, id)})
		f.Add(Subject(KindUsage, id), []byte(b))
	}
	valid := body(nil)
	for _, b := range []string{"", "{}", "null", "[]", valid + "}", valid[:20], "{\"id\":\"\xff\"}",
		body(env{"data": `{"events":1e400}`}), body(env{"kind": `"nps"`, "data": `{"score":NaN}`})} {
		f.Add("", []byte(b))
	}
	f.Add("risk.signals.usage.", []byte(valid))
	f.Add("risk.signals.usage.acme-corp.x", []byte(valid))

	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		s, err := Decode(subject, data, testNow)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.NotEmpty(t, e.Reason)
			require.Equal(t, Signal{}, s)
			return
		}
		checkSignal(t, s, testNow)

		again, err := Decode(Subject(s.Kind, s.Customer), encodeSignal(t, s), testNow)
		require.NoError(t, err)
		require.Equal(t, s, again)
	})
}

// A date parses the same the first time and from the cache after.
func TestParseDateTwice(t *testing.T) {
	for _, v := range []string{"2027-03-01", "2027-03-01T10:20:30.5+02:00"} {
		first, err := ParseDate(v)
		require.NoError(t, err)
		again, err := ParseDate(v)
		require.NoError(t, err)
		assert.True(t, first.Equal(again), v)
		assert.Equal(t, first, again, v)
	}
	_, err := ParseDate("1999-12-31")
	require.Error(t, err)
	_, err = ParseDate("1999-12-31")
	require.Error(t, err, "a refused date is not cached")
}

// Remembered dates are the parsed dates, from any goroutine, and a bad
// date is never remembered as good.
func TestParseDateCacheIsBoundedAndRight(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range 3000 {
				d := start.AddDate(0, 0, (i*7+g)%4000)
				got, err := ParseDate(d.Format(time.DateOnly))
				if err != nil || !got.Equal(d) {
					t.Errorf("ParseDate(%s) = %v, %v", d.Format(time.DateOnly), got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	_, err := ParseDate("2026-13-01")
	assert.Error(t, err, "a bad date is not cached as good")
	_, err = ParseDate("2026-13-01")
	assert.Error(t, err)
}
