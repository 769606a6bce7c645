package signals

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeWith runs Decode with the fast path on or off.
func decodeWith(fast bool, subject string, data []byte) (Signal, string) {
	prev := fastDecode
	fastDecode = fast
	defer func() { fastDecode = prev }()
	s, err := Decode(subject, data, testNow)
	if err != nil {
		return s, err.Error()
	}
	return s, ""
}

// requireSameDecode checks that the fast path changes nothing: the same
// signal, or the same rejection word for word.
func requireSameDecode(t *testing.T, subject string, data []byte) {
	t.Helper()
	slow, slowErr := decodeWith(false, subject, data)
	fast, fastErr := decodeWith(true, subject, data)
	require.Equal(t, slowErr, fastErr, "error of %q", data)
	require.Equal(t, slow, fast, "signal of %q", data)
}

// fastShapeCases are inputs at the edge of what the fast path takes. For
// each, taken says whether it takes the envelope (false: it must leave it
// to encoding/json); either way Decode must not change.
var fastShapeCases = []struct {
	name  string
	body  string
	taken bool
}{
	{"plain usage", body(env{"data": `{"events":3,"user":"u1"}`}), true},
	{"plain ticket", body(env{"kind": `"ticket"`, "data": `{"ticket_id":"T1","status":"opened","priority":"urgent","first_response_minutes":42.5}`}), true},
	{"no source, empty data", body(nil), true},
	{"whitespace everywhere", " \t\n{ \"id\" : \"a\" ,\r\n\"kind\":\"usage\", \"customer\":\"c\",\"time\":\"2026-11-20T10:04:00Z\",\"data\": { \"events\" : 2 } } \n", true},
	{"other kind, payload by encoding/json", body(env{"kind": `"nps"`, "data": `{"score":7,"comment":"caf\u00e9 \"meh\""}`}), true},
	{"nested unknown payload keys", body(env{"data": `{"events":1,"ctx":{"a":[1,2.5e3,true,false,null,"x\n"]}}`}), true},
	{"escaped id", body(env{"id": `"a\"b"`}), false},
	{"unicode escape in customer", body(env{"customer": `"caf\u00e9"`}), false},
	{"upper-case key", strings.Replace(body(nil), `"id"`, `"ID"`, 1), false},
	{"repeated key", strings.Replace(body(nil), `"kind":"usage"`, `"kind":"usage","kind":"ticket"`, 1), false},
	{"unknown envelope key", body(env{"schema": `"v2"`}), false},
	{"null source", body(env{"source": "null"}), false},
	{"null data", body(env{"data": "null"}), false},
	{"data not an object", body(env{"data": `[1]`}), false},
	{"number as id", body(env{"id": "7"}), false},
	{"trailing garbage", body(nil) + "}", false},
	{"trailing second object", body(nil) + "{}", false},
	{"raw control character", body(env{"id": "\"a\tb\""}), false},
	{"truncated", body(nil)[:30], false},
	{"bad escape inside data", body(env{"data": `{"x":"\q"}`}), false},
	{"short unicode escape inside data", body(env{"data": `{"x":"\u12"}`}), false},
	{"leading zero inside data", body(env{"data": `{"x":01}`}), false},
	{"bare minus inside data", body(env{"data": `{"x":-}`}), false},
	{"missing exponent digits", body(env{"data": `{"x":1e}`}), false},
	{"trailing comma in data", body(env{"data": `{"x":1,}`}), false},
	{"deep nesting", body(env{"data": `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`}), false},
	{"NaN", body(env{"kind": `"nps"`, "data": `{"score":NaN}`}), false},
}

// payloadCases are usage and ticket payloads at the edge of the fast
// payload decoders; the envelope is plain.
var payloadCases = []struct {
	kind Kind
	data string
}{
	{KindUsage, `{"events":0}`},
	{KindUsage, `{"events":-0}`},
	{KindUsage, `{"events":-3}`},
	{KindUsage, `{"events":1.0}`},
	{KindUsage, `{"events":1e2}`},
	{KindUsage, `{"events":9223372036854775808}`},
	{KindUsage, `{"events":null}`},
	{KindUsage, `{"events":"3"}`},
	{KindUsage, `{"Events":3}`},
	{KindUsage, `{"events":3,"events":4}`},
	{KindUsage, `{"user":"a\u0062"}`},
	{KindUsage, `{"active_users":-1}`},
	{KindUsage, `{"events":1000000001}`},
	{KindUsage, `{"unknown":1}`},
	{KindTicket, `{"ticket_id":"T","status":"opened"}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","priority":"whenever"}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","first_response_minutes":1e400}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","first_response_minutes":1e-400}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","first_response_minutes":-0.0}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","first_response_minutes":-1}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","first_response_minutes":null}`},
	{KindTicket, `{"ticket_id":7,"status":"opened"}`},
	{KindTicket, `{"status":"opened"}`},
	{KindTicket, `{"ticket_id":"T","status":"opened","extra":{"a":1}}`},
}

func TestFastDecodeMatchesSlow(t *testing.T) {
	for _, tc := range fastShapeCases {
		t.Run(tc.name, func(t *testing.T) {
			_, taken := fastEnvelope([]byte(tc.body))
			assert.Equal(t, tc.taken, taken, "does the fast path take %q", tc.body)
			requireSameDecode(t, "", []byte(tc.body))
		})
	}
	for _, tc := range payloadCases {
		t.Run(string(tc.kind)+" "+tc.data, func(t *testing.T) {
			b := body(env{"kind": `"` + string(tc.kind) + `"`, "data": tc.data})
			requireSameDecode(t, Subject(tc.kind, "acme-corp"), []byte(b))
		})
	}
	for _, tc := range validCases {
		t.Run("valid "+tc.name, func(t *testing.T) {
			requireSameDecode(t, Subject(tc.kind, tc.want.Customer), []byte(tc.body))
		})
	}
}

// FuzzFastDecodeMatchesSlow is the fast path's proof obligation: on any
// input, Decode with it returns what Decode without it returns.
func FuzzFastDecodeMatchesSlow(f *testing.F) {
	for _, tc := range fastShapeCases {
		f.Add([]byte(tc.body))
	}
	for _, tc := range payloadCases {
		f.Add([]byte(body(env{"kind": `"` + string(tc.kind) + `"`, "data": tc.data})))
	}
	for _, tc := range validCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		requireSameDecode(t, "", data)
	})
}
