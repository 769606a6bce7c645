package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// bookEngine serves apiserver.Engine's reads from a book.Book, the
// engine's own pure core, filled without NATS: a book of 100,000
// customers in seconds, for the benchmarks. It locks and orders as the
// engine does (internal/engine/query.go). It cannot act.
type bookEngine struct {
	mu sync.RWMutex
	b  *book.Book
}

var errReadOnly = errors.New("the benchmark's engine cannot act")

func (e *bookEngine) Customer(_ context.Context, id string) (api.CustomerView, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, ok := e.b.View(id, true)
	return v, ok, nil
}

func (e *bookEngine) List(_ context.Context, f api.Filter) ([]api.CustomerView, error) {
	e.mu.RLock()
	views := e.b.Matching(f)
	e.mu.RUnlock()
	return f.Order(views), nil
}

func (e *bookEngine) Outcomes(_ context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.b.Outcomes(r), nil
}

func (e *bookEngine) CustomerOfAlert(_ context.Context, id string) (string, bool, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, ok := e.b.CustomerOfAlert(id)
	return c, ok, nil
}

func (e *bookEngine) Submit(context.Context, api.Command) error         { return errReadOnly }
func (e *bookEngine) PutProfile(context.Context, signals.Profile) error { return errReadOnly }
func (e *bookEngine) Ready() error                                      { return nil }
func (e *bookEngine) Healthy() error                                    { return nil }
func (e *bookEngine) Lifetimes(context.Context) ([]churn.Customer, churn.Config, error) {
	return nil, churn.Config{}, nil
}

// fillBook applies n customers' profiles (20 owners, three segments,
// renewals over a year) and a few signals each, so that about a third are
// at risk in varied tiers.
func fillBook(t testing.TB, set *rules.Set, n int) *bookEngine {
	t.Helper()
	bk := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	var seq uint64
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	apply := func(subject string, body string) {
		seq++
		m := book.Message{Seq: seq, Subject: subject, Data: []byte(body)}
		if strings.HasPrefix(subject, "risk.signals.") {
			s, err := signals.Decode(subject, m.Data, time.Time{})
			require.NoError(t, err, body)
			m.Signal = &s
		}
		bk.Apply(&m, &fx)
		fx.Reset()
	}
	segments := []string{"smb", "mid_market", "enterprise"}
	for i := range n {
		id := fmt.Sprintf("c%06d", i)
		apply(signals.CustomerPrefix+id, fmt.Sprintf(`{"id":%q,"name":"Customer %d Ltd","owner":"owner-%02d","segment":%q,"stage":%q,"arr":%d,"renewal_date":%q}`,
			id, i, i%20, segments[i%3], signals.Stages[i%4], 5_000+(i*7919)%200_000, at.AddDate(0, 0, 5+i%360).Format(time.DateOnly)))
		sig := func(j int, kind, data string) {
			apply(signals.Subject(signals.Kind(kind), id), fmt.Sprintf(`{"id":"%s-%d","kind":%q,"customer":%q,"time":%q,"data":%s}`,
				id, j, kind, id, at.Add(time.Duration(j)*time.Minute).Format(time.RFC3339), data))
		}
		sig(0, "usage", `{"events":5}`)
		if i%3 == 0 {
			sig(1, "nps", `{"score":2}`)
		}
		if i%5 == 0 {
			sig(2, "commercial", `{"type":"cancellation_inquiry"}`)
		}
		if i%7 == 0 {
			sig(3, "champion", `{"type":"left","contact":"Jo"}`)
		}
	}
	return &bookEngine{b: bk}
}

var bench100k = sync.OnceValues(func() (*bookEngine, *rules.Set) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	if err != nil {
		panic(err)
	}
	return fillBook(&testing.B{}, set, 100_000), set
})

// BenchmarkBookPage renders a page of the book over 100,000 customers
// with the list cached, as every page but the first of each filter in
// five seconds is: GET / and its variants, through the handler.
func BenchmarkBookPage(b *testing.B) {
	e, set := bench100k()
	d, err := New(Options{Engine: e, Rules: set, RulesText: configs.DefaultRules, CacheTTL: time.Hour})
	require.NoError(b, err)
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := rec.Result().Cookies()[0]
	all, _ := e.List(context.Background(), api.Filter{Tier: "risk", Limit: api.MaxLimit})
	risky := len(all)
	b.Logf("%d customers at risk in the list (the engine's cut is %d)", risky, api.MaxLimit)
	for _, tc := range []struct{ name, path string }{
		{"top", "/"},
		{"owner", "/?owner=owner-07"},
		{"owner-segment-stage", "/?owner=owner-07&segment=smb&stage=renewal"},
		{"search", "/?q=customer+4242"},
		{"renewal-page-40", "/?sort=renewal&page=40"},
		{"all-tiers", "/?tier=all"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", tc.path, nil)
			req.AddCookie(cookie)
			warm := httptest.NewRecorder()
			d.ServeHTTP(warm, req)
			require.Equal(b, http.StatusOK, warm.Code, warm.Body.String())
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, req)
			}
		})
	}
}

// BenchmarkBookList is what a page waits for when its list is not cached
// (the first of a filter), and what the background refresh costs: the
// engine's List of every customer at risk at 100,000.
func BenchmarkBookList(b *testing.B) {
	e, _ := bench100k()
	c := newBookCache(e, time.Hour, time.Now)
	for _, k := range []listKey{{tier: "risk"}, {tier: "risk", owner: "owner-07"}} {
		b.Run(k.tier+"-"+k.owner, func(b *testing.B) {
			var n int
			b.ReportAllocs()
			for b.Loop() {
				n = len(c.load(k).views)
			}
			b.ReportMetric(float64(n), "customers")
		})
	}
}

// TestBookAtScale is the benchmark's fast variant: a book of a few
// thousand customers without NATS, paged through to the end.
func TestBookAtScale(t *testing.T) {
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(t, err)
	e := fillBook(t, set, 3000)
	d, err := New(Options{Engine: e, Rules: set, RulesText: configs.DefaultRules})
	require.NoError(t, err)
	risky, _ := e.List(context.Background(), api.Filter{Tier: "risk", Limit: api.MaxLimit})
	require.Greater(t, len(risky), 100, "a good share is at risk")
	seen := map[string]bool{}
	q := bookQuery{Tier: "risk", Sort: "revenue", Page: 1}
	for {
		data := d.selectBook(q)
		require.Equal(t, len(risky), data.Total)
		for i, r := range data.Rows {
			require.False(t, seen[r.Customer], "%s twice", r.Customer)
			seen[r.Customer] = true
			require.Equal(t, risky[(q.Page-1)*50+i].Customer, r.Customer, "the engine's order")
		}
		if data.Next == "" {
			break
		}
		q.Page++
	}
	require.Len(t, seen, len(risky), "the pages cover the list")
	// Priority puts a renewal next week before the same revenue next year.
	data := d.selectBook(bookQuery{Tier: "risk", Sort: "priority", Page: 1})
	for i := 1; i < len(data.Rows); i++ {
		require.GreaterOrEqual(t, priority(&data.Rows[i-1].CustomerView), priority(&data.Rows[i].CustomerView))
	}
}
