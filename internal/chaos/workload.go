// Package chaos holds the crash and fault tests of riskd and the
// deterministic workload they feed it. The tests run riskd against a real
// nats-server, break things (SIGKILL, a NATS restart, failing checkpoint
// writes, hanging webhooks, poison messages) and compare the outcome with an
// undisturbed run; docs/guarantees.md says what they prove.
//
// The workload is plain data so that two runs publish exactly the same
// messages in the same order, and so the stream sequences, the alert ids
// and the DLQ ids of both runs can be compared one for one.
package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/signals"
)

// Config sizes a workload. The same Config always gives the same Workload.
type Config struct {
	Seed      uint64
	Customers int
	Signals   int
	// Days is the span of event time the signals cover.
	Days int
	// Start is the event time of the first signal.
	Start time.Time
}

// Message is one publish to RISK_SIGNALS.
type Message struct {
	Subject string
	Data    []byte
	// MsgID is the Nats-Msg-Id to publish with; empty for exact duplicates
	// (so that they get past JetStream and reach the engine) and profiles.
	MsgID string
}

// Expect is what an engine must make of a workload, computed by mirroring
// the scorer's lateness and duplicate rules.
type Expect struct {
	// Scored counts accepted signals by kind.
	Scored map[signals.Kind]int
	// Duplicates are exact copies of an accepted signal that reach the
	// engine; Late are signals more than the lateness behind their
	// customer's latest event; Malformed are undecodable bodies.
	Duplicates, Late, Malformed int
	Profiles                    int
	// Customers is how many customers have at least one valid signal.
	Customers int
}

// TotalScored sums Scored.
func (e Expect) TotalScored() int {
	n := 0
	for _, v := range e.Scored {
		n += v
	}
	return n
}

// DLQ is how many messages the engine must send to RISK_DLQ.
func (e Expect) DLQ() int { return e.Late + e.Malformed }

// Workload is a generated sequence of messages and its expected outcome.
type Workload struct {
	Messages []Message
	Expect   Expect
	// Odd lists the customer ids chosen to break subject encodings.
	Odd []string
}

// Lateness is the rule set's lateness the generator mirrors (the default
// rules' 24h).
const Lateness = 24 * time.Hour

// OddIDs are customer ids with characters that must never turn into a
// wildcard or an extra subject token.
var OddIDs = []string{"a.b.>", "x *", "*", ">", "ünï cødé/ß", "$JS.API.fake", strings.Repeat("long-", 30)}

// owners routes alerts; one has characters that need encoding.
var owners = []string{"alice", "bob", "carol", "dan", "erin", "o.w>ner *"}

// trouble is the way a customer drifts toward churn in the second half of
// the workload, so that alerts of every kind of rule are raised.
type trouble int

const (
	calm trouble = iota
	ticketStorm
	unhappyNPS
	usageDrop
	pricePressure
	paymentTrouble
	championGone
	badPress
	redRating
	troubles
)

var troubleKind = map[trouble]signals.Kind{
	ticketStorm: signals.KindTicket, unhappyNPS: signals.KindNPS, usageDrop: signals.KindUsage,
	pricePressure: signals.KindCommercial, paymentTrouble: signals.KindBilling, championGone: signals.KindChampion,
	badPress: signals.KindMention, redRating: signals.KindRating,
}

// kindWeights are the share of each kind, in signals.Kinds order.
var kindWeights = []int{40, 15, 6, 6, 6, 6, 9, 3, 6, 3}

type genCustomer struct {
	id      string
	lag     int64 // seconds its events trail the global clock: a backfilling source
	profile bool
	trouble trouble
	usage   int
	tickets int

	valid bool
	wm    int64
	kinds [signals.NumKinds]int64 // latest event per kind: lateness is per producer
	ring  [16]string
	pos   int
}

func (c *genCustomer) seen(id string) bool {
	for _, s := range c.ring {
		if s == id {
			return true
		}
	}
	return false
}

type envelope struct {
	ID       string          `json:"id"`
	Kind     signals.Kind    `json:"kind"`
	Customer string          `json:"customer"`
	Time     string          `json:"time"`
	Source   string          `json:"source"`
	Data     json.RawMessage `json:"data"`
}

// Generate builds the workload of c: signals of all kinds in roughly event
// time order (out of order within the lateness), about 2% exact duplicates,
// 1% late events, a few undecodable bodies, and profiles interleaved before
// a customer's first signal and updated for some of them later.
func Generate(c Config) Workload {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	custs, odd := genCustomers(c.Customers, rng)
	w := Workload{Expect: Expect{Scored: map[signals.Kind]int{}}}
	for _, i := range odd {
		w.Odd = append(w.Odd, custs[i].id)
	}
	span := int64(c.Days) * 86400
	start := c.Start.Unix()
	updated := map[int]bool{}
	type dup struct {
		g   *genCustomer
		m   Message
		due int
	}
	var dups []dup
	for i := 0; i < c.Signals; i++ {
		// Exact duplicates come a few messages after their original, as a
		// producer's retry would: they reach the engine (no Nats-Msg-Id)
		// while the original is still in the customer's remembered ids.
		for len(dups) > 0 && dups[0].due <= i {
			w.Messages = append(w.Messages, dups[0].m)
			w.account(dups[0].g, dups[0].m)
			dups = dups[1:]
		}
		base := start + span*int64(i)/int64(c.Signals)
		second := i > c.Signals/2
		ci := rng.IntN(len(custs))
		// Odd ids get plenty of signals so that they reach every path.
		if i%97 == 0 {
			ci = odd[i/97%len(odd)]
		}
		g := custs[ci]
		if g.profile && !g.valid {
			w.Messages = append(w.Messages, profileMsg(g, c.Start, rng))
			w.Expect.Profiles++
		} else if g.profile && second && !updated[ci] && rng.IntN(10) == 0 {
			updated[ci] = true
			w.Messages = append(w.Messages, profileMsg(g, c.Start, rng))
			w.Expect.Profiles++
		}
		var m Message
		switch r := rng.IntN(1000); {
		case r < 10 && g.wm != 0:
			// Late against the latest event of its own kind.
			k := g.heardKind(rng)
			t := g.kinds[k.Index()] - int64(Lateness/time.Second) - 3600 - rng.Int64N(48*3600)
			m = kindMsg(g, k, fmt.Sprintf("late-%d", i), t, second, rng)
		case r == 10:
			m = Message{Subject: signals.Subject(signals.KindUsage, g.id),
				Data: []byte(fmt.Sprintf(`{"id":"bad-%d","kind":"usage",`, i)), MsgID: fmt.Sprintf("bad-%d", i)}
			w.Messages = append(w.Messages, m)
			w.Expect.Malformed++
			continue
		default:
			t := base - g.lag - rng.Int64N(8*3600)
			m = signalMsg(g, fmt.Sprintf("s-%d", i), t, second, rng)
			if r >= 980 {
				d := m
				d.MsgID = ""
				dups = append(dups, dup{g: g, m: d, due: i + 1 + rng.IntN(40)})
			}
		}
		w.Messages = append(w.Messages, m)
		w.account(g, m)
	}
	for _, d := range dups {
		w.Messages = append(w.Messages, d.m)
		w.account(d.g, d.m)
	}
	for _, g := range custs {
		if g.valid {
			w.Expect.Customers++
		}
	}
	return w
}

// genCustomers draws n customers (at least one), and returns them with
// the indexes of those that got an odd id.
func genCustomers(n int, rng *rand.Rand) ([]*genCustomer, []int) {
	custs := make([]*genCustomer, max(n, 1))
	// The odd ids replace customers spread over the range.
	stride := max(len(custs)/len(OddIDs), 1)
	var odd []int
	for i := range custs {
		id := fmt.Sprintf("cust-%06d", i)
		if i%stride == 0 && i/stride < len(OddIDs) {
			id = OddIDs[i/stride]
			odd = append(odd, i)
		}
		g := &genCustomer{id: id, profile: rng.IntN(10) < 4, usage: 20 + rng.IntN(180)}
		if rng.IntN(20) == 0 {
			g.lag = int64(6*3600 + rng.IntN(14*3600))
		}
		if rng.IntN(3) == 0 {
			g.trouble = trouble(1 + rng.IntN(int(troubles)-1))
		}
		custs[i] = g
	}
	return custs, odd
}

// account mirrors scorer.Model.Apply: lateness against the latest event
// of the signal's kind first, then the ring of remembered ids, then the
// watermarks.
func (w *Workload) account(g *genCustomer, m Message) {
	var env envelope
	if err := json.Unmarshal(m.Data, &env); err != nil {
		panic(fmt.Sprintf("chaos: generated signal does not decode: %v", err))
	}
	t, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		panic(fmt.Sprintf("chaos: generated time %q: %v", env.Time, err))
	}
	g.valid = true
	ts := t.Unix()
	switch {
	case g.kinds[env.Kind.Index()] != 0 && ts < g.kinds[env.Kind.Index()]-int64(Lateness/time.Second):
		w.Expect.Late++
	case g.seen(env.ID):
		w.Expect.Duplicates++
	default:
		g.ring[g.pos%len(g.ring)] = env.ID
		g.pos++
		g.wm = max(g.wm, ts)
		g.kinds[env.Kind.Index()] = max(g.kinds[env.Kind.Index()], ts)
		w.Expect.Scored[env.Kind]++
	}
}

func profileMsg(g *genCustomer, start time.Time, rng *rand.Rand) Message {
	p := signals.Profile{ID: g.id, Name: "Customer " + g.id, ARR: float64(5000 + rng.IntN(200)*1000),
		Currency: "USD", RenewalDate: start.AddDate(0, 0, 10+rng.IntN(120)).Format(time.DateOnly),
		Segment: []string{"smb", "mid-market", "enterprise"}[rng.IntN(3)], Owner: owners[rng.IntN(len(owners))],
		Plan: "pro", Stage: signals.Stages[rng.IntN(len(signals.Stages))]}
	body, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("chaos: profile does not encode: %v", err))
	}
	return Message{Subject: signals.CustomerPrefix + signals.SubjectToken(g.id), Data: body}
}

func signalMsg(g *genCustomer, id string, t int64, second bool, rng *rand.Rand) Message {
	kind := pickKind(rng)
	if second && g.trouble != calm && rng.IntN(2) == 0 {
		kind = troubleKind[g.trouble]
	}
	return kindMsg(g, kind, id, t, second, rng)
}

// heardKind picks a kind the customer has had an event of (it has one).
func (c *genCustomer) heardKind(rng *rand.Rand) signals.Kind {
	for range 8 {
		if k := pickKind(rng); c.kinds[k.Index()] != 0 {
			return k
		}
	}
	latest := 0
	for i, t := range c.kinds {
		if t > c.kinds[latest] {
			latest = i
		}
	}
	return signals.Kinds[latest]
}

func kindMsg(g *genCustomer, kind signals.Kind, id string, t int64, second bool, rng *rand.Rand) Message {
	troubled := second && troubleKind[g.trouble] == kind
	env := envelope{ID: id, Kind: kind, Customer: g.id, Time: time.Unix(t, 0).UTC().Format(time.RFC3339),
		Source: "chaos", Data: json.RawMessage(payload(g, kind, troubled, t, rng))}
	body, err := json.Marshal(env)
	if err != nil {
		panic(fmt.Sprintf("chaos: signal does not encode: %v", err))
	}
	return Message{Subject: signals.Subject(kind, g.id), Data: body, MsgID: id}
}

func pickKind(rng *rand.Rand) signals.Kind {
	total := 0
	for _, w := range kindWeights {
		total += w
	}
	r := rng.IntN(total)
	for i, w := range kindWeights {
		if r < w {
			return signals.Kinds[i]
		}
		r -= w
	}
	return signals.KindUsage
}

func pick(rng *rand.Rand, vs ...string) string { return vs[rng.IntN(len(vs))] }

// payload is the data of a signal; troubled payloads are the ones the
// default rules react to.
func payload(g *genCustomer, kind signals.Kind, troubled bool, t int64, rng *rand.Rand) string {
	switch kind {
	case signals.KindUsage:
		return usagePayload(g, troubled, rng)
	case signals.KindTicket:
		return ticketPayload(g, troubled, rng)
	case signals.KindNPS:
		score := 7 + rng.IntN(4)
		if troubled {
			score = rng.IntN(7)
		}
		return fmt.Sprintf(`{"score":%d,"comment":"chaos"}`, score)
	case signals.KindCommercial:
		typ := pick(rng, "quote_request", "quote_answered", "contract_change", "discount_request")
		if troubled {
			typ = pick(rng, "discount_request", "downgrade_request", "cancellation_inquiry", "contract_change", "quote_request")
		}
		if typ == "contract_change" {
			return fmt.Sprintf(`{"type":%q,"amount_pct":%d}`, typ, []int{-30, -10, 25}[rng.IntN(3)])
		}
		return fmt.Sprintf(`{"type":%q}`, typ)
	case signals.KindMention:
		if troubled || rng.IntN(4) == 0 {
			return fmt.Sprintf(`{"channel":%q,"text":"terrible support, we are cancelling","reach":%d}`,
				pick(rng, "twitter", "g2", "reddit"), rng.IntN(5000))
		}
		return fmt.Sprintf(`{"channel":"g2","sentiment":%.2f}`, rng.Float64()*2-1)
	case signals.KindBilling:
		typ := pick(rng, "payment_succeeded", "payment_succeeded", "payment_succeeded", "card_expiring")
		if troubled {
			typ = pick(rng, "payment_failed", "invoice_overdue", "card_expiring")
		}
		return fmt.Sprintf(`{"type":%q}`, typ)
	case signals.KindContact:
		return fmt.Sprintf(`{"type":%q,"by":"csm"}`, pick(rng, "csm_touch", "qbr", "reply"))
	case signals.KindChampion:
		typ := pick(rng, "added", "left")
		if troubled {
			typ = "left"
		}
		return fmt.Sprintf(`{"type":%q,"contact":"c%d@example.com"}`, typ, rng.IntN(5))
	case signals.KindRating:
		v := pick(rng, "green", "green", "yellow")
		if troubled {
			v = pick(rng, "yellow", "red", "red")
		}
		return fmt.Sprintf(`{"value":%q,"by":"csm","reason":"chaos"}`, v)
	case signals.KindOutcome:
		return outcomePayload(t, rng)
	}
	return `{}`
}

// usagePayload is a usage rollup of g; a troubled one has few events.
func usagePayload(g *genCustomer, troubled bool, rng *rand.Rand) string {
	events := g.usage/2 + rng.IntN(g.usage)
	if troubled {
		events = 1 + rng.IntN(max(g.usage/6, 1))
	}
	if rng.IntN(4) == 0 {
		return fmt.Sprintf(`{"events":%d,"user":"u%d","active_users":%d}`, events, rng.IntN(20), 1+rng.IntN(30))
	}
	return fmt.Sprintf(`{"events":%d}`, events)
}

// ticketPayload opens a new ticket of g or changes one of its earlier
// ones; a troubled one is opened or escalated, at high priority.
func ticketPayload(g *genCustomer, troubled bool, rng *rand.Rand) string {
	g.tickets++
	status := pick(rng, "opened", "opened", "solved", "solved", "closed", "reopened", "escalated")
	priority := pick(rng, "low", "normal", "normal", "high", "urgent")
	if troubled {
		status, priority = pick(rng, "opened", "opened", "escalated"), pick(rng, "high", "urgent")
	}
	key := g.tickets
	if status != "opened" && g.tickets > 1 {
		key = 1 + rng.IntN(g.tickets-1)
	}
	if rng.IntN(3) == 0 {
		return fmt.Sprintf(`{"ticket_id":"T%d","status":%q,"priority":%q,"first_response_minutes":%d}`,
			key, status, priority, 5+rng.IntN(900))
	}
	return fmt.Sprintf(`{"ticket_id":"T%d","status":%q,"priority":%q}`, key, status, priority)
}

// outcomePayload is an outcome at time t: mostly renewals, rarely a churn.
func outcomePayload(t int64, rng *rand.Rand) string {
	switch r := rng.IntN(100); {
	case r == 0:
		return `{"type":"churned"}`
	case r < 10:
		return fmt.Sprintf(`{"type":"downgraded","arr":%d}`, 1000+rng.IntN(50000))
	case r < 30:
		return fmt.Sprintf(`{"type":"expanded","arr":%d}`, 50000+rng.IntN(200000))
	default:
		return fmt.Sprintf(`{"type":"renewed","renewal_date":%q}`, time.Unix(t, 0).UTC().AddDate(1, 0, 0).Format(time.DateOnly))
	}
}

// Publish sends msgs in order through one asynchronous publisher, so that
// every run on a fresh stream gives each message the same sequence, and
// returns the last sequence once every publish is acknowledged.
func Publish(js jetstream.JetStream, msgs []Message) (uint64, error) {
	var last jetstream.PubAckFuture
	for _, m := range msgs {
		msg := nats.NewMsg(m.Subject)
		msg.Data = m.Data
		if m.MsgID != "" {
			msg.Header.Set(jetstream.MsgIDHeader, m.MsgID)
		}
		f, err := js.PublishMsgAsync(msg)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			<-js.PublishAsyncComplete()
			f, err = js.PublishMsgAsync(msg)
		}
		if err != nil {
			return 0, fmt.Errorf("publish to %s: %w", m.Subject, err)
		}
		last = f
	}
	if last == nil {
		return 0, errors.New("nothing to publish")
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		return 0, errors.New("publishes not acknowledged within 2 minutes")
	}
	select {
	case ack := <-last.Ok():
		return ack.Sequence, nil
	case err := <-last.Err():
		return 0, fmt.Errorf("last publish: %w", err)
	}
}
