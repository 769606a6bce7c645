package scorer_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// randomHistory generates a random but realistic signal history for one
// customer over about 60 days from start: daily usage that may fade,
// tickets that get escalated and solved, a few survey answers (sometimes
// close together), commercial requests, mentions, payments, contacts,
// champion changes, ratings and a renewal. Signals are in time order. A
// busy customer files tickets most days, so its event list overflows and
// evicts.
func randomHistory(r *rand.Rand, customer string, start time.Time, busy bool) []signals.Signal {
	var out []signals.Signal
	at := func(dayN int) time.Time {
		return start.Add(time.Duration(dayN)*24*time.Hour + time.Duration(r.Int64N(24*3600))*time.Second)
	}
	add := func(s signals.Signal) {
		s.ID = fmt.Sprintf("%s-%s-%03d", customer, s.Kind, len(out))
		s.Customer = customer
		out = append(out, s)
	}
	days := 50 + r.IntN(20)
	// Usage: a daily or every-few-days user whose activity may fall off in
	// the last weeks, sometimes with several rollups a day.
	gap := 1 + r.IntN(3)
	fadeFrom := days - 7 - r.IntN(21)
	fade := 0.2 + r.Float64()*0.8
	users := int64(5 + r.IntN(30))
	for d := 0; d < days; d += gap {
		if r.IntN(10) == 0 {
			continue // a quiet day now and then
		}
		events := 20 + r.IntN(40)
		if d >= fadeFrom {
			events = int(float64(events) * (1 - fade))
		}
		for range 1 + r.IntN(3) {
			if events < 1 {
				break
			}
			u := signals.Usage{Events: int64(1 + r.IntN(events))}
			if r.IntN(3) == 0 {
				u.ActiveUsers = users
				if d >= fadeFrom {
					u.ActiveUsers = max(1, int64(float64(users)*(1-fade)))
				}
			}
			add(signals.Signal{Kind: signals.KindUsage, Time: at(d), Usage: u})
		}
	}
	// Tickets: opened, some answered, most solved a few hours or days
	// later; sometimes a burst near the end.
	priorities := []string{"low", "normal", "high", "urgent"}
	tickets := 0
	for d := 0; d < days; d++ {
		p := 0.12
		if busy {
			p = 0.7
		}
		if d > days-10 && r.IntN(2) == 0 {
			p = 0.5
		}
		if r.Float64() >= p {
			continue
		}
		tickets++
		key := fmt.Sprintf("T%d", tickets)
		opened := at(d)
		t := signals.Ticket{TicketID: key, Status: signals.TicketOpened, Priority: priorities[r.IntN(4)]}
		if r.IntN(2) == 0 {
			mins := float64(5 + r.IntN(300))
			t.FirstResponseMinutes = &mins
		}
		add(signals.Signal{Kind: signals.KindTicket, Time: opened, Ticket: t})
		if r.IntN(8) == 0 {
			add(signals.Signal{Kind: signals.KindTicket, Time: opened.Add(time.Duration(1+r.IntN(40)) * time.Hour),
				Ticket: signals.Ticket{TicketID: key, Status: signals.TicketEscalated}})
		}
		if r.IntN(4) != 0 {
			add(signals.Signal{Kind: signals.KindTicket, Time: opened.Add(time.Duration(2+r.IntN(120)) * time.Hour),
				Ticket: signals.Ticket{TicketID: key, Status: signals.TicketSolved}})
		}
	}
	for range 2 + r.IntN(3) {
		score := int64(r.IntN(11))
		add(signals.Signal{Kind: signals.KindNPS, Time: at(r.IntN(days)), NPS: signals.NPS{Score: &score}})
	}
	commercial := []string{signals.DiscountRequest, signals.DowngradeRequest, signals.ContractChange,
		signals.CancellationInquiry, signals.QuoteRequest, signals.QuoteAnswered}
	for range r.IntN(5) {
		c := signals.Commercial{Type: commercial[r.IntN(len(commercial))]}
		if c.Type == signals.ContractChange {
			pct := float64(r.IntN(81) - 40)
			c.AmountPct = &pct
		}
		add(signals.Signal{Kind: signals.KindCommercial, Time: at(r.IntN(days)), Commercial: c})
	}
	texts := []string{"the app is slow and support ignores us", "great product, very helpful team",
		"we are switching to a competitor", "see you at the conference"}
	for range r.IntN(5) {
		m := signals.Mention{Channel: "twitter"}
		if r.IntN(2) == 0 {
			v := r.Float64()*2 - 1
			m.Sentiment = &v
		} else {
			m.Text = texts[r.IntN(len(texts))]
		}
		if r.IntN(2) == 0 {
			reach := float64(r.IntN(5000))
			m.Reach = &reach
		}
		add(signals.Signal{Kind: signals.KindMention, Time: at(r.IntN(days)), Mention: m})
	}
	billing := []string{"payment_failed", "payment_succeeded", "card_expiring", "invoice_overdue"}
	for range r.IntN(4) {
		add(signals.Signal{Kind: signals.KindBilling, Time: at(r.IntN(days)),
			Billing: signals.Billing{Type: billing[r.IntN(len(billing))]}})
	}
	contacts := []string{"csm_touch", "qbr", "reply"}
	for range r.IntN(3) {
		add(signals.Signal{Kind: signals.KindContact, Time: at(r.IntN(days)),
			Contact: signals.Contact{Type: contacts[r.IntN(3)], By: "alice"}})
	}
	for range r.IntN(3) {
		typ := "left"
		if r.IntN(2) == 0 {
			typ = "added"
		}
		add(signals.Signal{Kind: signals.KindChampion, Time: at(r.IntN(days)),
			Champion: signals.Champion{Type: typ, Contact: "bob"}})
	}
	ratings := []string{"green", "yellow", "red"}
	for range r.IntN(3) {
		add(signals.Signal{Kind: signals.KindRating, Time: at(r.IntN(days)),
			Rating: signals.Rating{Value: ratings[r.IntN(3)], By: "alice"}})
	}
	if r.IntN(3) == 0 {
		renewal := start.AddDate(1, 0, r.IntN(60)).Format(time.DateOnly)
		add(signals.Signal{Kind: signals.KindOutcome, Time: at(r.IntN(days)),
			Outcome: signals.Outcome{Type: "renewed", RenewalDate: renewal}})
	}
	slices.SortStableFunc(out, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
	return out
}

// replay applies the signals in delivery order, evaluating after the
// signals whose index is in evalAfter, and returns the evaluation at end.
func replay(tb testing.TB, m *scorer.Model, p *signals.Profile, delivery []signals.Signal, evalAfter map[int]bool, end time.Time) scorer.Result {
	tb.Helper()
	st := scorer.NewState(delivery[0].Customer)
	for i := range delivery {
		require.NoError(tb, m.Apply(st, &delivery[i], p), "signal %s at %s", delivery[i].ID, delivery[i].Time)
		if evalAfter[i] {
			m.Evaluate(st, p, delivery[i].Time)
		}
	}
	return m.Evaluate(st, p, end)
}

// pathFree strips what legitimately depends on the path taken: the tier
// (hysteresis remembers where the score came from) and the previous score.
func pathFree(r scorer.Result) scorer.Result {
	r.Tier, r.PreviousTier, r.PreviousScore = 0, 0, 0
	return r
}

func TestOrderAndBatchingDoNotChangeTheScore(t *testing.T) {
	// The default lateness, and a longer one that is not a whole number of
	// days, so the rings must hold more than their windows.
	for _, lateness := range []time.Duration{24 * time.Hour, 60 * time.Hour} {
		t.Run("lateness="+lateness.String(), func(t *testing.T) {
			m := modelWithLateness(t, lateness)
			require.Equal(t, lateness, m.Lateness())
			for seed := uint64(1); seed <= 20; seed++ {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					checkOrderIndependence(t, m, seed)
				})
			}
		})
	}
}

func checkOrderIndependence(t *testing.T, m *scorer.Model, seed uint64) {
	lateness := m.Lateness()
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	sigs := randomHistory(r, fmt.Sprintf("cust%d", seed), start, seed%3 == 0)
	p := &signals.Profile{ID: sigs[0].Customer, ARR: 50000, Segment: []string{"enterprise", "smb", ""}[r.IntN(3)],
		Stage:       []string{"", "adoption", "onboarding", "renewal"}[r.IntN(4)],
		RenewalDate: start.AddDate(0, 0, 40+r.IntN(60)).Format(time.DateOnly), Owner: "alice"}
	last := sigs[len(sigs)-1].Time

	// (a) in time order, evaluating after every signal.
	every := map[int]bool{}
	for i := range sigs {
		every[i] = true
	}
	// (b) the same order in random batches, evaluated at batch ends only.
	batches := map[int]bool{}
	for i := range sigs {
		if r.IntN(7) == 0 {
			batches[i] = true
		}
	}
	// (c) displaced within the lateness window: sorted by time plus a
	// jitter below the lateness, so a signal may come after later ones but
	// never more than the lateness behind the latest delivered, and none
	// is rejected.
	type keyed struct {
		key int64
		s   signals.Signal
	}
	ks := make([]keyed, len(sigs))
	for i, s := range sigs {
		ks[i] = keyed{s.Time.UnixNano() + r.Int64N(int64(lateness)), s}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.key, b.key) })
	shuffled := make([]signals.Signal, len(ks))
	displaced := 0
	for i, k := range ks {
		shuffled[i] = k.s
		if k.s.ID != sigs[i].ID {
			displaced++
		}
	}
	require.Positive(t, displaced, "the jitter must reorder something")

	// At the last signal, and after a silence that only the sweep sees.
	for _, end := range []time.Time{last, last.Add(20 * 24 * time.Hour)} {
		a := pathFree(replay(t, m, p, sigs, every, end))
		b := pathFree(replay(t, m, p, sigs, batches, end))
		c := pathFree(replay(t, m, p, shuffled, batches, end))
		require.NotEmpty(t, a.Contributions, "a history that fires no rule tests little")
		require.Equal(t, a, b, "batching changed the result at %s", end)
		require.Equal(t, a, c, "out-of-order delivery changed the result at %s", end)
	}
}

// Producers deliver their own signals in order but trail one another: a
// usage rollup a day late, a help desk backfilled after the warehouse, a
// survey tool that sends once a week. Within the backfill window the
// customer ends exactly as in event-time order: the same score, tier,
// contributions and firing history, whatever the interleaving.
func TestProducersMayTrailEachOther(t *testing.T) {
	m := defaultModel(t)
	window := rulesWindow(t, m)
	revised := 0
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			r := rand.New(rand.NewPCG(seed, 0x7a11))
			sigs := randomHistory(r, fmt.Sprintf("cust%d", seed), start, seed%4 == 0)
			p := &signals.Profile{ID: sigs[0].Customer, ARR: 50000, Segment: []string{"enterprise", "smb", ""}[r.IntN(3)],
				Stage:       []string{"", "adoption", "onboarding", "renewal"}[r.IntN(4)],
				RenewalDate: start.AddDate(0, 0, 40+r.IntN(60)).Format(time.DateOnly), Owner: "alice"}

			// Each producer trails event time by a lag of its own, up to
			// a day under the window; deliveries merge by when they come.
			var lags [signals.NumKinds]time.Duration
			for k := range lags {
				lags[k] = time.Duration(r.Int64N(int64(window - 24*time.Hour)))
			}
			trailing := slices.Clone(sigs)
			slices.SortStableFunc(trailing, func(a, b signals.Signal) int {
				return a.Time.Add(lags[a.Kind.Index()]).Compare(b.Time.Add(lags[b.Kind.Index()]))
			})

			// The last days within the window, one producer after another
			// in a random order of producers: a first backfill.
			last := sigs[len(sigs)-1].Time
			recent := slices.DeleteFunc(slices.Clone(sigs), func(s signals.Signal) bool {
				return s.Time.Before(last.Add(-window + 24*time.Hour))
			})
			order := r.Perm(signals.NumKinds)
			sequential := slices.Clone(recent)
			slices.SortStableFunc(sequential, func(a, b signals.Signal) int {
				return cmp.Compare(order[a.Kind.Index()], order[b.Kind.Index()])
			})

			st := scorer.NewState(p.ID)
			for i := range sequential {
				rev, err := m.ApplyRevised(st, &sequential[i], p)
				require.NoError(t, err)
				if rev == scorer.Revised {
					revised++
				}
			}
			every := func(n int) map[int]bool {
				out := map[int]bool{}
				for i := range n {
					out[i] = true
				}
				return out
			}
			for _, end := range []time.Time{last, last.Add(20 * 24 * time.Hour)} {
				want := ordered(replay(t, m, p, sigs, every(len(sigs)), end))
				require.Equal(t, want, ordered(replay(t, m, p, trailing, every(len(sigs)), end)),
					"producers trailing by %v changed the result at %s", lags, end)
				wantRecent := ordered(replay(t, m, p, recent, every(len(recent)), end))
				require.Equal(t, wantRecent, ordered(replay(t, m, p, sequential, every(len(recent)), end)),
					"one producer after another (order %v) changed the result at %s", order, end)
			}
		})
	}
	require.Greater(t, revised, 40, "the deliveries must land in closed days, or the test proves little")
}

// ordered strips what depends on the order signals were evaluated in: the
// previous evaluation's score and tier.
func ordered(r scorer.Result) scorer.Result {
	r.PreviousTier, r.PreviousScore = 0, 0
	return r
}

func rulesWindow(t *testing.T, m *scorer.Model) time.Duration {
	t.Helper()
	w := m.Rules.BackfillWindow
	require.GreaterOrEqual(t, w, 7*24*time.Hour, "a window of a week or more to test in")
	return w
}
