package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

func TestFilterCheck(t *testing.T) {
	for _, tc := range []struct {
		f    api.Filter
		want string // "" when valid
	}{
		{api.Filter{}, ""},
		{api.Filter{Tier: "risk", Sort: "score", Limit: api.MaxLimit}, ""},
		{api.Filter{Sort: "probability"}, ""},
		{api.Filter{Tier: "at_risk", Owner: "alice"}, ""},
		{api.Filter{Tier: "teir"}, `tier "teir"`},
		{api.Filter{Sort: "name"}, `sort "name"`},
		{api.Filter{Limit: -1}, "limit -1"},
		{api.Filter{Limit: api.MaxLimit + 1}, "limit 10001"},
		{api.Filter{Owner: strings.Repeat("o", signals.MaxField+1)}, "owner is"},
	} {
		err := tc.f.Check()
		if tc.want == "" {
			assert.NoError(t, err, "%+v", tc.f)
			continue
		}
		require.Error(t, err, "%+v", tc.f)
		assert.Contains(t, err.Error(), tc.want)
		assert.Equal(t, http.StatusBadRequest, api.StatusOf(err))
	}
}

func TestFilterMatch(t *testing.T) {
	alice := &signals.Profile{ID: "a", Owner: "alice", Segment: "smb"}
	for _, tc := range []struct {
		name string
		f    api.Filter
		tier rules.Tier
		p    *signals.Profile
		want bool
	}{
		{"everything", api.Filter{}, rules.Healthy, nil, true},
		{"risk is above healthy", api.Filter{Tier: "risk"}, rules.Watch, nil, true},
		{"risk leaves healthy out", api.Filter{Tier: "risk"}, rules.Healthy, alice, false},
		{"one tier", api.Filter{Tier: "critical"}, rules.AtRisk, alice, false},
		{"owner", api.Filter{Owner: "alice"}, rules.Healthy, alice, true},
		{"owner without a profile", api.Filter{Owner: "alice"}, rules.Healthy, nil, false},
		{"segment", api.Filter{Segment: "enterprise"}, rules.Healthy, alice, false},
	} {
		assert.Equal(t, tc.want, tc.f.Match(tc.tier, tc.p), tc.name)
	}
}

func TestFilterOrder(t *testing.T) {
	views := []api.CustomerView{
		{Customer: "c", Score: 90, RevenueAtRisk: 100},
		{Customer: "a", Score: 40, RevenueAtRisk: 5000},
		{Customer: "b", Score: 40, RevenueAtRisk: 5000},
		{Customer: "d", Score: 60, RevenueAtRisk: 5000},
	}
	ids := func(vs []api.CustomerView) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Customer)
		}
		return strings.Join(s, ",")
	}
	assert.Equal(t, "d,a,b,c", ids(api.Filter{}.Order(append([]api.CustomerView{}, views...))),
		"revenue at risk, then score, then id")
	assert.Equal(t, "c,d", ids(api.Filter{Sort: "score", Limit: 2}.Order(append([]api.CustomerView{}, views...))))
}

// Customers the cap ties at a score of 100 have distinct raw scores, so
// distinct probabilities, and every sort ranks them by those, ties of
// everything broken by id: the top of a list is no plateau.
func TestFilterOrderPastTheCap(t *testing.T) {
	cal := rules.DefaultCalibration
	view := func(id string, score, raw, arr float64) api.CustomerView {
		return api.CustomerView{Customer: id, Score: score, RawScore: raw, Probability: cal.Probability(raw),
			ARR: arr, RevenueAtRisk: alerting.RevenueAtRisk(arr, score)}
	}
	views := []api.CustomerView{
		view("a", 100, 100, 1000),
		view("b", 100, 168, 1000),
		view("c", 100, 121.5, 1000),
		view("d", 62, 62, 1000),
		view("e", 100, 121.5, 1000), // ties c in everything but its id
		view("f", 0, -30, 1000),
		view("g", 0, 0, 1000),
	}
	seen := map[float64]bool{}
	for _, v := range views {
		if v.Customer != "e" {
			assert.False(t, seen[v.Probability], "%s: probability %v is another customer's", v.Customer, v.Probability)
			seen[v.Probability] = true
		}
	}
	for _, tc := range []struct {
		sort, want string
	}{
		{"", "b,c,e,a,d,g,f"},
		{"revenue_at_risk", "b,c,e,a,d,g,f"},
		{"score", "b,c,e,a,d,g,f"},
		{"probability", "b,c,e,a,d,g,f"},
	} {
		got := api.Filter{Sort: tc.sort}.Order(slices.Clone(views))
		var ids []string
		for _, v := range got {
			ids = append(ids, v.Customer)
		}
		assert.Equal(t, tc.want, strings.Join(ids, ","), "sort %q", tc.sort)
		for i := 1; i < len(got); i++ {
			assert.GreaterOrEqual(t, got[i-1].Probability, got[i].Probability, "sort %q at %d", tc.sort, i)
		}
	}
	// A larger ARR still leads by revenue at risk; by probability it
	// does not.
	rich := view("h", 80, 80, 100000)
	got := api.Filter{}.Order(append(slices.Clone(views), rich))
	assert.Equal(t, "h", got[0].Customer)
	got = api.Filter{Sort: "probability"}.Order(append(slices.Clone(views), rich))
	assert.Equal(t, "b", got[0].Customer)
}

func TestCommandValidate(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ok := api.Command{Type: alerting.KindSnooze, Customer: "acme", By: "alice", Time: at, Until: at.Add(time.Hour)}
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		edit func(*api.Command)
		want string
	}{
		{func(c *api.Command) { c.Type = "mute" }, "action type"},
		{func(c *api.Command) { c.Customer = "" }, "customer"},
		{func(c *api.Command) { c.By = "" }, "by"},
		{func(c *api.Command) { c.Note = strings.Repeat("n", signals.MaxText+1) }, "note"},
		{func(c *api.Command) { c.AlertID = strings.Repeat("a", signals.MaxField+1) }, "alert id"},
		{func(c *api.Command) { c.Time = time.Time{} }, "no time"},
		{func(c *api.Command) { c.Until = c.Time }, "not after"},
		{func(c *api.Command) { c.Until = c.Time.Add(api.MaxSnooze + time.Hour) }, "366 days"},
	} {
		c := ok
		tc.edit(&c)
		assert.ErrorContains(t, c.Validate(), tc.want)
	}
	assert.Equal(t, "risk.actions.=YS5iLj4", api.Command{Customer: "a.b.>"}.Subject(), "the customer is one literal token")
	act := ok.Action()
	assert.Equal(t, alerting.KindSnooze, act.Kind)
	assert.Equal(t, ok.Until, act.Until)
}

func TestSnoozeRequestCommand(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		req   api.SnoozeRequest
		typ   string
		until time.Time
		err   string
	}{
		{req: api.SnoozeRequest{ID: "a", For: "3d", By: "alice"}, typ: alerting.KindSnooze, until: now.Add(72 * time.Hour)},
		{req: api.SnoozeRequest{ID: "a", Until: "2026-12-01T09:00:00Z", By: "alice"}, typ: alerting.KindSnooze,
			until: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{req: api.SnoozeRequest{ID: "a", Unsnooze: true, By: "alice"}, typ: alerting.KindUnsnooze},
		{req: api.SnoozeRequest{ID: "a", By: "alice"}, err: "give until"},
		{req: api.SnoozeRequest{ID: "a", For: "3d", Until: "2026-12-01T09:00:00Z", By: "alice"}, err: "not both"},
		{req: api.SnoozeRequest{ID: "a", For: "3d", Unsnooze: true, By: "alice"}, err: "neither"},
		{req: api.SnoozeRequest{ID: "a", For: "400d", By: "alice"}, err: "limit of 366d"},
		{req: api.SnoozeRequest{ID: "a", Until: "2028-01-01T00:00:00Z", By: "alice"}, err: "366 days ahead"},
		{req: api.SnoozeRequest{ID: "a", Until: "tomorrow", By: "alice"}, err: "RFC 3339"},
		{req: api.SnoozeRequest{ID: "a", For: "-1h", By: "alice"}, err: "positive"},
		{req: api.SnoozeRequest{ID: "a", For: "3d"}, err: "by"},
		{req: api.SnoozeRequest{For: "3d", By: "alice"}, err: "customer id is required"},
	} {
		c, err := tc.req.Command(now)
		if tc.err != "" {
			require.Error(t, err, "%+v", tc.req)
			assert.Contains(t, err.Error(), tc.err)
			assert.Equal(t, http.StatusBadRequest, api.StatusOf(err), "%+v", tc.req)
			continue
		}
		require.NoError(t, err, "%+v", tc.req)
		assert.Equal(t, tc.typ, c.Type)
		assert.Equal(t, tc.until, c.Until)
		assert.Equal(t, now, c.Time)
	}
}

func TestAckRequest(t *testing.T) {
	assert.ErrorContains(t, api.AckRequest{}.Check(), "alert id is required")
	req := api.AckRequest{AlertID: "al-1", By: "alice", Note: "called"}
	require.NoError(t, req.Check())
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("x", 3600))
	c := req.Command("acme", now)
	assert.Equal(t, api.Command{Type: alerting.KindAck, Customer: "acme", AlertID: "al-1", By: "alice", Note: "called", Time: now.UTC()}, c)
	require.NoError(t, c.Validate())
}

func TestErrors(t *testing.T) {
	err := api.Errorf(http.StatusNotFound, "unknown customer %q", "x")
	assert.Equal(t, `unknown customer "x"`, err.Error())
	assert.Equal(t, http.StatusNotFound, api.StatusOf(fmt.Errorf("get: %w", err)), "through wrapping")
	assert.Equal(t, http.StatusInternalServerError, api.StatusOf(errors.New("boom")))
	assert.True(t, errors.Is(fmt.Errorf("%w: no open alert", api.ErrRefused), api.ErrRefused))
}

func TestCheckCustomerID(t *testing.T) {
	assert.NoError(t, api.CheckCustomerID("a.b.> x"))
	assert.Error(t, api.CheckCustomerID(""))
	assert.Error(t, api.CheckCustomerID(strings.Repeat("c", signals.MaxCustomer+1)))
	assert.Error(t, api.CheckCustomerID("\xff"))
}
