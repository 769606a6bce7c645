package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
)

// openAlert is a customer of e with an open alert nobody acknowledged.
func openAlert(t testing.TB, v []api.CustomerView) api.CustomerView {
	t.Helper()
	for _, c := range v {
		if c.Alerting.Open() && c.Alerting.Ack == nil && c.Alerting.LastID != "" && c.Alerting.Snooze == nil {
			return c
		}
	}
	t.Fatal("the simulated base has no customer with an open alert")
	return api.CustomerView{}
}

var rowRe = regexp.MustCompile(`<tr data-customer="([^"]+)">`)

// TestWithRealEngine runs the page over one real engine fed a simulated
// base: the pages, then what acts, then the options (read-only, a token)
// on other dashboards over the same engine.
func TestWithRealEngine(t *testing.T) {
	env := newEnv(t, 50, 60, Options{PageSize: 10})
	t.Run("pages", func(t *testing.T) { testPages(t, env) })
	t.Run("ack, snooze, unsnooze", func(t *testing.T) { testAckSnoozeUnsnooze(t, env) })
	t.Run("read-only", func(t *testing.T) { testReadOnly(t, env) })
	t.Run("token and session", func(t *testing.T) { testTokenSession(t, env) })
	t.Run("secure cookie behind TLS", func(t *testing.T) { testSecureCookieBehindTLS(t, env) })
	t.Run("live feed", func(t *testing.T) { testLiveFeed(t, env) })
	t.Run("live feed ends on stop", func(t *testing.T) { testLiveFeedEndsOnStop(t, env) })
}

func testPages(t *testing.T, env *env) {
	b := newBrowser(t, env.handler)
	risky := env.e.List(api.Filter{Tier: "risk", Limit: api.MaxLimit})
	require.NotEmpty(t, risky, "some simulated customers are at risk")

	t.Run("book", func(t *testing.T) {
		r := b.get("/")
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, "text/html; charset=utf-8", r.header.Get("Content-Type"))
		assert.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'self'")
		rows := rowRe.FindAllStringSubmatch(r.body, -1)
		assert.Len(t, rows, min(10, len(risky)), "one page of the customers at risk")
		assert.Contains(t, r.body, `class="spark"`, "rows have a trend")
		assert.Contains(t, r.body, "of "+itoa(len(risky)))
		if len(risky) > 10 {
			assert.Contains(t, r.body, `rel="next"`)
			r2 := b.get("/?page=2")
			rows2 := rowRe.FindAllStringSubmatch(r2.body, -1)
			require.NotEmpty(t, rows2)
			assert.NotEqual(t, rows[0][1], rows2[0][1], "page 2 is another page")
		}
	})

	t.Run("ranked by revenue at risk", func(t *testing.T) {
		r := b.get("/?sort=revenue")
		rows := rowRe.FindAllStringSubmatch(r.body, -1)
		require.NotEmpty(t, rows)
		assert.Equal(t, risky[0].Customer, rows[0][1], "the engine's first is the page's first")
	})

	t.Run("filters", func(t *testing.T) {
		owner := ""
		for _, v := range risky {
			if v.Owner != "" {
				owner = v.Owner
				break
			}
		}
		require.NotEmpty(t, owner)
		r := b.get("/?owner=" + url.QueryEscape(owner) + "&tier=all")
		require.Equal(t, http.StatusOK, r.status)
		rows := rowRe.FindAllStringSubmatch(r.body, -1)
		require.NotEmpty(t, rows)
		for _, m := range rows {
			v, ok := env.e.Customer(m[1])
			require.True(t, ok)
			assert.Equal(t, owner, v.Owner, "only %s's customers", owner)
		}
		// A search by (part of) a name finds it; an exact id of a
		// customer off the list goes to its page.
		name := risky[0].Name
		r = b.get("/?q=" + url.QueryEscape(strings.ToUpper(name)))
		assert.Contains(t, r.body, `data-customer="`+risky[0].Customer+`"`)
		r = b.get("/?tier=critical&q=" + url.QueryEscape(risky[len(risky)-1].Customer))
		if risky[len(risky)-1].Tier != rules.Critical {
			assert.Equal(t, http.StatusSeeOther, r.status)
			assert.Equal(t, customerURL(risky[len(risky)-1].Customer), r.header.Get("Location"))
		}
		r = b.get("/?q=no-such-customer-anywhere")
		assert.Contains(t, r.body, "No customer matches.")
		// A stale bookmark's nonsense falls back to the defaults.
		r = b.get("/?tier=bogus&sort=bogus&page=-3")
		assert.Equal(t, http.StatusOK, r.status)
	})

	t.Run("customer", func(t *testing.T) {
		v := openAlert(t, risky)
		r := b.get(customerURL(v.Customer))
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `class="score-chart"`)
		assert.Contains(t, r.body, `<path class="score"`)
		assert.Contains(t, r.body, `class="band critical"`)
		assert.Contains(t, r.body, `class="contrib"`)
		full, _ := env.e.Customer(v.Customer)
		for _, c := range full.Reasons {
			assert.Contains(t, r.body, ">"+c.Rule+" ", "contribution %s is shown", c.Rule)
		}
		if len(full.Playbook) > 0 {
			assert.Contains(t, r.body, "<li>"+full.Playbook[0]+"</li>")
		}
		assert.Contains(t, r.body, `id="ack-form"`)
		assert.Contains(t, r.body, `value="`+v.Alerting.LastID+`"`)
		assert.Contains(t, r.body, `class="alerts"`, "the alerts read from the stream")

		assert.Equal(t, http.StatusNotFound, b.get("/ui/customers/nobody-at-all").status)
		assert.Equal(t, http.StatusNotFound, b.get("/ui/no-such-page").status)
	})

	t.Run("rules", func(t *testing.T) {
		r := b.get("/ui/rules")
		require.Equal(t, http.StatusOK, r.status)
		for _, rl := range env.set.Rules {
			assert.Contains(t, r.body, "<th scope=\"row\">"+rl.Name+"</th>")
		}
		assert.Contains(t, r.body, "among the "+itoa(len(risky))+" customers at risk")
		assert.Contains(t, r.body, `class="source"`)
	})

	t.Run("alerts", func(t *testing.T) {
		r := b.get("/ui/alerts")
		require.Equal(t, http.StatusOK, r.status)
		assert.Contains(t, r.body, `id="feed"`)
		assert.Contains(t, r.body, `class="ack"`, "open alerts can be acknowledged in place")
	})

	t.Run("API beside the page", func(t *testing.T) {
		r := b.get("/v1/customers?tier=risk")
		assert.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	})
}

func itoa(n int) string { return strconvItoa(n) }

func testAckSnoozeUnsnooze(t *testing.T, env *env) {
	_, h := env.with(t, Options{})
	b := newBrowser(t, h)
	v := openAlert(t, env.e.List(api.Filter{Tier: "risk", Limit: api.MaxLimit}))
	page := b.get(customerURL(v.Customer))
	token := csrf(t, page.body)
	path := customerURL(v.Customer)

	// Without the session's CSRF token, nothing happens.
	r := b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"mallory"}}, nil)
	assert.Equal(t, http.StatusForbidden, r.status)
	r = b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"mallory"}, "csrf": {"forged"}}, nil)
	assert.Equal(t, http.StatusForbidden, r.status)
	// Nor from another site, token or not.
	r = b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"mallory"}, "csrf": {token}},
		map[string]string{"Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, r.status)
	// Nor with a body past the bound.
	r = b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"alice"}, "csrf": {token},
		"note": {strings.Repeat("x", maxForm)}}, nil)
	assert.Equal(t, http.StatusForbidden, r.status)
	// Nor without a name.
	r = b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "csrf": {token}}, nil)
	assert.Equal(t, http.StatusBadRequest, r.status)
	got, _ := env.e.Customer(v.Customer)
	require.Nil(t, got.Alerting.Ack, "no ack recorded yet")

	r = b.do("POST", path+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"alice"}, "note": {"called them"}, "csrf": {token}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	got, _ = env.e.Customer(v.Customer)
	require.NotNil(t, got.Alerting.Ack)
	assert.Equal(t, "alice", got.Alerting.Ack.By)
	assert.Equal(t, "called them", got.Alerting.Ack.Note)
	page = b.get(r.header.Get("Location"))
	assert.Contains(t, page.body, "Alert acknowledged.")
	assert.Contains(t, page.body, `id="ack-state"`)
	assert.NotContains(t, page.body, `id="ack-form"`, "an acknowledged alert has no ack button")
	assert.Contains(t, page.body, `value="alice"`, "the session remembers who acts")

	// An ack of an alert that is not the open one is a conflict, in
	// JSON for scripts.
	r = b.do("POST", path+"/ack", url.Values{"alert_id": {"not-the-open-one"}, "by": {"alice"}},
		map[string]string{"X-CSRF-Token": token, "Accept": "application/json"})
	assert.Equal(t, http.StatusConflict, r.status, r.body)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.body), &e))
	assert.NotEmpty(t, e["error"])

	r = b.do("POST", path+"/snooze", url.Values{"for": {"7d"}, "by": {"alice"}, "reason": {"renewal call booked"}, "csrf": {token}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	got, _ = env.e.Customer(v.Customer)
	require.NotNil(t, got.Alerting.Snooze)
	assert.Equal(t, "renewal call booked", got.Alerting.Snooze.Note)
	page = b.get(path)
	assert.Contains(t, page.body, `id="snooze-state"`)
	assert.Contains(t, page.body, `id="unsnooze-form"`)
	book := b.get("/?tier=all&q=" + url.QueryEscape(v.Customer))
	assert.Contains(t, book.body, `st-snoozed`, "the book shows the snooze at once")

	r = b.do("POST", path+"/snooze", url.Values{"for": {"forever"}, "by": {"alice"}, "csrf": {token}}, nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "a duration that is none")

	r = b.do("POST", path+"/unsnooze", url.Values{"by": {"bob"}, "reason": {"they churned the call"}, "csrf": {token}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	got, _ = env.e.Customer(v.Customer)
	assert.False(t, got.Alerting.Snoozed(time.Now()))
	require.NotEmpty(t, got.Alerting.Log)
	last := got.Alerting.Log[len(got.Alerting.Log)-1]
	assert.Equal(t, alerting.KindUnsnooze, last.Kind)
	assert.Equal(t, "bob", last.By)
}

func testReadOnly(t *testing.T, env *env) {
	_, h := env.with(t, Options{ReadOnly: true})
	b := newBrowser(t, h)
	v := openAlert(t, env.e.List(api.Filter{Tier: "risk", Limit: api.MaxLimit}))
	page := b.get(customerURL(v.Customer))
	assert.NotContains(t, page.body, `id="ack-form"`)
	assert.NotContains(t, page.body, `id="snooze-form"`)
	assert.Contains(t, page.body, "read-only")
	r := b.do("POST", customerURL(v.Customer)+"/ack", url.Values{"alert_id": {v.Alerting.LastID}, "by": {"alice"},
		"csrf": {csrf(t, page.body)}}, nil)
	assert.Equal(t, http.StatusForbidden, r.status)
	got, _ := env.e.Customer(v.Customer)
	assert.Nil(t, got.Alerting.Ack)
	assert.NotContains(t, b.get("/ui/alerts").body, `class="ack"`)
}

func testTokenSession(t *testing.T, env *env) {
	_, h := env.with(t, Options{Token: "s3cret"})
	b := newBrowser(t, h)

	r := b.get("/?owner=alice")
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/ui/login?next="+url.QueryEscape("/?owner=alice"), r.header.Get("Location"))
	assert.Equal(t, http.StatusUnauthorized, b.do("GET", "/ui/alerts/events", nil, map[string]string{"Accept": "text/event-stream"}).status)
	login := b.get("/ui/login?next=/")
	assert.Contains(t, login.body, `type="password"`)

	r = b.do("POST", "/ui/login", url.Values{"token": {"wrong"}, "name": {"alice"}, "next": {"/"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Contains(t, r.body, "not riskd")
	assert.Empty(t, r.header.Values("Set-Cookie"))

	// An open redirect is refused: next stays on the site.
	r = b.do("POST", "/ui/login", url.Values{"token": {"s3cret"}, "name": {"alice"}, "next": {"//evil.example/"}}, nil)
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/", r.header.Get("Location"))
	cookie := r.header.Get("Set-Cookie")
	assert.Contains(t, cookie, "HttpOnly")
	assert.Contains(t, cookie, "SameSite=Strict")
	assert.NotContains(t, cookie, "Secure", "plain HTTP cannot carry a Secure cookie")

	page := b.get("/")
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, page.body, "Sign out (alice)")

	// The API keeps its bearer token: the session does not open it.
	assert.Equal(t, http.StatusUnauthorized, b.get("/v1/customers").status)
	assert.Equal(t, http.StatusOK, b.do("GET", "/v1/customers", nil, map[string]string{"Authorization": "Bearer s3cret"}).status)

	r = b.do("POST", "/ui/logout", url.Values{"csrf": {csrf(t, page.body)}}, nil)
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, http.StatusSeeOther, b.get("/").status, "signed out")
}

func testSecureCookieBehindTLS(t *testing.T, env *env) {
	_, h := env.with(t, Options{Token: "s3cret"})
	srv := newTLSServer(t, h)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.PostForm(srv.URL+"/ui/login", url.Values{"token": {"s3cret"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			found = true
			assert.True(t, c.Secure)
			assert.True(t, c.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
		}
	}
	assert.True(t, found, "the login sets the session cookie")
}

func testLiveFeed(t *testing.T, env *env) {
	_, h := env.with(t, Options{})
	b := newBrowser(t, h)
	b.get("/") // a session
	for _, tc := range []struct {
		owner     string
		wantFirst string
	}{{"", "cust-a"}, {"bob", "cust-b"}} {
		t.Run("owner="+tc.owner, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", b.srv.URL+"/ui/alerts/events?owner="+tc.owner, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := b.client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			rd := bufio.NewReader(resp.Body)
			line, err := rd.ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, ": riskwatch alerts\n", line, "the stream is open")
			// Published after the feed opened: an ordered consumer from now.
			for _, a := range []alerting.Alert{
				{ID: "a1", Type: alerting.Raised, Severity: "critical", Customer: "cust-a", Owner: "alice", Score: 85, Tier: rules.Critical, Time: time.Now()},
				{ID: "b1", Type: alerting.Raised, Severity: "watch", Customer: "cust-b", Owner: "bob", Score: 45, Tier: rules.Watch, Time: time.Now()},
			} {
				body, _ := json.Marshal(a)
				_, err := env.js.Publish(ctx, alerting.Subject(&a), body)
				require.NoError(t, err)
			}
			var got feedAlert
			for {
				line, err := rd.ReadString('\n')
				require.NoError(t, err)
				if data, ok := strings.CutPrefix(line, "data: "); ok {
					require.NoError(t, json.Unmarshal([]byte(data), &got))
					break
				}
			}
			assert.Equal(t, tc.wantFirst, got.Customer)
			assert.Equal(t, customerURL(tc.wantFirst), got.URL)
		})
	}
}

// A feed ends when riskd stops, so that the HTTP server's graceful
// shutdown is not held up by an open browser.
func testLiveFeedEndsOnStop(t *testing.T, env *env) {
	stop := make(chan struct{})
	_, h := env.with(t, Options{Stop: stop})
	b := newBrowser(t, h)
	b.get("/")
	req, _ := http.NewRequest("GET", b.srv.URL+"/ui/alerts/events", nil)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	_, err = rd.ReadString('\n')
	require.NoError(t, err)
	close(stop)
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := rd.ReadString('\n'); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, io.EOF, "the stream ends")
	case <-time.After(10 * time.Second):
		t.Fatal("the feed outlived the stop")
	}
}
