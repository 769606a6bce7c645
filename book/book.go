// Package book is the pure step of riskd's pipeline: the book of customers
// (each one's model state, alert state and profile) and the step that
// applies one message of the input stream to it, a signal, a profile or a
// command, scoring the customer and deciding its alert. A sweep, which
// judges every customer at a later time (silences, decay, reminders) and
// sends the day's digests, is a step of its own.
//
// A step does no I/O and reads no clock: the runtime hands over messages
// in stream order with their sequence numbers, then publishes what the
// step returns (alerts, digests, rejected input, profiles to share),
// checkpoints the customers it changed and acknowledges the messages.
// Replays and backtests run the very same steps in process, so the same
// stream gives the same scores, tiers and alert ids everywhere.
//
// A Book is not safe for concurrent use: the runtime serialises steps and
// queries with a lock.
package book

import (
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Customer is what the book holds of one customer that has sent signals.
type Customer struct {
	// Score is held by value: one allocation per customer, not two (a
	// million customers saved 64 MB).
	Score scorer.State
	Alert alerting.State
	// Profile is the customer's profile, nil when there is none: held
	// here too, so that a step looks the customer up once.
	Profile *signals.Profile
	// Last is the latest alert, for display; it is not checkpointed.
	Last *alerting.Alert
}

// Clock is where the book's time stands, checkpointed with it: the latest
// clock of any producer, the time of the last sweep, the day (Unix days)
// of the last digests, and every producer's clock.
type Clock struct {
	Watermark  int64
	LastSweep  int64
	LastDigest int32
	Producers  [signals.NumKinds]Producer
}

// Config is what a book scores and decides with.
type Config struct {
	Rules  *rules.Set
	Policy alerting.Policy
	// Inspect, when set, sees every message just before it is applied. It
	// is a fault-injection point for tests: a panic in it is handled like
	// a panic of the model on that message.
	Inspect func(subject string, data []byte)
	// MaxCustomers bounds the customers with state, and the profiles:
	// beyond it a signal or profile of a new customer is refused
	// (signals.ReasonCapacity) and known customers go on as before. 0 is
	// no bound.
	MaxCustomers int
}

// Book is every customer's state.
type Book struct {
	model   *scorer.Model
	rules   *rules.Set
	policy  alerting.Policy
	inspect func(subject string, data []byte)
	maxCust int

	customers map[string]*Customer
	profiles  map[string]*signals.Profile
	alerts    map[string]string // open alert id -> customer
	dirty     map[string]struct{}
	dirtyProf map[string]struct{}
	clock     Clock
	clocks    scorer.Clocks // the producers' clocks, as the scorer reads them
	peers     *peers        // every segment's usage, as the scorer reads it

	// scratch is the result of the customer being scored, reused: it
	// holds the only per-signal allocation scoring would otherwise make;
	// features are the features its rules saw, for its explanation.
	scratch  scorer.Result
	features rules.Features

	// charged are, by owner, the customers that took a slot of a recent
	// day's budget (see used); place* count the evaluation batches of
	// the message being applied (see place).
	charged  map[string]map[string]struct{}
	tallies  map[string]*tally
	placeSeq uint64
	placeSub uint64
	placeSet bool
}

// New is an empty book.
func New(c Config) *Book {
	b := &Book{model: scorer.NewModel(c.Rules), rules: c.Rules, policy: c.Policy, inspect: c.Inspect, maxCust: c.MaxCustomers,
		customers: map[string]*Customer{}, profiles: map[string]*signals.Profile{}, alerts: map[string]string{},
		dirty: map[string]struct{}{}, dirtyProf: map[string]struct{}{}, peers: newPeers(),
		charged: map[string]map[string]struct{}{}, tallies: map[string]*tally{}}
	b.model.Peers = b.peers
	return b
}

// Clock is where the book's time stands.
func (b *Book) Clock() Clock { return b.clock }

// Customer is the state of customer id, nil when it has sent no signal.
func (b *Book) Customer(id string) *Customer { return b.customers[id] }

// Profile is the profile of customer id, nil when there is none. A
// profile is replaced on update, never changed in place: a caller may keep
// the pointer.
func (b *Book) Profile(id string) *signals.Profile { return b.profiles[id] }

// Len is how many customers have state and how many have a profile.
func (b *Book) Len() (customers, profiles int) { return len(b.customers), len(b.profiles) }

// CustomerOfAlert finds the customer of an open alert id.
func (b *Book) CustomerOfAlert(id string) (string, bool) {
	c, ok := b.alerts[id]
	return c, ok
}

// Install replaces the book's content with a restored one. Records come
// in log order: a later one of a customer or profile replaces an earlier
// one.
func (b *Book) Install(customers []*Customer, profiles []*signals.Profile, clock Clock) {
	byID := make(map[string]*Customer, len(customers))
	for _, c := range customers {
		byID[c.Score.Customer] = c
	}
	alerts := map[string]string{}
	for id, c := range byID {
		if c.Alert.LastID != "" {
			alerts[c.Alert.LastID] = id
		}
		if c.Alert.Unclaimed != "" {
			alerts[c.Alert.Unclaimed] = id
		}
	}
	profByID := make(map[string]*signals.Profile, len(profiles))
	for _, p := range profiles {
		if c, ok := byID[p.ID]; ok {
			p.ID = c.Score.Customer // one copy of the id
		}
		profByID[p.ID] = p
	}
	for id, c := range byID {
		c.Profile = profByID[id]
	}
	b.customers, b.profiles, b.alerts, b.clock = byID, profByID, alerts, clock
	b.chargedIndex()
	b.placeSet = false
	b.syncClocks()
	b.peers.rebuild(byID)
	clear(b.dirty)
	clear(b.dirtyProf)
}

// Changes are what a checkpoint writes: the customers and profiles changed
// since the last one, or all of them for a full image.
type Changes struct {
	Customers []string
	// Profiles are taken as of the step the changes were taken at: a
	// profile is replaced, never changed in place.
	Profiles []*signals.Profile

	dirty, dirtyProf map[string]struct{}
}

// TakeChanges hands over what changed since the last call (everything when
// all is set) and starts counting afresh.
func (b *Book) TakeChanges(all bool) Changes {
	ch := Changes{dirty: b.dirty, dirtyProf: b.dirtyProf}
	b.dirty, b.dirtyProf = map[string]struct{}{}, map[string]struct{}{}
	if all {
		ch.Customers = make([]string, 0, len(b.customers))
		for id := range b.customers {
			ch.Customers = append(ch.Customers, id)
		}
		ch.Profiles = make([]*signals.Profile, 0, len(b.profiles))
		for _, p := range b.profiles {
			ch.Profiles = append(ch.Profiles, p)
		}
		return ch
	}
	ch.Customers = make([]string, 0, len(ch.dirty))
	for id := range ch.dirty {
		ch.Customers = append(ch.Customers, id)
	}
	ch.Profiles = make([]*signals.Profile, 0, len(ch.dirtyProf))
	for id := range ch.dirtyProf {
		if p, ok := b.profiles[id]; ok {
			ch.Profiles = append(ch.Profiles, p)
		}
	}
	return ch
}

// GiveBack makes the changes of a checkpoint that failed changes again.
func (b *Book) GiveBack(ch Changes) {
	for id := range ch.dirty {
		b.dirty[id] = struct{}{}
	}
	for id := range ch.dirtyProf {
		b.dirtyProf[id] = struct{}{}
	}
}

// Changed reports whether anything changed since changes were last taken.
func (b *Book) Changed() bool { return len(b.dirty)+len(b.dirtyProf) > 0 }

const daySeconds = int64(24 * time.Hour / time.Second)
