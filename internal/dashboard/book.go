package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// listKey is what the engine filters on: the rest (stage, search, order,
// page) the page does over the list it got.
type listKey struct{ tier, owner, segment string }

// listEntry is one list read from the engine, ranked by revenue at risk,
// with what the page derives from it once: lowercase search keys, other
// orders, the filters' choices.
type listEntry struct {
	views    []api.CustomerView
	keys     []string // lowercase id and name, for search
	built    time.Time
	took     time.Duration // what reading it cost
	complete bool          // fewer than api.MaxLimit: nothing was cut
	loading  atomic.Bool
	expired  atomic.Bool // an ack or snooze changed what it shows

	mu     sync.Mutex
	orders map[string][]int32

	choicesOnce sync.Once
	choices     [3][]string // owners, segments, stages

	// err is why the list could not be read (a partition of a group
	// between owners): the page says so, and the next one reads again.
	err error
}

// bookCache keeps the lists the page asked for, so that a page costs a
// scan of a ranked list and not a sort of the whole book. An entry serves
// for ttl, or ten times what reading it cost if that is longer (so that a
// large book is not re-read all the time); then a cheap list is read
// again at once, and a costly one in the background while the old one
// keeps serving. An ack or snooze from the page drops them all.
type bookCache struct {
	e   apiserver.Engine
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[listKey]*listEntry
}

const maxCachedLists = 64

func newBookCache(e apiserver.Engine, ttl time.Duration, now func() time.Time) *bookCache {
	return &bookCache{e: e, ttl: ttl, now: now, m: map[listKey]*listEntry{}}
}

// A list that took less than this to read is read again while the page
// waits: always fresh when it is cheap.
const cheapList = 50 * time.Millisecond

func (c *bookCache) load(k listKey) *listEntry {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	views, err := c.e.List(ctx, api.Filter{Tier: k.tier, Owner: k.owner, Segment: k.segment, Limit: api.MaxLimit})
	en := &listEntry{views: views, built: c.now(), took: time.Since(start), complete: len(views) < api.MaxLimit,
		keys: make([]string, len(views)), orders: map[string][]int32{}, err: err}
	if err != nil {
		en.expired.Store(true)
	}
	for i := range views {
		en.keys[i] = strings.ToLower(views[i].Customer + "\x00" + views[i].Name)
	}
	return en
}

func (c *bookCache) get(k listKey) *listEntry {
	c.mu.Lock()
	en := c.m[k]
	c.mu.Unlock()
	if en == nil {
		en = c.load(k)
		c.put(k, en)
		return en
	}
	if !en.expired.Load() && c.now().Sub(en.built) <= max(c.ttl, 10*en.took) {
		return en
	}
	if en.took < cheapList {
		en = c.load(k)
		c.put(k, en)
		return en
	}
	if en.loading.CompareAndSwap(false, true) {
		go func() { c.put(k, c.load(k)) }()
	}
	return en
}

func (c *bookCache) put(k listKey, en *listEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedLists {
		var oldest listKey
		var at time.Time
		for k2, e2 := range c.m {
			if at.IsZero() || e2.built.Before(at) {
				oldest, at = k2, e2.built
			}
		}
		delete(c.m, oldest)
	}
	c.m[k] = en
}

// invalidate expires every list: the next page reads the engine again,
// at once for a cheap list, in the background for a costly one (whose
// customer pages, read live, show the change meanwhile).
func (c *bookCache) invalidate() {
	c.mu.Lock()
	for _, en := range c.m {
		en.expired.Store(true)
	}
	c.mu.Unlock()
}

// Orders of the book. priority weighs revenue at risk by the renewal's
// closeness: up to twice as much for a renewal today, nothing extra 90
// days or more ahead.
var bookSorts = []struct{ Key, Label string }{
	{"priority", "Priority (revenue at risk × renewal urgency)"},
	{"revenue", "Revenue at risk"},
	{"renewal", "Days to renewal"},
	{"score", "Score"},
	{"change", "Change since yesterday"},
}

func priority(v *api.CustomerView) float64 {
	urgency := 0.0
	if v.DaysToRenewal != nil && *v.DaysToRenewal < 90 {
		urgency = float64(90-max(*v.DaysToRenewal, 0)) / 90
	}
	return v.RevenueAtRisk * (1 + urgency)
}

// order is the entry's views in the order named, computed once per entry.
// revenue is the engine's own order.
func (en *listEntry) order(by string) []int32 {
	en.mu.Lock()
	defer en.mu.Unlock()
	if o, ok := en.orders[by]; ok {
		return o
	}
	o := make([]int32, len(en.views))
	for i := range o {
		o[i] = int32(i)
	}
	v := en.views
	switch by {
	case "priority":
		p := make([]float64, len(v))
		for i := range v {
			p[i] = priority(&v[i])
		}
		slices.SortStableFunc(o, func(a, b int32) int { return cmp.Compare(p[b], p[a]) })
	case "renewal":
		days := func(i int32) int64 {
			if d := v[i].DaysToRenewal; d != nil {
				return *d
			}
			return 1 << 40 // unknown renewals last
		}
		slices.SortStableFunc(o, func(a, b int32) int { return cmp.Compare(days(a), days(b)) })
	case "score":
		slices.SortStableFunc(o, func(a, b int32) int {
			return cmp.Or(cmp.Compare(v[b].Score, v[a].Score), cmp.Compare(v[b].RawScore, v[a].RawScore))
		})
	case "change":
		ch := func(i int32) float64 {
			if c := v[i].Change1d; c != nil {
				return *c
			}
			return 0
		}
		slices.SortStableFunc(o, func(a, b int32) int { return cmp.Compare(ch(b), ch(a)) })
	}
	en.orders[by] = o
	return o
}

// bookQuery is the book page's query string.
type bookQuery struct {
	Tier, Owner, Segment, Stage, Q, Sort string
	Page                                 int
}

var bookTiers = []struct{ Key, Label string }{
	{"risk", "At risk (watch and above)"}, {"critical", "Critical"}, {"at_risk", "At risk"},
	{"watch", "Watch"}, {"healthy", "Healthy"}, {"all", "All"},
}

// parseBookQuery reads the filters; a value that cannot be right falls
// back to its default, a page should not fail for a stale bookmark.
func parseBookQuery(q url.Values) bookQuery {
	b := bookQuery{Tier: q.Get("tier"), Owner: q.Get("owner"), Segment: q.Get("segment"), Stage: q.Get("stage"),
		Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort")}
	if !slices.ContainsFunc(bookTiers, func(t struct{ Key, Label string }) bool { return t.Key == b.Tier }) {
		b.Tier = "risk"
	}
	if !slices.ContainsFunc(bookSorts, func(s struct{ Key, Label string }) bool { return s.Key == b.Sort }) {
		b.Sort = "priority"
	}
	for _, f := range []*string{&b.Owner, &b.Segment, &b.Stage, &b.Q} {
		if len(*f) > signals.MaxField {
			*f = (*f)[:signals.MaxField]
		}
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil {
		b.Page = min(max(n, 1), api.MaxLimit)
	} else {
		b.Page = 1
	}
	return b
}

func (b bookQuery) key() listKey {
	t := b.Tier
	if t == "all" {
		t = ""
	}
	return listKey{tier: t, owner: b.Owner, segment: b.Segment}
}

// URL is the book with b's filters and the given page.
func (b bookQuery) URL(page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"tier": b.Tier, "owner": b.Owner, "segment": b.Segment, "stage": b.Stage, "q": b.Q, "sort": b.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// bookRow is one customer on the page.
type bookRow struct {
	api.CustomerView
	Spark  sparkline
	Status string // acknowledged, snoozed
}

type bookData struct {
	Query                    bookQuery
	Rows                     []bookRow
	Total, From, To          int
	Prev, Next               string
	Truncated                bool
	Owners, Segments, Stages []string
	Tiers, Sorts             []struct{ Key, Label string }
	err                      error
}

// bookPage selects from a ranked list, no sort of the book per request:
// one pass over the cached order, keeping the page's slice.
func (d *Dashboard) bookPage(w http.ResponseWriter, r *http.Request) {
	q := parseBookQuery(r.URL.Query())
	data := d.selectBook(q)
	if data.err != nil {
		d.fail(w, r, data.err, http.StatusServiceUnavailable, "The book cannot be read right now (a part of it is changing hands); try again in a few seconds.")
		return
	}
	if data.Total == 0 && q.Q != "" {
		// An exact id finds a customer outside the list (healthy, or
		// beyond its cut).
		if _, ok, err := d.o.Engine.Customer(r.Context(), q.Q); err == nil && ok {
			http.Redirect(w, r, customerURL(q.Q), http.StatusSeeOther)
			return
		}
	}
	d.render(w, r, http.StatusOK, "book", page{Title: "My book", Nav: "book", Data: data})
}

func (d *Dashboard) selectBook(q bookQuery) *bookData {
	en := d.book.get(q.key())
	size := d.o.PageSize
	from := (q.Page - 1) * size
	data := &bookData{Query: q, Truncated: !en.complete, Tiers: bookTiers, Sorts: bookSorts, err: en.err}
	needle := strings.ToLower(q.Q)
	var page []int32
	for _, i := range en.order(q.Sort) {
		v := &en.views[i]
		if q.Stage != "" && (v.Profile == nil || v.Profile.Stage != q.Stage) {
			continue
		}
		if needle != "" && !strings.Contains(en.keys[i], needle) {
			continue
		}
		if data.Total >= from && len(page) < size {
			page = append(page, i)
		}
		data.Total++
	}
	now := d.o.Now()
	data.Rows = make([]bookRow, len(page))
	for j, i := range page {
		row := bookRow{CustomerView: en.views[i]}
		// The list is unexplained; the sparkline needs the history.
		if full, ok, err := d.o.Engine.Customer(context.Background(), row.Customer); err == nil && ok {
			row.Spark = newSparkline(full.History)
		}
		row.Status = alertStatus(&row.CustomerView, now)
		data.Rows[j] = row
	}
	if data.Total > 0 {
		data.From, data.To = from+1, from+len(page)
	}
	if q.Page > 1 {
		data.Prev = q.URL(q.Page - 1)
	}
	if from+len(page) < data.Total {
		data.Next = q.URL(q.Page + 1)
	}
	data.Owners, data.Segments, data.Stages = d.choices()
	return data
}

// choices are the owners, segments and stages of the customers at risk,
// for the filters' menus: worked out once per list.
func (d *Dashboard) choices() (owners, segments, stages []string) {
	en := d.book.get(listKey{tier: "risk"})
	en.choicesOnce.Do(func() {
		seen := [3]map[string]bool{{}, {}, {}}
		for i := range en.views {
			if p := en.views[i].Profile; p != nil {
				seen[0][p.Owner], seen[1][p.Segment], seen[2][p.Stage] = true, true, true
			}
		}
		for _, s := range signals.Stages {
			seen[2][s] = true
		}
		for j := range seen {
			for s := range seen[j] {
				if s != "" {
					en.choices[j] = append(en.choices[j], s)
				}
			}
			sort.Strings(en.choices[j])
		}
	})
	return en.choices[0], en.choices[1], en.choices[2]
}

// alertStatus says what the CSMs did about the customer's alert.
func alertStatus(v *api.CustomerView, now time.Time) string {
	st := &v.Alerting
	switch {
	case st.Snoozed(now):
		return "snoozed"
	case st.Open() && st.Ack != nil:
		return "acknowledged"
	case st.Open():
		return "open"
	}
	return ""
}

// customerURL is the customer's page. "." and ".." are escaped too: the
// router would clean them out of the path.
func customerURL(id string) string {
	seg := url.PathEscape(id)
	if id == "." || id == ".." {
		seg = strings.ReplaceAll(id, ".", "%2E")
	}
	return "/ui/customers/" + seg
}

func tierClass(t rules.Tier) string { return strings.ReplaceAll(t.String(), "_", "-") }
