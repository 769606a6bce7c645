package signals

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertSubjectToken checks that tok is exactly one NATS subject token that
// is also usable in a JetStream KV key: non-empty, not a wildcard, and made
// only of [-/_=a-zA-Z0-9] (the KV key alphabet without '.').
func assertSubjectToken(tb testing.TB, tok string) {
	tb.Helper()
	require.NotEmpty(tb, tok)
	require.NotEqual(tb, "*", tok)
	require.NotEqual(tb, ">", tok)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '/' || c == '_' || c == '='
		require.True(tb, ok, "token %q has byte %q at %d", tok, c, i)
	}
}

func TestSubjectToken(t *testing.T) {
	cases := []struct {
		name string
		id   string
		want string // empty: encoded, checked by round trip only
	}{
		{name: "plain", id: "acme-corp", want: "acme-corp"},
		{name: "plain with underscore and digits", id: "Cust_0042-EU", want: "Cust_0042-EU"},
		{name: "64 bytes", id: strings.Repeat("a", 64), want: strings.Repeat("a", 64)},
		{name: "65 bytes", id: strings.Repeat("a", 65), want: "=" + strings.Repeat("YWFh", 21) + "YWE"},
		{name: "empty", id: "", want: "="},
		{name: "unicode", id: "é", want: "=w6k"},
		{name: "dots and wildcard", id: "a.b.>", want: "=YS5iLj4"},
		{name: "star", id: "*", want: "=Kg"},
		{name: "greater than", id: ">", want: "=Pg"},
		{name: "two dots", id: "..", want: "=Li4"},
		{name: "space", id: " ", want: "=IA"},
		{name: "nul", id: "\x00", want: "=AA"},
		{name: "looks encoded", id: "=abc", want: "=PWFiYw"},
		{name: "space and star", id: "x *", want: "=eCAq"},
		{name: "invalid UTF-8", id: "\xff\xfe", want: "=__4"},
		{name: "256 bytes", id: strings.Repeat("x.", 128)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := SubjectToken(tc.id)
			if tc.want != "" {
				assert.Equal(t, tc.want, tok)
			}
			assertSubjectToken(t, tok)
			back, err := ParseSubjectToken(tok)
			require.NoError(t, err)
			assert.Equal(t, tc.id, back)
		})
	}
}

func TestParseSubjectTokenRejects(t *testing.T) {
	cases := []struct {
		name string
		tok  string
	}{
		{name: "empty", tok: ""},
		{name: "dot", tok: "a.b"},
		{name: "star", tok: "*"},
		{name: "greater than", tok: ">"},
		{name: "space", tok: "a b"},
		{name: "raw unicode", tok: "é"},
		{name: "raw 65 bytes", tok: strings.Repeat("a", 65)},
		{name: "encoded plain id", tok: "=YWNtZQ"},
		{name: "encoded plain id with non-zero trailing bits", tok: "=YR"},
		{name: "padding", tok: "=Kg=="},
		{name: "standard alphabet", tok: "=+/8"},
		{name: "newline inside", tok: "=Li\n4"},
		{name: "impossible length", tok: "=Li4uL"},
		{name: "double prefix", tok: "==Li4"},
		{name: "junk", tok: "=!!!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := ParseSubjectToken(tc.tok)
			require.Error(t, err)
			assert.Empty(t, id)
		})
	}
}

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"", "acme-corp", "a.b.>", "*", ">", "..", " ", "\x00", "=abc", "=", "é",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "\xff", "=YWNtZQ", "=Kg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := SubjectToken(s)
		assertSubjectToken(t, tok)
		back, err := ParseSubjectToken(tok)
		require.NoError(t, err)
		require.Equal(t, s, back)
		if isRawToken(s) {
			require.Equal(t, s, tok)
		}

		// Read as a token, s is accepted only in its canonical form, so one
		// customer never has two subjects or two KV keys.
		if id, err := ParseSubjectToken(s); err == nil {
			require.Equal(t, s, SubjectToken(id))
		}
	})
}

func TestSubject(t *testing.T) {
	assert.Equal(t, "risk.signals.ticket.acme-corp", Subject(KindTicket, "acme-corp"))
	assert.Equal(t, "risk.signals.usage.=YS5iLj4", Subject(KindUsage, "a.b.>"))
	assert.True(t, utf8.ValidString(Subject(KindUsage, "\xff")))
}
