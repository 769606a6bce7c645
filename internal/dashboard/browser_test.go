package dashboard

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
)

// chromium finds Debian's chromium; CI installs it (.ci/run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: the browser test needs it; install it with `apt-get install -y chromium` (Debian)")
	return ""
}

// TestBrowser drives the page in headless chromium over a real engine:
// open the book, filter by owner, open a customer, see the chart and the
// contributions, acknowledge the alert, snooze. The screenshots go to a
// folder the test prints.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	env := newEnv(t, 40, 60, Options{})
	srv := httptest.NewServer(env.handler)
	t.Cleanup(srv.Close)
	v := openAlert(t, env.e.List(api.Filter{Tier: "risk", Limit: api.MaxLimit}))
	owner := v.Owner

	shots, err := os.MkdirTemp("", "riskwatch-dashboard-")
	require.NoError(t, err)
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 800), chromedp.Flag("headless", "new"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()

	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, actions...), what)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	texts := func(sel string) []string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(`+strconv.Quote(sel)+`)].map(e => e.textContent.trim())`))
		require.NoError(t, err, sel)
		return s
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, "screenshot")
		require.NoError(t, os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644))
	}

	// The book.
	do("open the book", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("table.book")))
	assert.Contains(t, text("#count"), "Customers 1–")
	shot("1-book")

	// Filter by owner.
	do("choose an owner", chromedp.SetValue(chromedp.CSS("#owner"), owner))
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("form.filters button[type=submit]")))
	require.NoError(t, err, "apply the filter")
	do("see the owner's book", chromedp.WaitVisible(chromedp.CSS("table.book")))
	owners := texts("table.book tbody tr td:nth-of-type(7)")
	require.NotEmpty(t, owners)
	for _, o := range owners {
		assert.Equal(t, owner, o, "only %s's customers", owner)
	}
	shot("2-book-owner")

	// A customer: the chart, the contributions, the playbook.
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a[href="`+customerURL(v.Customer)+`"]`)))
	require.NoError(t, err, "open a customer")
	do("see the customer", chromedp.WaitVisible(chromedp.CSS("svg.score-chart path.score")),
		chromedp.WaitVisible(chromedp.CSS("table.contrib")))
	contribs := texts("table.contrib tbody th")
	full, _ := env.e.Customer(v.Customer)
	require.Len(t, contribs, len(full.Reasons))
	for i, r := range full.Reasons {
		assert.True(t, strings.HasPrefix(contribs[i], r.Rule), "row %d is %s: %q", i, r.Rule, contribs[i])
	}
	shot("3-customer")

	// Acknowledge.
	do("fill the ack", chromedp.SetValue(chromedp.CSS("#ack-by"), "alice"),
		chromedp.SetValue(chromedp.CSS("#ack-note"), "called the champion"))
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#ack-form button")))
	require.NoError(t, err, "acknowledge")
	do("see it acknowledged", chromedp.WaitVisible(chromedp.CSS("#ack-state")))
	assert.Contains(t, text("#ack-state"), "Acknowledged by alice")
	shot("4-acknowledged")

	// Snooze: the name is remembered from the ack.
	by, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#sn-by")))
	require.NoError(t, err)
	assert.Equal(t, "alice", by)
	do("fill the snooze", chromedp.SetValue(chromedp.CSS("#sn-reason"), "renewal call booked"))
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#snooze-form button")))
	require.NoError(t, err, "snooze")
	do("see it snoozed", chromedp.WaitVisible(chromedp.CSS("#snooze-state")))
	snooze := text("#snooze-state")
	assert.Contains(t, snooze, "Snoozed by alice")
	assert.Contains(t, snooze, "renewal call booked")
	shot("5-snoozed")
	// RISKWATCH_DOCS_SCREENSHOT=docs/img/dashboard-customer.png (a path
	// from the repository's root) renews the picture in docs/dashboard.md.
	if p := os.Getenv("RISKWATCH_DOCS_SCREENSHOT"); p != "" {
		do("docs viewport", chromedp.EmulateViewport(1280, 1080))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		do("back", chromedp.EmulateViewport(1280, 800))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", p), png, 0o644))
	}
	got, _ := env.e.Customer(v.Customer)
	require.NotNil(t, got.Alerting.Ack)
	assert.True(t, got.Alerting.Snoozed(time.Now()))

	// The alerts and the rules, and the book at phone width.
	do("alerts", chromedp.Navigate(srv.URL+"/ui/alerts"), chromedp.WaitVisible(chromedp.CSS("#live-state.on")))
	assert.Contains(t, text("#live-state"), "Live")
	// An alert published now appears in the feed.
	live := alerting.Alert{ID: "live-1", Type: alerting.Escalated, Severity: "critical", Customer: "cust-live",
		Name: "Live Wire Inc", Owner: "dan", Score: 91, PreviousScore: 70, Tier: rules.Critical, Time: time.Now().UTC()}
	body, _ := json.Marshal(live)
	_, err = env.js.Publish(ctx, alerting.Subject(&live), body)
	require.NoError(t, err)
	do("see the live alert", chromedp.WaitVisible(chromedp.CSS(`#feed li[data-customer="cust-live"]`)))
	// Ack in place: the first open alert that can be acknowledged (the
	// session knows the name from the form above, no prompt).
	other, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#open button.ack").closest("li").getAttribute("data-customer")`))
	require.NoError(t, err)
	do("ack in place", chromedp.Click(chromedp.CSS("#open button.ack")),
		chromedp.WaitVisible(chromedp.CSS(`#open li[data-customer="`+other+`"] .pill.st-acknowledged`)))
	shot("6-alerts")
	acked, _ := env.e.Customer(other)
	require.NotNil(t, acked.Alerting.Ack, "the ack in place reached the engine")
	assert.Equal(t, "alice", acked.Alerting.Ack.By)
	do("rules", chromedp.Navigate(srv.URL+"/ui/rules"), chromedp.WaitVisible(chromedp.CSS("table.rules")))
	shot("7-rules")
	do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("table.book")))
	shot("8-book-phone")
}
