package scorer

import (
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer/sentiment"
	"github.com/riskwatch/riskwatch/signals"
)

const (
	day = int64(24 * time.Hour / time.Second)

	usageDays   = 36 // 7 recent complete days + 28 baseline days + today
	ticketDays  = 56 // 7 days + 7 weeks of baseline
	historyDays = 90
	seenIDs     = 16
	// maxEvents bounds the per-customer list of sparse events (tickets,
	// answers, requests, mentions, payments); the oldest go first.
	maxEvents = 48
	// eventRetention is how long sparse events are kept: the longest window
	// any feature looks at.
	eventRetention = 90 * day
)

// State is everything the model keeps about one customer. It is plain data:
// the daemon checkpoints it as JSON and replays restore it exactly.
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
	FirstUsage  int64           `json:"fu,omitempty"`
	LastUsage   int64           `json:"lu,omitempty"`
	LastUsageID string          `json:"luid,omitempty"`
	Opened      dayRing[uint16] `json:"opened"`
	Events      []Event         `json:"ev,omitempty"`

	NPS     Answer `json:"nps"`
	PrevNPS Answer `json:"prevnps"`
	Rating       Answer `json:"rating"`

	// The latest CSM contact and champion changes outlive the event list.
	LastContact   int64 `json:"lc,omitempty"`
	ChampionLeft  int64 `json:"cl,omitempty"`
	ChampionAdded int64 `json:"ca,omitempty"`

	Churned     int64  `json:"churned,omitempty"`
	RenewalDate string `json:"renewal,omitempty"` // from an outcome; wins over an older profile date

	// Seen holds hashes of the last signal ids, so a duplicate that slipped
	// past JetStream's window is not counted twice.
	Seen    [seenIDs]uint64 `json:"seen"`
	SeenPos uint8           `json:"seenpos"`

	// Committed is the last closed day boundary (Unix seconds) whose rule
	// firings are in Fired.
	Committed int64 `json:"committed"`
	// Fired maps a rule name to the last committed time it fired.
	Fired map[string]int64 `json:"fired,omitempty"`

	Score    float64    `json:"score"`
	Tier     rules.Tier `json:"tier"`
	Evaluated int64     `json:"evaluated,omitempty"`
	// History is the last score of each of the last 90 days, ending at
	// HistoryTop (a day number); 255 marks a day without a score.
	History    [historyDays]uint8 `json:"hist"`
	HistoryTop int32              `json:"histtop"`
}

// Answer is a single remembered value with its time and signal id: the
// latest NPS answer, the one before it, the CSM's rating.
type Answer struct {
	T  int64  `json:"t,omitempty"`
	V  int64  `json:"v,omitempty"`
	S  string `json:"s,omitempty"`
	ID string `json:"id,omitempty"`
}

func (a Answer) newer(t int64, id string) bool {
	return t > a.T || (t == a.T && id > a.ID)
}

// Event is one sparse signal kept for the windows that need more than a
// daily count.
type Event struct {
	T    int64        `json:"t"`
	Kind signals.Kind `json:"k"`
	Type string       `json:"y,omitempty"`
	ID   string       `json:"id"`
	// Key is the ticket id for tickets.
	Key string  `json:"key,omitempty"`
	V   float64 `json:"v,omitempty"`
	W   float64 `json:"w,omitempty"`
}

// NewState is the empty state of a customer.
func NewState(customer string) *State {
	st := &State{
		Customer:    customer,
		Usage:       newDayRing[uint32](usageDays),
		ActiveUsers: newDayRing[uint16](usageDays),
		Opened:      newDayRing[uint16](ticketDays),
		HistoryTop:  -1 << 30,
	}
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
// duplicate checks passed.
func (st *State) add(s *signals.Signal) {
	t := s.Time.Unix()
	d := dayOf(t)
	if st.First == 0 || t < st.First {
		st.First = t
	}
	switch s.Kind {
	case signals.KindUsage:
		st.Usage.add(d, uint64(s.Usage.Events))
		if s.Usage.ActiveUsers > 0 {
			st.ActiveUsers.max(d, uint64(s.Usage.ActiveUsers))
		}
		if st.FirstUsage == 0 || t < st.FirstUsage {
			st.FirstUsage = t
		}
		if t > st.LastUsage || (t == st.LastUsage && s.ID > st.LastUsageID) {
			st.LastUsage, st.LastUsageID = t, s.ID
		}
	case signals.KindTicket:
		if s.Ticket.Status == signals.TicketOpened || s.Ticket.Status == signals.TicketReopened {
			st.Opened.add(d, 1)
		}
		ev := Event{T: t, Kind: s.Kind, Type: s.Ticket.Status, ID: s.ID, Key: s.Ticket.TicketID}
		if s.Ticket.Priority == "urgent" {
			ev.W = 1
		}
		if s.Ticket.FirstResponseMinutes != nil {
			ev.V = *s.Ticket.FirstResponseMinutes
		} else {
			ev.V = -1
		}
		st.insert(ev)
	case signals.KindNPS:
		score := *s.NPS.Score
		switch {
		case st.NPS.newer(t, s.ID):
			st.PrevNPS = st.NPS
			st.NPS = Answer{T: t, V: score, ID: s.ID}
		case st.PrevNPS.newer(t, s.ID):
			st.PrevNPS = Answer{T: t, V: score, ID: s.ID}
		}
	case signals.KindRating:
		if st.Rating.newer(t, s.ID) {
			st.Rating = Answer{T: t, S: s.Rating.Value, ID: s.ID}
		}
	case signals.KindCommercial:
		ev := Event{T: t, Kind: s.Kind, Type: s.Commercial.Type, ID: s.ID}
		if s.Commercial.AmountPct != nil {
			ev.V = *s.Commercial.AmountPct
		}
		st.insert(ev)
	case signals.KindMention:
		ev := Event{T: t, Kind: s.Kind, Type: s.Mention.Channel, ID: s.ID, W: 1}
		switch {
		case s.Mention.Sentiment != nil:
			ev.V = *s.Mention.Sentiment
		case s.Mention.Text != "":
			ev.V, _ = sentiment.Score(s.Mention.Text)
		}
		if s.Mention.Reach != nil {
			ev.W = max(*s.Mention.Reach, 1)
		}
		st.insert(ev)
	case signals.KindBilling:
		st.insert(Event{T: t, Kind: s.Kind, Type: s.Billing.Type, ID: s.ID})
	case signals.KindContact:
		st.LastContact = max(st.LastContact, t)
		st.insert(Event{T: t, Kind: s.Kind, Type: s.Contact.Type, ID: s.ID})
	case signals.KindChampion:
		if s.Champion.Type == "left" {
			st.ChampionLeft = max(st.ChampionLeft, t)
		} else {
			st.ChampionAdded = max(st.ChampionAdded, t)
		}
		st.insert(Event{T: t, Kind: s.Kind, Type: s.Champion.Type, ID: s.ID})
	case signals.KindOutcome:
		switch s.Outcome.Type {
		case "churned":
			if st.Churned == 0 || t < st.Churned {
				st.Churned = t
			}
		case "renewed":
			if s.Outcome.RenewalDate != "" {
				st.RenewalDate = s.Outcome.RenewalDate
			}
		}
		st.insert(Event{T: t, Kind: s.Kind, Type: s.Outcome.Type, ID: s.ID})
	}
}

// insert keeps Events sorted by (time, id), drops what is past retention
// relative to the watermark, and bounds the list.
func (st *State) insert(ev Event) {
	i, _ := slices.BinarySearchFunc(st.Events, ev, func(a, b Event) int {
		switch {
		case a.T != b.T:
			return cmpInt(a.T, b.T)
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	st.Events = slices.Insert(st.Events, i, ev)
	wm := max(st.Watermark, ev.T)
	cut := 0
	for cut < len(st.Events) && st.Events[cut].T < wm-eventRetention {
		cut++
	}
	if over := len(st.Events) - cut - maxEvents; over > 0 {
		cut += over
	}
	if cut > 0 {
		st.Events = slices.Delete(st.Events, 0, cut)
	}
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

// Restore repairs a state decoded from a checkpoint written by another
// version: rings of the wrong size are reset rather than misread.
func (st *State) Restore() {
	if len(st.Usage.C) != usageDays {
		st.Usage = newDayRing[uint32](usageDays)
	}
	if len(st.ActiveUsers.C) != usageDays {
		st.ActiveUsers = newDayRing[uint16](usageDays)
	}
	if len(st.Opened.C) != ticketDays {
		st.Opened = newDayRing[uint16](ticketDays)
	}
}

// ScoreOn is the last score recorded on the day containing unix time t.
func (st *State) ScoreOn(t int64) (float64, bool) {
	d := dayOf(t)
	if d > st.HistoryTop || d <= st.HistoryTop-historyDays {
		return 0, false
	}
	v := st.History[int(d)%historyDays]
	return float64(v), v != noScore
}
