package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

// Customer explains one customer as of its last evaluation; false when
// there is neither a signal nor a profile for it.
func (e *Engine) Customer(id string) (api.CustomerView, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.View(id, true)
}

// List returns the customers f selects, in its order. They are sorted
// outside the lock: the intake waits only for the selection.
func (e *Engine) List(f api.Filter) []api.CustomerView {
	e.mu.RLock()
	views := e.book.Matching(f)
	e.mu.RUnlock()
	return f.Order(views)
}

// ListAfter is List continuing after the customer whose view after is,
// which this engine need not hold: a group pages each partition from the
// same place (nil: from the start).
func (e *Engine) ListAfter(f api.Filter, after *api.CustomerView) []api.CustomerView {
	e.mu.RLock()
	views := e.book.MatchingAfter(f, after)
	e.mu.RUnlock()
	return f.Order(views)
}

// Outcomes sums up the outcomes r selects and what became of the
// warnings before them.
func (e *Engine) Outcomes(r api.OutcomesRequest) api.OutcomesSummary {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.Outcomes(r)
}

// Stats reports counts.
func (e *Engine) Stats() api.Stats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	customers, profiles := e.book.Len()
	return api.Stats{Customers: customers, Profiles: profiles, Applied: e.progress.applied, Durable: e.progress.durable}
}

// Profile returns a customer's profile.
func (e *Engine) Profile(id string) (signals.Profile, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if p := e.book.Profile(id); p != nil {
		return *p, true
	}
	return signals.Profile{}, false
}

// CustomerOfAlert finds the customer of an open alert id.
func (e *Engine) CustomerOfAlert(id string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.CustomerOfAlert(id)
}

// Submit publishes a command and waits until the engine has applied it;
// a refusal wraps api.ErrRefused.
func (e *Engine) Submit(ctx context.Context, c api.Command) error {
	if err := c.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ack, err := e.js.Publish(ctx, e.cfg.Partition.Subject(c.Subject()), body)
	if err != nil {
		return fmt.Errorf("publish %s: %w", c.Type, err)
	}
	if err := e.WaitApplied(ctx, ack.Sequence); err != nil {
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if msg, ok := e.refused[ack.Sequence]; ok {
		return fmt.Errorf("%w: %s", api.ErrRefused, msg)
	}
	return nil
}

// PutProfile publishes a profile through the stream and waits until it is
// applied, so the caller reads its own write.
func (e *Engine) PutProfile(ctx context.Context, p signals.Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ack, err := e.js.Publish(ctx, e.cfg.Partition.Subject(signals.CustomerPrefix+signals.SubjectToken(p.ID)), body)
	if err != nil {
		return fmt.Errorf("publish profile: %w", err)
	}
	return e.WaitApplied(ctx, ack.Sequence)
}
