package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/signals"
)

// The operations a partition's owner answers for the other riskd on
// risk.part.<n>.<op>. The request and the reply are JSON; a reply larger
// than a NATS message comes in parts, each but the last marked with
// moreHeader.
const (
	opCustomer  = "customer"
	opList      = "list"
	opOutcomes  = "outcomes"
	opSubmit    = "submit"
	opProfile   = "profile"
	opAlert     = "alert"
	opLifetimes = "lifetimes"
)

const (
	moreHeader = "Riskwatch-More"
	// maxReply bounds a forwarded reply: churn analytics over a million
	// customers is about 100 MB.
	maxReply = 512 << 20
	// forwardTimeout bounds a forwarded query without a deadline of its
	// own; commands carry the API's.
	forwardTimeout = 10 * time.Second
	// inFlight bounds the requests a partition's owner works on at once.
	inFlight = 64
)

// envelope is a forwarded reply.
type envelope struct {
	Data    json.RawMessage `json:"data,omitempty"`
	Error   string          `json:"error,omitempty"`
	Status  int             `json:"status,omitempty"`
	Refused bool            `json:"refused,omitempty"`
}

// listRequest is a page of a list: the filter, and the view of the
// customer it continues after, which the partition need not hold.
type listRequest struct {
	Filter api.Filter        `json:"filter"`
	After  *api.CustomerView `json:"after,omitempty"`
}

type customerReply struct {
	View  api.CustomerView `json:"view"`
	Found bool             `json:"found"`
}

type alertReply struct {
	Customer string `json:"customer"`
	Found    bool   `json:"found"`
}

type lifetimesReply struct {
	Customers []churn.Customer `json:"customers"`
	Config    churn.Config     `json:"config"`
}

// serve answers partition p's operations from eng for the other riskd.
func (n *Node) serve(p int, eng *engine.Engine) (*nats.Subscription, error) {
	sem := make(chan struct{}, inFlight)
	prefix := api.PartitionAPIPrefix + strconv.Itoa(p) + "."
	return n.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			n.reply(m, nil, api.Errorf(http.StatusServiceUnavailable, "partition %d: too many forwarded requests in flight", p))
			return
		}
		go func() {
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					n.reply(m, nil, fmt.Errorf("partition %d: %s panicked: %v", p, m.Subject, r))
				}
			}()
			v, err := answer(eng, strings.TrimPrefix(m.Subject, prefix), m.Data)
			n.reply(m, v, err)
		}()
	})
}

// answer runs one forwarded operation on eng.
func answer(eng *engine.Engine, op string, data []byte) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	switch op {
	case opCustomer:
		var id string
		if err := json.Unmarshal(data, &id); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		v, ok := eng.Customer(id)
		return customerReply{View: v, Found: ok}, nil
	case opList:
		var r listRequest
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		return eng.ListAfter(r.Filter, r.After), nil
	case opOutcomes:
		var r api.OutcomesRequest
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		s := eng.Outcomes(r)
		return outcomesReply{Summary: s, Leads: s.Leads}, nil
	case opSubmit:
		var c api.Command
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		return nil, eng.Submit(ctx, c)
	case opProfile:
		var p signals.Profile
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		return nil, eng.PutProfile(ctx, p)
	case opAlert:
		var id string
		if err := json.Unmarshal(data, &id); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "forwarded %s: %v", op, err)
		}
		c, ok := eng.CustomerOfAlert(id)
		return alertReply{Customer: c, Found: ok}, nil
	case opLifetimes:
		cs, cfg := eng.Lifetimes()
		return lifetimesReply{Customers: cs, Config: cfg}, nil
	}
	return nil, api.Errorf(http.StatusNotFound, "no forwarded operation %q", op)
}

// outcomesReply carries the lead times the summary's JSON leaves out.
type outcomesReply struct {
	Summary api.OutcomesSummary `json:"summary"`
	Leads   []float64           `json:"leads"`
}

// reply sends v or err back, in parts if it is larger than a message.
func (n *Node) reply(m *nats.Msg, v any, err error) {
	var env envelope
	if err != nil {
		env.Error, env.Status, env.Refused = err.Error(), api.StatusOf(err), errors.Is(err, api.ErrRefused)
	} else if v != nil {
		if env.Data, err = json.Marshal(v); err != nil {
			env = envelope{Error: fmt.Sprintf("encode the reply: %v", err), Status: http.StatusInternalServerError}
		}
	}
	body, _ := json.Marshal(env)
	limit := max(int(n.nc.MaxPayload())-4096, 4096)
	for len(body) > limit {
		part := nats.NewMsg(m.Reply)
		part.Header.Set(moreHeader, "1")
		part.Data = body[:limit]
		if n.nc.PublishMsg(part) != nil {
			return
		}
		body = body[limit:]
	}
	_ = n.nc.Publish(m.Reply, body)
}

// errNoOwner is a 503: the partition is between owners.
func errNoOwner(p int) error {
	return api.Errorf(http.StatusServiceUnavailable, "partition %d has no owner right now (a riskd stopped or the group is rebalancing); retry in a few seconds", p)
}

// call sends req to the owner of partition p and decodes its reply into
// out.
func (n *Node) call(ctx context.Context, p int, op string, req, out any) (err error) {
	defer func() {
		result := "ok"
		if err != nil {
			result = "error"
		}
		n.metrics.forwards.WithLabelValues(op, result).Inc()
	}()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, forwardTimeout)
		defer cancel()
	}
	inbox := n.nc.NewRespInbox()
	sub, err := n.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("forward %s to partition %d: %w", op, p, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := n.nc.PublishRequest(api.PartitionAPIPrefix+strconv.Itoa(p)+"."+op, inbox, body); err != nil {
		return fmt.Errorf("forward %s to partition %d: %w", op, p, err)
	}
	var buf []byte
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return api.Errorf(http.StatusGatewayTimeout, "partition %d did not answer %s in time", p, op)
			}
			return fmt.Errorf("forward %s to partition %d: %w", op, p, err)
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return errNoOwner(p)
		}
		buf = append(buf, m.Data...)
		if len(buf) > maxReply {
			return fmt.Errorf("forward %s to partition %d: the reply exceeds %d bytes", op, p, maxReply)
		}
		if m.Header.Get(moreHeader) == "" {
			break
		}
	}
	var env envelope
	if err := json.Unmarshal(buf, &env); err != nil {
		return fmt.Errorf("forward %s to partition %d: bad reply: %w", op, p, err)
	}
	switch {
	case env.Refused:
		return fmt.Errorf("%w: %s", api.ErrRefused, strings.TrimPrefix(env.Error, api.ErrRefused.Error()+": "))
	case env.Error != "":
		return api.Errorf(env.Status, "partition %d: %s", p, env.Error)
	case out == nil:
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("forward %s to partition %d: bad reply: %w", op, p, err)
	}
	return nil
}

// The apiserver.Engine of a group: each call goes to the engine of the
// customer's partition, here or at its owner; lists and sums gather every
// partition.

// Customer explains customer id.
func (n *Node) Customer(ctx context.Context, id string) (api.CustomerView, bool, error) {
	p := PartitionOf(id, n.cfg.Partitions)
	if eng := n.Engine(p); eng != nil {
		v, ok := eng.Customer(id)
		return v, ok, nil
	}
	var r customerReply
	err := n.call(ctx, p, opCustomer, id, &r)
	return r.View, r.Found, err
}

// Submit applies a command at the owner of its customer.
func (n *Node) Submit(ctx context.Context, c api.Command) error {
	p := PartitionOf(c.Customer, n.cfg.Partitions)
	if eng := n.Engine(p); eng != nil {
		return eng.Submit(ctx, c)
	}
	return n.call(ctx, p, opSubmit, c, nil)
}

// PutProfile stores a profile at the owner of its customer.
func (n *Node) PutProfile(ctx context.Context, pr signals.Profile) error {
	p := PartitionOf(pr.ID, n.cfg.Partitions)
	if eng := n.Engine(p); eng != nil {
		return eng.PutProfile(ctx, pr)
	}
	return n.call(ctx, p, opProfile, pr, nil)
}

// gather runs one for every partition at once and returns the first
// error.
func (n *Node) gather(ctx context.Context, one func(ctx context.Context, p int) error) error {
	errs := make([]error, n.cfg.Partitions)
	var wg sync.WaitGroup
	for p := range n.cfg.Partitions {
		wg.Go(func() { errs[p] = one(ctx, p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// List merges every partition's top of the list: each sends at most the
// filter's size, and the merge keeps as many. A page after a customer
// (f.After) starts every partition after that customer's view, read once
// from its own partition.
func (n *Node) List(ctx context.Context, f api.Filter) ([]api.CustomerView, error) {
	var after *api.CustomerView
	if f.After != "" {
		v, ok, err := n.Customer(ctx, f.After)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, api.Errorf(http.StatusBadRequest, "after %q: no such customer", f.After)
		}
		after = &v
	}
	parts := make([][]api.CustomerView, n.cfg.Partitions)
	err := n.gather(ctx, func(ctx context.Context, p int) error {
		if eng := n.Engine(p); eng != nil {
			parts[p] = eng.ListAfter(f, after)
			return nil
		}
		return n.call(ctx, p, opList, listRequest{Filter: f, After: after}, &parts[p])
	})
	if err != nil {
		return nil, err
	}
	var all []api.CustomerView
	for _, part := range parts {
		all = append(all, part...)
	}
	return f.Order(all), nil
}

// Outcomes sums every partition's outcomes up.
func (n *Node) Outcomes(ctx context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	parts := make([]api.OutcomesSummary, n.cfg.Partitions)
	err := n.gather(ctx, func(ctx context.Context, p int) error {
		if eng := n.Engine(p); eng != nil {
			parts[p] = eng.Outcomes(r)
			return nil
		}
		var or outcomesReply
		err := n.call(ctx, p, opOutcomes, r, &or)
		parts[p] = or.Summary
		parts[p].Leads = or.Leads
		return err
	})
	if err != nil {
		return api.OutcomesSummary{}, err
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return api.MergeOutcomes(r, parts), nil
}

// CustomerOfAlert asks every partition for the customer of an open alert.
func (n *Node) CustomerOfAlert(ctx context.Context, id string) (string, bool, error) {
	found := make([]alertReply, n.cfg.Partitions)
	err := n.gather(ctx, func(ctx context.Context, p int) error {
		if eng := n.Engine(p); eng != nil {
			found[p].Customer, found[p].Found = eng.CustomerOfAlert(id)
			return nil
		}
		return n.call(ctx, p, opAlert, id, &found[p])
	})
	for _, f := range found {
		if f.Found {
			return f.Customer, true, nil // an answer is an answer, whatever else failed
		}
	}
	return "", false, err
}

// Lifetimes gathers every partition's customers for churn analytics; they
// stand at the latest of the partitions' clocks.
func (n *Node) Lifetimes(ctx context.Context) ([]churn.Customer, churn.Config, error) {
	parts := make([]lifetimesReply, n.cfg.Partitions)
	err := n.gather(ctx, func(ctx context.Context, p int) error {
		if eng := n.Engine(p); eng != nil {
			parts[p].Customers, parts[p].Config = eng.Lifetimes()
			return nil
		}
		return n.call(ctx, p, opLifetimes, struct{}{}, &parts[p])
	})
	if err != nil {
		return nil, churn.Config{}, err
	}
	var all []churn.Customer
	var cfg churn.Config
	for _, part := range parts {
		all = append(all, part.Customers...)
		asOf := cfg.AsOf
		if cfg.Horizon == 0 {
			cfg = part.Config
		}
		if part.Config.AsOf.After(asOf) {
			asOf = part.Config.AsOf
		}
		cfg.AsOf = asOf
	}
	return all, cfg, nil
}

// Ready reports whether this riskd has joined the group and every
// partition it holds has caught up.
func (n *Node) Ready() error {
	n.mu.RLock()
	joined := n.joined
	owned := make(map[int]*owned, len(n.owned))
	for p, o := range n.owned {
		owned[p] = o
	}
	n.mu.RUnlock()
	if !n.nc.IsConnected() {
		return fmt.Errorf("NATS is %s", n.nc.Status())
	}
	if !joined {
		return errors.New("joining the group")
	}
	for p, o := range owned {
		if err := o.eng.Ready(); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}

// Healthy reports a failing checkpoint of any partition this riskd holds.
func (n *Node) Healthy() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for p, o := range n.owned {
		if err := o.eng.Healthy(); err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
	}
	return nil
}

// Single is the apiserver.Engine of one engine that holds all the input:
// what the API of a lone riskd needs, and tests.
func Single(e *engine.Engine) *Whole { return &Whole{e: e} }

// Whole serves the API from one engine.
type Whole struct{ e *engine.Engine }

func (w *Whole) Customer(_ context.Context, id string) (api.CustomerView, bool, error) {
	v, ok := w.e.Customer(id)
	return v, ok, nil
}

func (w *Whole) List(_ context.Context, f api.Filter) ([]api.CustomerView, error) {
	return w.e.List(f), nil
}

func (w *Whole) Outcomes(_ context.Context, r api.OutcomesRequest) (api.OutcomesSummary, error) {
	return w.e.Outcomes(r), nil
}

func (w *Whole) Submit(ctx context.Context, c api.Command) error { return w.e.Submit(ctx, c) }

func (w *Whole) PutProfile(ctx context.Context, p signals.Profile) error {
	return w.e.PutProfile(ctx, p)
}

func (w *Whole) CustomerOfAlert(_ context.Context, id string) (string, bool, error) {
	c, ok := w.e.CustomerOfAlert(id)
	return c, ok, nil
}

func (w *Whole) Lifetimes(context.Context) ([]churn.Customer, churn.Config, error) {
	cs, cfg := w.e.Lifetimes()
	return cs, cfg, nil
}

func (w *Whole) Ready() error   { return w.e.Ready() }
func (w *Whole) Healthy() error { return w.e.Healthy() }
