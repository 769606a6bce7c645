package book

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Alert hygiene across customers: inhibition by a parent account and the
// owners' daily budgets. The policy decides for one customer; these rules
// need others, so the book applies them to what the policy decided.
//
// Both read other customers as they stood before the step being applied,
// at a place in the stream finer than the message (place), never in the
// order a sweep happens to visit customers: a replay, and a restart from a
// checkpoint whose records run ahead of it, decide alike. A customer's
// alert state keeps its latest changes of tier and budget slots with
// their places (alerting.State.Marks) for the second case.

// maxAncestors bounds the walk up the parent accounts: profiles are input,
// and a cycle (a parent of its parent) must cost nothing.
const maxAncestors = 4

// place is where the evaluations of a step stand in the stream: the
// message's sequence, then the evaluation batches of that message in
// order (a day's sweep, a tick's sweep, the message's own customer).
func (b *Book) place(seq uint64) uint64 {
	if !b.placeSet || seq != b.placeSeq {
		b.placeSeq, b.placeSub, b.placeSet = seq, 0, true
	} else if b.placeSub < 3 {
		b.placeSub++
	}
	return seq<<2 | b.placeSub
}

// held is a raise a sweep decided, waiting for the owner's budget to be
// shared out among all of the sweep's raises.
type held struct {
	id    string
	c     *Customer
	prev  alerting.State
	a     *alerting.Alert
	owner string
	day   int32
}

// inhibited reports whether an ancestor account of p had, before place
// pos, an open alert of a higher tier than tier.
func (b *Book) inhibited(p *signals.Profile, tier rules.Tier, pos uint64) bool {
	for range maxAncestors {
		if p == nil || p.Parent == "" {
			return false
		}
		if c := b.customers[p.Parent]; c != nil && c.Alert.TierBefore(pos) > tier {
			return true
		}
		p = b.profiles[p.Parent]
	}
	return false
}

// hygiene applies inhibition and the budget to alert a, which the policy
// just decided for customer c (whose state was prev). It returns the
// alert to send, or nil: muted or deferred (c's state is then prev's, so
// that the alert comes when it may), or, in a sweep (hold not nil), held
// for the budget's share-out.
func (b *Book) hygiene(id string, c *Customer, p *signals.Profile, prev alerting.State, a *alerting.Alert, pos uint64, hold *[]held) *alerting.Alert {
	at := a.Time.Unix()
	if a.Type != alerting.Resolved && b.inhibited(p, a.Tier, pos) {
		since := prev.Inhibited
		if since == 0 {
			since = at
		}
		c.Alert = prev
		c.Alert.Inhibited = since
		return nil
	}
	if a.Type != alerting.Raised || b.policy.Budget <= 0 || p == nil || p.Owner == "" {
		return a
	}
	day := int32(at / daySeconds)
	if hold != nil {
		*hold = append(*hold, held{id: id, c: c, prev: prev, a: a, owner: p.Owner, day: day})
		return nil
	}
	used := b.used(p.Owner, day, pos)
	if b.admit(c, prev, a, p.Owner, day, pos, used) {
		return a
	}
	return nil
}

// admit gives raise a of c a slot of owner's budget of day, used of which
// were taken before it, or defers it. A customer that took a slot that
// day already raises again without another; a critical raise always goes
// out, and takes a slot.
func (b *Book) admit(c *Customer, prev alerting.State, a *alerting.Alert, owner string, day int32, pos uint64, used int) bool {
	limit := b.policy.Budget
	if prev.ChargedBefore(day, pos+1) {
		a.Budget = &alerting.Budget{Date: dayDate(day), Limit: limit, Used: used}
		return true
	}
	if used >= limit && a.Tier < rules.Critical {
		since := prev.Deferred
		if since == 0 {
			since = a.Time.Unix()
		}
		c.Alert = prev
		c.Alert.Deferred = since
		return false
	}
	c.Alert.Mark(pos, prev.Tier, day, true)
	ids := b.charged[owner]
	if ids == nil {
		ids = map[string]struct{}{}
		b.charged[owner] = ids
	}
	ids[c.Score.Customer] = struct{}{}
	if tl := b.tallies[owner]; tl != nil && tl.day == day {
		i, _ := slices.BinarySearch(tl.pos, pos)
		tl.pos = slices.Insert(tl.pos, i, pos)
	}
	a.Budget = &alerting.Budget{Date: dayDate(day), Limit: limit, Used: used + 1}
	return true
}

// shareOut decides the raises a sweep held, owner by owner: critical
// first, then by revenue at risk, largest first, then by customer id.
// It sends the admitted ones into out.
func (b *Book) shareOut(hold []held, pos uint64, out *Effects) {
	byOwner := map[string][]held{}
	for _, h := range hold {
		byOwner[h.owner] = append(byOwner[h.owner], h)
	}
	for _, owner := range slices.Sorted(maps.Keys(byOwner)) {
		hs := byOwner[owner]
		slices.SortFunc(hs, func(x, y held) int {
			if c := cmp.Compare(critical(y.a), critical(x.a)); c != 0 {
				return c
			}
			if c := cmp.Compare(y.a.RevenueAtRisk, x.a.RevenueAtRisk); c != 0 {
				return c
			}
			return cmp.Compare(x.id, y.id)
		})
		used := b.used(owner, hs[0].day, pos)
		for _, h := range hs {
			charged := h.prev.ChargedBefore(h.day, pos+1)
			if b.admit(h.c, h.prev, h.a, owner, h.day, pos, used) {
				if !charged {
					used++
				}
				markTier(h.c, &h.prev, pos)
				b.emit(h.id, h.c, h.prev, h.a, out)
			}
			b.dirty[h.id] = struct{}{}
		}
	}
}

func critical(a *alerting.Alert) int {
	if a.Tier == rules.Critical {
		return 1
	}
	return 0
}

func dayDate(day int32) string {
	return time.Unix(int64(day)*daySeconds, 0).UTC().Format(time.DateOnly)
}

// tally is an owner's slots of one day: the places they were taken at,
// sorted, so that counting those at or before a place is a search. It is
// built from the owner's charged customers (retally) once a day, or again
// after a customer of the owner changed owner, and kept up as slots are
// taken.
type tally struct {
	day int32
	pos []uint64
}

// used counts the customers of owner that took a slot of day's budget at
// or before place pos.
func (b *Book) used(owner string, day int32, pos uint64) int {
	tl := b.tallies[owner]
	if tl == nil || tl.day != day {
		tl = b.retally(owner, day)
	}
	n, _ := slices.BinarySearch(tl.pos, pos+1)
	return n
}

// retally builds owner's tally of day from the customers' states.
// Customers whose slots are of earlier days, or that changed owner, are
// dropped from the owner's set on the way.
func (b *Book) retally(owner string, day int32) *tally {
	tl := &tally{day: day}
	for id := range b.charged[owner] {
		c := b.customers[id]
		switch {
		case c == nil || c.Profile == nil || c.Profile.Owner != owner, !chargedSince(&c.Alert, day):
			delete(b.charged[owner], id)
		default:
			if p, ok := slotOf(&c.Alert, day); ok {
				tl.pos = append(tl.pos, p)
			}
		}
	}
	slices.Sort(tl.pos)
	b.tallies[owner] = tl
	return tl
}

// slotOf is the place of st's slot of day.
func slotOf(st *alerting.State, day int32) (uint64, bool) {
	p, ok := uint64(0), false
	if st.Charge.Day == day && st.Charge != (alerting.Charge{}) {
		p, ok = st.Charge.Pos, true
	}
	for _, m := range st.Marks {
		if m.Charged && m.Day == day && (!ok || m.Pos < p) {
			p, ok = m.Pos, true
		}
	}
	return p, ok
}

// recount drops owner's tally, after one of its customers changed owner.
func (b *Book) recount(owner string) { delete(b.tallies, owner) }

// chargedSince reports whether st holds a slot of day or later.
func chargedSince(st *alerting.State, day int32) bool {
	if st.Charge != (alerting.Charge{}) && st.Charge.Day >= day {
		return true
	}
	for _, m := range st.Marks {
		if m.Charged && m.Day >= day {
			return true
		}
	}
	return false
}

// chargedIndex rebuilds the owners' sets of charged customers from the
// customers' own states, after a restore.
func (b *Book) chargedIndex() {
	b.charged = map[string]map[string]struct{}{}
	b.tallies = map[string]*tally{}
	for id, c := range b.customers {
		if c.Profile == nil || c.Profile.Owner == "" || !chargedSince(&c.Alert, -1<<31) {
			continue
		}
		ids := b.charged[c.Profile.Owner]
		if ids == nil {
			ids = map[string]struct{}{}
			b.charged[c.Profile.Owner] = ids
		}
		ids[id] = struct{}{}
	}
}

// budgetOf is owner's budget as of place pos of day, for the digest.
func (b *Book) budgetOf(owner string, day int32, pos uint64) *alerting.Budget {
	if b.policy.Budget <= 0 || owner == "" {
		return nil
	}
	return &alerting.Budget{Date: dayDate(day), Limit: b.policy.Budget, Used: b.used(owner, day, pos)}
}
