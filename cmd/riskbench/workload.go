package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/internal/sim"
	"github.com/riskwatch/riskwatch/signals"
)

// corpus holds many messages in one pointer-free arena: a million small
// []byte values would cost the garbage collector a scan of each, inside the
// very process whose engine is being timed.
type corpus struct {
	buf  []byte
	msgs []span
}

// span locates one message's subject, Nats-Msg-Id and payload in buf.
type span struct {
	subj, id, data, end uint32
}

func (c *corpus) Len() int { return len(c.msgs) }

func (c *corpus) Subject(i int) string {
	m := c.msgs[i]
	return string(c.buf[m.subj:m.id])
}

func (c *corpus) ID(i int) string {
	m := c.msgs[i]
	return string(c.buf[m.id:m.data])
}

// Data is the payload; it aliases the arena and must not be modified.
func (c *corpus) Data(i int) []byte {
	m := c.msgs[i]
	return c.buf[m.data:m.end:m.end]
}

// Bytes is the total payload size.
func (c *corpus) Bytes() int {
	n := 0
	for _, m := range c.msgs {
		n += int(m.end - m.data)
	}
	return n
}

func (c *corpus) add(subject, id string, data []byte) {
	start := uint32(len(c.buf))
	c.buf = append(c.buf, subject...)
	idAt := uint32(len(c.buf))
	c.buf = append(c.buf, id...)
	dataAt := uint32(len(c.buf))
	c.buf = append(c.buf, data...)
	c.msgs = append(c.msgs, span{start, idAt, dataAt, uint32(len(c.buf))})
}

// Kind mix of the workload: mostly usage events, as product analytics
// dominates the volume of any real installation; the rest in roughly the
// proportions a support desk, a survey tool, CRM, billing and social
// listening produce for the same accounts.
var kindMix = []struct {
	kind signals.Kind
	p    float64
}{
	{signals.KindUsage, 0.86},
	{signals.KindTicket, 0.06},
	{signals.KindNPS, 0.015},
	{signals.KindContact, 0.015},
	{signals.KindBilling, 0.015},
	{signals.KindCommercial, 0.012},
	{signals.KindMention, 0.012},
	{signals.KindRating, 0.007},
	{signals.KindChampion, 0.004},
}

// workload generates a deterministic stream of valid signals for a
// customer base. Customers are not equally busy: activity is log-normal and
// larger segments weigh more, so some accounts send hundreds of events a
// day and most send a handful.
type workload struct {
	rng      *rand.Rand
	profiles []signals.Profile
	ids      []string
	cum      []float64 // cumulative activity, for picking a customer
	users    []uint16  // named users per customer
	ticket   []uint32  // last ticket number per customer
	open     []uint32  // open ticket number per customer, 0 when none
	seq      int
	scratch  []byte
}

func newWorkload(customers int, end time.Time, seed uint64) *workload {
	base := sim.New(customers, 60, end, seed)
	w := &workload{
		rng:      rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		profiles: base.Profiles(),
		cum:      make([]float64, customers),
		users:    make([]uint16, customers),
		ticket:   make([]uint32, customers),
		open:     make([]uint32, customers),
	}
	total := 0.0
	w.ids = make([]string, customers)
	for i := range w.profiles {
		p := &w.profiles[i]
		w.ids[i] = p.ID
		weight := 1.0
		switch p.Segment {
		case "enterprise":
			weight = 5
		case "mid_market":
			weight = 2
		}
		weight *= math.Exp(w.rng.NormFloat64())
		total += weight
		w.cum[i] = total
		w.users[i] = uint16(min(2+weight*10, 500))
	}
	return w
}

// customer picks a customer index by activity.
func (w *workload) customer() int {
	x := w.rng.Float64() * w.cum[len(w.cum)-1]
	return min(sort.SearchFloat64s(w.cum, x), len(w.cum)-1)
}

// profiles adds every customer's profile to c.
func (w *workload) addProfiles(c *corpus) error {
	for i := range w.profiles {
		p := &w.profiles[i]
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode profile %s: %w", p.ID, err)
		}
		c.add(signals.CustomerPrefix+signals.SubjectToken(p.ID), "profile-"+p.ID, body)
	}
	return nil
}

// addSignals adds n signals with event times spread evenly over
// [from, to], in time order as a live stream would carry them.
func (w *workload) addSignals(c *corpus, n int, from, to time.Time) {
	step := float64(to.Sub(from)) / float64(max(n, 1))
	for i := range n {
		t := from.Add(time.Duration(float64(i) * step))
		g := w.next(t)
		c.add(g.subject, g.id, g.data)
	}
}

// generated is one signal of the workload.
type generated struct {
	customer int // index in the workload
	seq      int // the workload's sequence number, also the end of the id
	subject  string
	id       string
	data     []byte // aliases the workload's scratch buffer
}

// index is the position of a customer id in the workload.
func (w *workload) index(customer string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(customer, "cust-"))
	if err != nil || n < 1 || n > len(w.ids) || w.ids[n-1] != customer {
		return 0, false
	}
	return n - 1, true
}

// next makes one signal at event time t. Its data aliases a scratch buffer
// that the next call overwrites.
func (w *workload) next(t time.Time) generated {
	ci := w.customer()
	kind := w.kind()
	w.seq++
	cust := w.ids[ci]
	id := cust + "-" + strconv.Itoa(w.seq)
	b := w.scratch[:0]
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","kind":"`...)
	b = append(b, kind...)
	b = append(b, `","customer":"`...)
	b = append(b, cust...)
	b = append(b, `","time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","source":"riskbench","data":`...)
	b = w.data(b, kind, ci)
	b = append(b, '}')
	w.scratch = b
	return generated{customer: ci, seq: w.seq, subject: signals.Subject(kind, cust), id: id, data: b}
}

func (w *workload) kind() signals.Kind {
	x := w.rng.Float64()
	for _, k := range kindMix {
		if x < k.p {
			return k.kind
		}
		x -= k.p
	}
	return signals.KindUsage
}

func pick(rng *rand.Rand, x ...string) string { return x[rng.IntN(len(x))] }

// data appends the payload of a signal of kind for customer ci. Only
// ASCII without quotes is written, so no escaping is needed.
func (w *workload) data(b []byte, kind signals.Kind, ci int) []byte {
	rng := w.rng
	b = append(b, '{')
	switch kind {
	case signals.KindUsage:
		b = appendNumberField(b, "events", float64(1+rng.IntN(5)))
		b = append(b, ',')
		b = appendStringField(b, "user", "u"+strconv.Itoa(rng.IntN(int(w.users[ci]))))
		if rng.IntN(30) == 0 {
			b = append(b, ',')
			b = appendNumberField(b, "active_users", float64(1+rng.IntN(int(w.users[ci]))))
		}
	case signals.KindTicket:
		b = w.ticketData(b, ci)
	case signals.KindNPS:
		score := 9 + rng.IntN(2)
		switch x := rng.Float64(); {
		case x < 0.15:
			score = rng.IntN(7)
		case x < 0.40:
			score = 7 + rng.IntN(2)
		}
		b = appendNumberField(b, "score", float64(score))
	case signals.KindContact:
		b = appendStringField(b, "type", pick(rng, "csm_touch", "csm_touch", "qbr", "reply"))
		if owner := w.profiles[ci].Owner; owner != "" {
			b = append(b, ',')
			b = appendStringField(b, "by", owner)
		}
	case signals.KindBilling:
		b = appendStringField(b, "type", pick(rng, "payment_succeeded", "payment_succeeded", "payment_succeeded",
			"payment_failed", "card_expiring", "invoice_overdue"))
	case signals.KindCommercial:
		typ := pick(rng, signals.QuoteRequest, signals.QuoteRequest, signals.QuoteAnswered, signals.QuoteAnswered,
			signals.DiscountRequest, signals.DowngradeRequest, signals.ContractChange, signals.CancellationInquiry)
		b = appendStringField(b, "type", typ)
		if typ == signals.ContractChange {
			b = append(b, ',')
			b = appendNumberField(b, "amount_pct", float64(rng.IntN(56)-30))
		}
	case signals.KindMention:
		b = appendStringField(b, "channel", pick(rng, "twitter", "linkedin", "reddit", "g2"))
		b = append(b, ',')
		b = appendNumberField(b, "sentiment", math.Round((rng.Float64()*1.6-0.6)*100)/100)
		b = append(b, ',')
		b = appendNumberField(b, "reach", float64(10+rng.IntN(5000)))
	case signals.KindRating:
		b = appendStringField(b, "value", pick(rng, "green", "green", "green", "green", "green", "green", "green", "yellow", "yellow", "red"))
		if owner := w.profiles[ci].Owner; owner != "" {
			b = append(b, ',')
			b = appendStringField(b, "by", owner)
		}
	case signals.KindChampion:
		b = appendStringField(b, "type", pick(rng, "left", "added"))
		b = append(b, ',')
		b = appendStringField(b, "contact", "sponsor@"+w.ids[ci])
	}
	return append(b, '}')
}

// ticketData appends the fields of a ticket signal for customer ci: a new
// ticket, or a change to its open one.
func (w *workload) ticketData(b []byte, ci int) []byte {
	rng := w.rng
	status := signals.TicketOpened
	if w.open[ci] != 0 && rng.IntN(4) != 0 {
		status = signals.TicketSolved
		if rng.IntN(12) == 0 {
			status = signals.TicketEscalated
		}
	} else {
		w.ticket[ci]++
		w.open[ci] = w.ticket[ci]
	}
	b = appendStringField(b, "ticket_id", "T"+strconv.FormatUint(uint64(w.open[ci]), 10))
	b = append(b, ',')
	b = appendStringField(b, "status", status)
	if status == signals.TicketOpened {
		b = append(b, ',')
		b = appendStringField(b, "priority", pick(rng, "low", "normal", "normal", "normal", "high", "urgent"))
		if rng.IntN(2) == 0 {
			b = append(b, ',')
			b = appendNumberField(b, "first_response_minutes", float64(5+rng.IntN(240)))
		}
	}
	if status == signals.TicketSolved {
		w.open[ci] = 0
	}
	return b
}

// appendStringField appends "key":"v" to b; neither needs escaping.
func appendStringField(b []byte, key, v string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = append(b, v...)
	return append(b, '"')
}

// appendNumberField appends "key":v to b, v as short as it reads back.
func appendNumberField(b []byte, key string, v float64) []byte {
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
