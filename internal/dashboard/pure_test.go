package dashboard

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
)

func TestParseBookQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bookQuery
	}{
		{"", bookQuery{Tier: "risk", Sort: "priority", Page: 1}},
		{"tier=critical&owner=alice&segment=smb&stage=renewal&q=+acme+&sort=renewal&page=3",
			bookQuery{Tier: "critical", Owner: "alice", Segment: "smb", Stage: "renewal", Q: "acme", Sort: "renewal", Page: 3}},
		{"tier=all", bookQuery{Tier: "all", Sort: "priority", Page: 1}},
		{"tier=teir&sort=random&page=-1", bookQuery{Tier: "risk", Sort: "priority", Page: 1}},
		{"page=99999999999999999999", bookQuery{Tier: "risk", Sort: "priority", Page: 1}},
		{"page=20000", bookQuery{Tier: "risk", Sort: "priority", Page: api.MaxLimit}},
	} {
		q, err := url.ParseQuery(tc.in)
		assert.NoError(t, err)
		assert.Equal(t, tc.want, parseBookQuery(q), tc.in)
	}
	assert.Equal(t, "all", parseBookQuery(url.Values{"tier": {"all"}}).Tier)
	assert.Empty(t, parseBookQuery(url.Values{"tier": {"all"}}).key().tier, "all asks the engine for every tier")
}

func TestBookQueryURL(t *testing.T) {
	q := bookQuery{Tier: "risk", Owner: "a&b", Sort: "priority", Page: 1}
	assert.Equal(t, "/?owner=a%26b&sort=priority&tier=risk", q.URL(1))
	assert.Equal(t, "/?owner=a%26b&page=2&sort=priority&tier=risk", q.URL(2))
	assert.Equal(t, "/", bookQuery{}.URL(1))
	// What URL writes, parseBookQuery reads back.
	u, _ := url.Parse(q.URL(4))
	back := parseBookQuery(u.Query())
	assert.Equal(t, q.Owner, back.Owner)
	assert.Equal(t, 4, back.Page)
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/":                    "/",
		"/?owner=alice":        "/?owner=alice",
		"/ui/customers/a%2Fb":  "/ui/customers/a%2Fb",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"evil":                 "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		assert.Equal(t, want, localPath(in), "%q", in)
	}
}

func TestCustomerURL(t *testing.T) {
	for id, want := range map[string]string{
		"acme":  "/ui/customers/acme",
		"x y/z": "/ui/customers/x%20y%2Fz",
		"a.b.>": "/ui/customers/a.b.%3E",
		".":     "/ui/customers/%2E",
		"..":    "/ui/customers/%2E%2E",
	} {
		assert.Equal(t, want, customerURL(id), id)
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 120000.4: "120,000", 1234567.5: "1,234,568", -4500: "-4,500"} {
		assert.Equal(t, want, money(in), "%v", in)
	}
}

func TestSparkline(t *testing.T) {
	assert.Empty(t, newSparkline(nil).Points)
	s := newSparkline([]scorer.Point{{Day: "2026-11-01", Score: 0}, {Day: "2026-11-02", Score: 50}, {Day: "2026-11-11", Score: 100}})
	// x by day: the third point is ten days on, at the right end.
	assert.Equal(t, "0,23 10,12 100,1", s.Points)
	assert.Contains(t, s.Label, "score 0 on 2026-11-01, 100 on 2026-11-11")
	one := newSparkline([]scorer.Point{{Day: "2026-11-01", Score: 40}})
	assert.Equal(t, 2, len(strings.Fields(one.Points)), "one day still draws a line")
}

func TestPriority(t *testing.T) {
	days := func(d int64) *int64 { return &d }
	for _, tc := range []struct {
		rar  float64
		days *int64
		want float64
	}{
		{1000, nil, 1000},
		{1000, days(200), 1000},
		{1000, days(90), 1000},
		{1000, days(45), 1500},
		{1000, days(0), 2000},
	} {
		v := api.CustomerView{RevenueAtRisk: tc.rar, DaysToRenewal: tc.days}
		assert.InDelta(t, tc.want, priority(&v), 1e-9)
	}
}

func TestSessionsAreBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(func() time.Time { return now })
	first := ss.create("a")
	for range maxSessions {
		now = now.Add(time.Millisecond)
		ss.create("")
	}
	assert.Len(t, ss.m, maxSessions)
	assert.Nil(t, ss.get(first.id), "the oldest made room")
	s := ss.create("b")
	now = now.Add(sessionTTL + time.Second)
	assert.Nil(t, ss.get(s.id), "expired")
}

func FuzzParseBookQuery(f *testing.F) {
	f.Add("tier=critical&owner=alice&page=2")
	f.Add("q=%00%ff&sort=renewal&page=-9")
	f.Add("tier=all&tier=risk")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		b := parseBookQuery(q)
		if b.Page < 1 || b.Page > api.MaxLimit {
			t.Fatalf("page %d", b.Page)
		}
		if len(b.Owner) > 256 || len(b.Q) > 256 {
			t.Fatalf("unbounded field")
		}
		if err := (api.Filter{Tier: b.key().tier, Owner: b.key().owner, Segment: b.key().segment}).Check(); err != nil {
			t.Fatalf("the engine would refuse %+v: %v", b, err)
		}
		u, err := url.Parse(b.URL(b.Page))
		if err != nil || u.Path != "/" {
			t.Fatalf("URL %q", b.URL(b.Page))
		}
	})
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "http://x", "/ui/alerts?owner=a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := localPath(p)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("localPath(%q) = %q leaves the site", p, got)
		}
	})
}

// The templates render the optional fields, set and unset.
func TestTemplatesRenderOptionalFields(t *testing.T) {
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	up, down, days := 12.5, -3.0, int64(40)
	rows := []bookRow{
		{CustomerView: api.CustomerView{Customer: "a", Change1d: &up, DaysToRenewal: &days}},
		{CustomerView: api.CustomerView{Customer: "b", Change1d: &down}},
		{CustomerView: api.CustomerView{Customer: "c"}},
	}
	var b strings.Builder
	err = tmpl["book"].ExecuteTemplate(&b, "layout", page{Data: &bookData{Rows: rows, Total: 3, From: 1, To: 3}})
	if err != nil {
		t.Fatal(err)
	}
	assert.Contains(t, b.String(), `<span class="up">&#43;12.5</span>`)
	assert.Contains(t, b.String(), `<span class="down">-3</span>`)
	assert.Contains(t, b.String(), `40 days`)
	b.Reset()
	err = tmpl["customer"].ExecuteTemplate(&b, "layout", page{Session: &session{CSRF: "x"}, Data: customerData{View: rows[0].CustomerView}})
	if err != nil {
		t.Fatal(err)
	}
	assert.Contains(t, b.String(), `(&#43;12.5 since yesterday)`)
	assert.Contains(t, b.String(), `(in 40 days)`)
}
