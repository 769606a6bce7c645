package scorer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer/sentiment"
	"github.com/riskwatch/riskwatch/signals"
)

const (
	day = int64(24 * time.Hour / time.Second)

	// The windows the detectors read, in days ending today. The rings hold
	// these plus the lateness (see Model.fit): a closed day is evaluated
	// while days up to the lateness after it are already filling.
	usageWindow  = 91 // 90 days + today: 14 recent complete days and the 70 before them judge a slow fade
	usersWindow  = 36 // active users: the peak of the last 35 days + today
	ticketWindow = 56 // 7 days + 7 weeks of baseline
	historyDays  = 90
	seenIDs      = 16
	// maxEvents bounds the sparse events (tickets, answers, requests,
	// mentions, payments, contacts) a feature sees at any moment: the
	// newest ones of the last 90 days.
	maxEvents = 48
	// maxPending bounds the events newer than the lateness horizon kept on
	// top of maxEvents. Only a burst of more than this many sparse events
	// within one lateness window can make the result depend on arrival
	// order.
	maxPending = 16
	// eventWindow is the longest window any feature looks back over the
	// event list.
	eventWindow = 90 * day
	// eventsGrowth is how many events the list grows by when full.
	eventsGrowth = 4
)

// State is everything the model keeps about one customer. It is plain data:
// the daemon checkpoints it (MarshalBinary; JSON works too) and replays
// restore it exactly.
type State struct {
	Customer string `json:"customer"`
	// First and Watermark are the earliest and latest event times seen, in
	// Unix seconds. Lateness is judged against Watermark.
	First     int64 `json:"first"`
	Watermark int64 `json:"wm"`
	// Seq is the stream sequence of the last message applied; the daemon
	// skips redelivered messages at or below it.
	Seq uint64 `json:"seq,omitempty"`

	Usage       dayRing[uint32] `json:"usage"`
	ActiveUsers dayRing[uint16] `json:"au"`
	Opened      dayRing[uint8]  `json:"opened"`
	FirstUsage  int64           `json:"fu,omitempty"`
	LastUsage   int64           `json:"lu,omitempty"`
	LastUsageID string          `json:"luid,omitempty"`
	// UsageBefore is the latest active day (day number) that has left the
	// usage ring, for "days inactive" on a closed day whose last activity
	// is older than the ring.
	UsageBefore int32 `json:"ub,omitempty"`
	// ActiveDays counts the distinct days with usage since the first: the
	// customer's lifetime cadence, which a fade does not drag along as it
	// does the 90-day one.
	ActiveDays uint32 `json:"ad,omitempty"`

	// Events are the sparse signals, sorted by (time, id): every one newer
	// than the lateness horizon and the newest maxEvents before it.
	Events []Event `json:"ev,omitempty"`
	// Before keeps the latest values of what has left Events, for the
	// features that want the latest of a kind however old.
	Before *Before `json:"before,omitempty"`

	Churned int64 `json:"churned,omitempty"`
	// Outcomes are the newest outcome signals (at most MaxOutcomes), by
	// time, each with the first warning of the episode it closes;
	// OutcomesFloor is the time of the newest one dropped, before which
	// nothing is attributed. AtRisk is the end of the first closed day
	// since the last outcome that ended at_risk or worse, 0 when none
	// did (see Fate).
	Outcomes      []Outcome `json:"outcomes,omitempty"`
	OutcomesFloor int64     `json:"outcomes_floor,omitempty"`
	AtRisk        int64     `json:"at_risk,omitempty"`

	// Seen holds hashes of the last signal ids, so a duplicate that slipped
	// past JetStream's window is not counted twice.
	Seen    idHashes `json:"seen"`
	SeenPos uint8    `json:"seenpos"`

	// Committed is the last closed day boundary (Unix seconds) whose rule
	// firings are in Fired.
	Committed int64 `json:"committed"`
	// Fired holds, per rule, the committed day boundaries it fired at.
	Fired []Firing `json:"fired,omitempty"`
	// ClosedTiers are the tiers the customer ended the last 32 closed days
	// in, two bits a day, the day ending at Committed in the lowest bits:
	// a score leaves a tier against the tier of the day before, which
	// depends on the history alone, not on the order it arrived in.
	ClosedTiers uint64 `json:"ct,omitempty"`
	// Kinds holds, per signal kind (signals.Kinds order), the latest event
	// time of that kind for the customer, 0 when none came: a signal is
	// late against the latest of its own producer, not of every producer.
	Kinds [signals.NumKinds]int64 `json:"kinds"`

	Score float64 `json:"score"`
	// Raw is the last evaluation's signed, uncapped sum of contributions
	// (Result.Raw): what ranks customers the 0..100 score ties, and what
	// the probability comes from (Model.Probability). A state checkpointed
	// before it was kept has Raw = Score (see Restore).
	Raw       float64    `json:"raw,omitempty"`
	Tier      rules.Tier `json:"tier"`
	Evaluated int64      `json:"evaluated,omitempty"`
	// History is the last score of each of the last 90 days, ending at
	// HistoryTop (a day number); 255 marks a day without a score.
	History    dayScores `json:"hist"`
	HistoryTop int32     `json:"histtop"`

	memo ruleMemo // not checkpointed: see ruleMemo
}

// Answer is one remembered value with its time and signal id: an NPS score,
// a rating (V is its code), a renewal date (V in Unix seconds).
type Answer struct {
	T  int64  `json:"t,omitempty"`
	V  int64  `json:"v,omitempty"`
	ID string `json:"id,omitempty"`
}

// Before holds the latest values among the events that have left the event
// list. Eviction always takes the oldest events first, so any event still
// in the list is newer than all of these.
type Before struct {
	Contact       int64     `json:"contact,omitempty"`
	ChampionLeft  int64     `json:"champion_left,omitempty"`
	ChampionAdded int64     `json:"champion_added,omitempty"`
	NPS           [2]Answer `json:"nps"` // newest first
	Rating        Answer    `json:"rating"`
	Renewal       Answer    `json:"renewal"`
}

// Event is one sparse signal kept for the windows that need more than a
// daily count.
type Event struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
	// Key is a hash of the ticket id, for tickets.
	Key uint64 `json:"key,omitempty"`
	// V is the first response in minutes (tickets with FlagResponse), the
	// NPS score, the contract change in percent, the mention sentiment, or
	// the renewal date in Unix seconds.
	V float64 `json:"v,omitempty"`
	// W is a mention's reach.
	W     float32 `json:"w,omitempty"`
	Code  Code    `json:"c"`
	Flags uint8   `json:"f,omitempty"`
}

// Event flags.
const (
	FlagUrgent   = 1 << iota // a ticket of urgent priority
	FlagResponse             // V holds a first response time
)

// Code is the kind and type of an Event in one byte.
type Code uint8

// Event codes. Their names are the checkpoint format: append, never
// renumber or rename.
const (
	codeNone Code = iota
	codeTicketOpened
	codeTicketReopened
	codeTicketEscalated
	codeTicketSolved
	codeTicketClosed
	codeNPS
	codeDiscount
	codeDowngrade
	codeContractChange
	codeCancellation
	codeQuoteRequest
	codeQuoteAnswered
	codeMention
	codePaymentFailed
	codePaymentSucceeded
	codeCardExpiring
	codeInvoiceOverdue
	codeContact
	codeChampionLeft
	codeChampionAdded
	codeRatingGreen
	codeRatingYellow
	codeRatingRed
	codeRenewed
	numCodes
)

var codeNames = [numCodes]string{"", "ticket.opened", "ticket.reopened", "ticket.escalated",
	"ticket.solved", "ticket.closed", "nps", "commercial.discount_request",
	"commercial.downgrade_request", "commercial.contract_change", "commercial.cancellation_inquiry",
	"commercial.quote_request", "commercial.quote_answered", "mention", "billing.payment_failed",
	"billing.payment_succeeded", "billing.card_expiring", "billing.invoice_overdue", "contact",
	"champion.left", "champion.added", "rating.green", "rating.yellow", "rating.red",
	"outcome.renewed"}

var ratingValues = [...]string{0: "green",
	codeRatingYellow - codeRatingGreen: "yellow", codeRatingRed - codeRatingGreen: "red"}

func (c Code) String() string {
	if c < numCodes {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Kind is the signal kind the code belongs to.
func (c Code) Kind() signals.Kind {
	switch {
	case c >= codeTicketOpened && c <= codeTicketClosed:
		return signals.KindTicket
	case c == codeNPS:
		return signals.KindNPS
	case c >= codeDiscount && c <= codeQuoteAnswered:
		return signals.KindCommercial
	case c == codeMention:
		return signals.KindMention
	case c >= codePaymentFailed && c <= codeInvoiceOverdue:
		return signals.KindBilling
	case c == codeContact:
		return signals.KindContact
	case c == codeChampionLeft || c == codeChampionAdded:
		return signals.KindChampion
	case c >= codeRatingGreen && c <= codeRatingRed:
		return signals.KindRating
	case c == codeRenewed:
		return signals.KindOutcome
	}
	return ""
}

func (c Code) MarshalText() ([]byte, error) {
	if c == codeNone || c >= numCodes {
		return nil, fmt.Errorf("scorer: invalid event code %d", uint8(c))
	}
	return []byte(codeNames[c]), nil
}

func (c *Code) UnmarshalText(b []byte) error {
	for i, n := range codeNames {
		if i > 0 && n == string(b) {
			*c = Code(i)
			return nil
		}
	}
	return fmt.Errorf("scorer: unknown event code %q in checkpoint", b)
}

func codeOf(s *signals.Signal) Code {
	var types []string
	first := codeNone
	switch s.Kind {
	case signals.KindTicket:
		types, first = []string{signals.TicketOpened, signals.TicketReopened, signals.TicketEscalated,
			signals.TicketSolved, signals.TicketClosed}, codeTicketOpened
		return lookup(s.Ticket.Status, types, first)
	case signals.KindCommercial:
		types, first = []string{signals.DiscountRequest, signals.DowngradeRequest, signals.ContractChange,
			signals.CancellationInquiry, signals.QuoteRequest, signals.QuoteAnswered}, codeDiscount
		return lookup(s.Commercial.Type, types, first)
	case signals.KindBilling:
		types, first = []string{"payment_failed", "payment_succeeded", "card_expiring", "invoice_overdue"}, codePaymentFailed
		return lookup(s.Billing.Type, types, first)
	case signals.KindChampion:
		return lookup(s.Champion.Type, []string{"left", "added"}, codeChampionLeft)
	case signals.KindRating:
		return lookup(s.Rating.Value, ratingValues[:], codeRatingGreen)
	}
	return codeNone
}

func lookup(v string, types []string, first Code) Code {
	if i := slices.Index(types, v); i >= 0 {
		return first + Code(i)
	}
	return codeNone
}

// NewState is the empty state of a customer.
func NewState(customer string) *State {
	st := &State{Customer: customer, HistoryTop: -1 << 30}
	st.resize(ringSlack(DefaultLateness))
	for i := range st.History {
		st.History[i] = noScore
	}
	return st
}

const noScore = 255

func dayOf(unix int64) int32 {
	if unix < 0 {
		return int32((unix - day + 1) / day)
	}
	return int32(unix / day)
}

// ringSlack is how many days past a closed day the rings may already hold.
func ringSlack(lateness time.Duration) int {
	return int(math.Ceil(lateness.Hours() / 24))
}

// resize fits the rings to a lateness of slack days, keeping their data.
func (st *State) resize(slack int) {
	if n := usageWindow + slack; len(st.Usage.C) != n {
		if d, ok := st.Usage.resize(n); ok {
			st.UsageBefore = max(st.UsageBefore, d)
		}
	}
	if n := usersWindow + slack; len(st.ActiveUsers.C) != n {
		st.ActiveUsers.resize(n)
	}
	if n := ticketWindow + slack; len(st.Opened.C) != n {
		st.Opened.resize(n)
	}
}

// seen reports whether id was applied recently, and remembers it if not.
func (st *State) seen(id string) bool {
	h := fnv64(id)
	if slices.Contains(st.Seen[:], h) {
		return true
	}
	st.Seen[st.SeenPos%seenIDs] = h
	st.SeenPos = (st.SeenPos + 1) % seenIDs
	return false
}

// hasEvent reports whether the event list holds id at time t, or the
// outcomes hold id at any time.
func (st *State) hasEvent(t int64, id string) bool {
	for i := firstAfter(st.Events, t-1); i < len(st.Events) && st.Events[i].T == t; i++ {
		if st.Events[i].ID == id {
			return true
		}
	}
	for i := range st.Outcomes {
		if st.Outcomes[i].ID == id {
			return true
		}
	}
	return false
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

// add records the signal in the detectors. It assumes the lateness and
// duplicate checks passed. horizon is the lateness horizon after the
// signal: no signal older than it can be accepted any more.
func (st *State) add(s *signals.Signal, horizon int64) {
	t := s.Time.Unix()
	d := dayOf(t)
	if st.First == 0 || t < st.First {
		st.First = t
	}
	ev := Event{T: t, ID: s.ID, Code: codeOf(s)}
	switch s.Kind {
	case signals.KindUsage:
		if ld, ok := st.Usage.leaving(d); ok {
			st.UsageBefore = max(st.UsageBefore, ld)
		}
		if st.Usage.get(d) == 0 && d > st.Usage.Top-int32(len(st.Usage.C)) {
			st.ActiveDays++
		}
		st.Usage.add(d, uint64(max(s.Usage.Events, 1)))
		if s.Usage.ActiveUsers > 0 {
			st.ActiveUsers.max(d, uint64(s.Usage.ActiveUsers))
		}
		if st.FirstUsage == 0 || t < st.FirstUsage {
			st.FirstUsage = t
		}
		if t > st.LastUsage || (t == st.LastUsage && s.ID > st.LastUsageID) {
			st.LastUsage, st.LastUsageID = t, s.ID
		}
		return
	case signals.KindTicket:
		if s.Ticket.Status == signals.TicketOpened || s.Ticket.Status == signals.TicketReopened {
			st.Opened.add(d, 1)
		}
		ev.Key = fnv64(s.Ticket.TicketID)
		if s.Ticket.Priority == "urgent" {
			ev.Flags |= FlagUrgent
		}
		if s.Ticket.FirstResponseMinutes != nil {
			ev.V, ev.Flags = *s.Ticket.FirstResponseMinutes, ev.Flags|FlagResponse
		}
	case signals.KindNPS:
		if s.NPS.Score == nil {
			return
		}
		ev.Code, ev.V = codeNPS, float64(*s.NPS.Score)
	case signals.KindCommercial:
		if s.Commercial.AmountPct != nil {
			ev.V = *s.Commercial.AmountPct
		}
	case signals.KindMention:
		ev.Code, ev.W = codeMention, 1
		switch {
		case s.Mention.Sentiment != nil:
			ev.V = *s.Mention.Sentiment
		case s.Mention.Text != "":
			ev.V, _ = sentiment.Score(s.Mention.Text)
		}
		if s.Mention.Reach != nil {
			ev.W = float32(max(*s.Mention.Reach, 1))
		}
	case signals.KindContact:
		ev.Code = codeContact
	case signals.KindOutcome:
		switch s.Outcome.Type {
		case "churned":
			if st.Churned == 0 || t < st.Churned {
				st.Churned = t
			}
			return
		case "renewed":
			r, err := signals.ParseDate(s.Outcome.RenewalDate)
			if err != nil {
				return // a renewal without a next date moves nothing
			}
			ev.Code, ev.V = codeRenewed, float64(r.Unix())
		default:
			return
		}
	}
	if ev.Code == codeNone {
		return // a type this version does not score
	}
	st.insert(ev, horizon)
}

func cmpEvent(a, b Event) int {
	switch {
	case a.T != b.T:
		return cmpInt(a.T, b.T)
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// insert adds ev to Events in (time, id) order, then drops what no future
// evaluation can see. Every later evaluation is at or after horizon, and
// every later signal too, so it reads at most the newest maxEvents events
// before horizon and none older than eventWindow before it. Dropping only
// those keeps the features a function of the signals alone, whatever order
// they came in; maxPending bounds the rest against floods.
func (st *State) insert(ev Event, horizon int64) {
	i, _ := slices.BinarySearchFunc(st.Events, ev, cmpEvent)
	if len(st.Events) == cap(st.Events) {
		// Grow by a few events at a time: a state lives long, and doubling
		// would leave most customers with unused capacity.
		grown := make([]Event, len(st.Events), len(st.Events)+eventsGrowth)
		copy(grown, st.Events)
		st.Events = grown
	}
	st.Events = slices.Insert(st.Events, i, ev)
	settled := firstAfter(st.Events, horizon-1)
	cut := 0
	for cut < settled && st.Events[cut].T < horizon-eventWindow {
		cut++
	}
	cut = max(cut, settled-maxEvents, len(st.Events)-maxEvents-maxPending)
	if cut > 0 {
		st.evict(cut)
	}
}

// evict drops the oldest n events, keeping the latest values Before needs.
func (st *State) evict(n int) {
	for _, ev := range st.Events[:n] {
		var b *Before
		switch ev.Code {
		case codeContact, codeChampionLeft, codeChampionAdded, codeNPS, codeRenewed,
			codeRatingGreen, codeRatingYellow, codeRatingRed:
			if st.Before == nil {
				st.Before = &Before{}
			}
			b = st.Before
		default:
			continue
		}
		a := Answer{T: ev.T, V: int64(ev.V), ID: ev.ID}
		switch ev.Code {
		case codeContact:
			b.Contact = ev.T
		case codeChampionLeft:
			b.ChampionLeft = ev.T
		case codeChampionAdded:
			b.ChampionAdded = ev.T
		case codeNPS:
			b.NPS[1], b.NPS[0] = b.NPS[0], a
		case codeRenewed:
			b.Renewal = a
		default:
			a.V = int64(ev.Code - codeRatingGreen)
			b.Rating = a
		}
	}
	// Copy down rather than reslice, so the dropped events' strings are
	// not kept alive by the backing array.
	m := copy(st.Events, st.Events[n:])
	clear(st.Events[m:])
	st.Events = st.Events[:m]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// recordHistory keeps the latest score of the day of at.
func (st *State) recordHistory(at int64, score float64) {
	d := dayOf(at)
	if d < st.HistoryTop-historyDays+1 {
		return
	}
	if d > st.HistoryTop {
		if d-st.HistoryTop >= historyDays {
			for i := range st.History {
				st.History[i] = noScore
			}
		} else {
			for x := st.HistoryTop + 1; x <= d; x++ {
				st.History[int(x)%historyDays] = noScore
			}
		}
		st.HistoryTop = d
	}
	st.History[int(d)%historyDays] = uint8(min(max(score+0.5, 0), 100))
}

// Point is one day of score history.
type Point struct {
	Day   string  `json:"day"`
	Score float64 `json:"score"`
}

// ScoreOn is the last score recorded on the day of at (Unix seconds), and
// false when that day has no score or is out of the 90 days kept.
func (st *State) ScoreOn(at int64) (float64, bool) {
	d := dayOf(at)
	if d > st.HistoryTop || d <= st.HistoryTop-historyDays || d < 0 {
		return 0, false
	}
	v := st.History[int(d)%historyDays]
	if v == noScore {
		return 0, false
	}
	return float64(v), true
}

// HistoryPoints lists the days that have a score, oldest first.
func (st *State) HistoryPoints() []Point {
	var pts []Point
	for d := st.HistoryTop - historyDays + 1; d <= st.HistoryTop; d++ {
		if d < 0 {
			continue
		}
		v := st.History[int(d)%historyDays]
		if v == noScore {
			continue
		}
		pts = append(pts, Point{Day: time.Unix(int64(d)*day, 0).UTC().Format(time.DateOnly), Score: float64(v)})
	}
	return pts
}

// Restore repairs a state decoded from a checkpoint: rings that are
// missing are created (Model.Apply then fits their size to the rule set's
// lateness, keeping their data), events are put back in order.
func (st *State) Restore() {
	if len(st.Usage.C) == 0 {
		st.Usage = newDayRing[uint32](usageWindow + ringSlack(DefaultLateness))
	}
	if len(st.ActiveUsers.C) == 0 {
		st.ActiveUsers = newDayRing[uint16](usersWindow + ringSlack(DefaultLateness))
	}
	if len(st.Opened.C) == 0 {
		st.Opened = newDayRing[uint8](ticketWindow + ringSlack(DefaultLateness))
	}
	// A checkpoint written before ActiveDays was kept (JSON without "ad",
	// like binary before version 3) knows only the days its usage ring
	// still holds. Left at 0, the lifetime cadence would read the next
	// active day as the second in the customer's whole life.
	if st.ActiveDays == 0 {
		st.UsageDays(func(int32, uint64) { st.ActiveDays++ })
	}
	// An event whose code this version does not know cannot be scored or
	// written back.
	st.Events = slices.DeleteFunc(st.Events, func(e Event) bool { return e.Code == codeNone || e.Code >= numCodes })
	slices.SortStableFunc(st.Events, cmpEvent)
	// A JSON decoder grows slices by doubling: a 38-day ring comes back
	// with room for 64. Restored states are most of a restarted daemon's
	// memory, so the slices get their exact size back.
	st.Usage.C, st.ActiveUsers.C, st.Opened.C = exact(st.Usage.C), exact(st.ActiveUsers.C), exact(st.Opened.C)
	st.Events, st.Fired, st.Outcomes = exact(st.Events), exact(st.Fired), exact(st.Outcomes)
	// A kept evaluation has Score = Raw clamped to [0, 100], so a score
	// above 0 with a raw score of 0 means a checkpoint written before Raw
	// was kept (binary versions 1 to 4, JSON without "raw"). Its score is
	// the honest stand-in: exact for a customer within [0, 100], the cap
	// for one above it, until its next evaluation records the real sum.
	if st.Raw == 0 && st.Score != 0 {
		st.Raw = st.Score
	}
}

// exact is s in an array of its own length, or s when it already fits.
func exact[T any](s []T) []T {
	if cap(s) == len(s) {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

// dayScores is the score history, one byte a day. It is checkpointed as
// base64: a quarter of the size of a JSON array of numbers.
type dayScores [historyDays]uint8

func (h dayScores) MarshalJSON() ([]byte, error) { return json.Marshal(h[:]) }

func (h *dayScores) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("scorer: history: %w", err)
	}
	if len(raw) != historyDays {
		return fmt.Errorf("scorer: history has %d days, want %d", len(raw), historyDays)
	}
	copy(h[:], raw)
	return nil
}

// idHashes are the hashes of the last signal ids, checkpointed as base64.
type idHashes [seenIDs]uint64

func (s idHashes) MarshalJSON() ([]byte, error) {
	raw := make([]byte, 0, 8*seenIDs)
	for _, h := range s {
		raw = binary.LittleEndian.AppendUint64(raw, h)
	}
	return json.Marshal(raw)
}

func (s *idHashes) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("scorer: seen ids: %w", err)
	}
	if len(raw) != 8*seenIDs {
		return fmt.Errorf("scorer: seen ids hold %d bytes, want %d", len(raw), 8*seenIDs)
	}
	for i := range s {
		s[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return nil
}
