package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// fakeEngine is an in-memory Engine: enough behaviour to drive every
// branch of the handlers, and a record of what they asked for.
type fakeEngine struct {
	mu        sync.Mutex
	customers map[string]api.CustomerView
	alerts    map[string]string // open alert id -> customer
	ready     error
	healthy   error
	submitErr error
	putErr    error
	// readErr fails every read, as a router does while a partition
	// changes owner.
	readErr error

	lifetimes []churn.Customer
	asOf      time.Time

	filters  []api.Filter
	outcomes []api.OutcomesRequest
	actions  []api.Command
	profiles []signals.Profile
}

// panicID makes Customer panic, to test the recovery of the handler.
const panicID = "boom"

func newFakeEngine() *fakeEngine {
	f := &fakeEngine{customers: map[string]api.CustomerView{}, alerts: map[string]string{}}
	for _, v := range []api.CustomerView{
		{Customer: "acme", Name: "Acme", Owner: "alice", Segment: "enterprise", ARR: 120000,
			Score: 63, Tier: rules.AtRisk, RevenueAtRisk: 75600,
			// Like the engine: an explained view always has both lists.
			Reasons: []scorer.Contribution{}, History: []scorer.Point{}},
		{Customer: "a.b.>", Score: 12, Tier: rules.Healthy},
		{Customer: "x y/z", Score: 45, Tier: rules.Watch},
		{Customer: "x/snooze", Score: 41, Tier: rules.Watch},
	} {
		f.customers[v.Customer] = v
	}
	f.alerts["al-1"] = "acme"
	return f
}

func (f *fakeEngine) Customer(_ context.Context, id string) (api.CustomerView, bool, error) {
	if id == panicID {
		panic("fake engine: boom")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.customers[id]
	return v, ok, f.readErr
}

func (f *fakeEngine) List(_ context.Context, fl api.Filter) ([]api.CustomerView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, fl)
	var out []api.CustomerView
	for _, v := range f.customers {
		if fl.Owner == "" || v.Owner == fl.Owner {
			out = append(out, v)
		}
	}
	return out, f.readErr
}

func (f *fakeEngine) Outcomes(_ context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes = append(f.outcomes, r)
	b := api.NewOutcomesBuilder(r)
	b.Add(&scorer.Outcome{T: 1795000000, ID: "crm-1", Type: scorer.OutcomeChurned, Prior: 120000, Alert: 1795000000 - 8*86400},
		&signals.Profile{ID: "acme", Owner: "alice"})
	return b.Summary(), f.readErr
}

func (f *fakeEngine) Submit(ctx context.Context, a api.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.submitErr != nil {
		return f.submitErr
	}
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("fake engine: Submit without a deadline would wait forever")
	}
	f.actions = append(f.actions, a)
	return nil
}

func (f *fakeEngine) PutProfile(_ context.Context, p signals.Profile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.putErr != nil {
		return f.putErr
	}
	f.profiles = append(f.profiles, p)
	return nil
}

func (f *fakeEngine) CustomerOfAlert(_ context.Context, id string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.alerts[id]
	return c, ok, f.readErr
}

func (f *fakeEngine) Lifetimes(context.Context) ([]churn.Customer, churn.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lifetimes, churn.Config{AsOf: f.asOf, Horizon: 90 * 24 * time.Hour, Source: "fake"}, f.readErr
}

func (f *fakeEngine) Ready() error   { return f.ready }
func (f *fakeEngine) Healthy() error { return f.healthy }

func (f *fakeEngine) lastAction() (api.Command, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.actions) == 0 {
		return api.Command{}, fmt.Errorf("no action submitted")
	}
	return f.actions[len(f.actions)-1], nil
}

// fixedNow is the clock of the handler tests.
var fixedNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }
