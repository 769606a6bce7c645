package dashboard

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
)

// fireCache holds how often each rule fires, counted over the customers
// at risk: an explanation each, so counted at most once a minute.
type fireCache struct {
	ttl   time.Duration
	mu    sync.Mutex
	at    time.Time
	count fireCount
}

type fireCount struct {
	Firing, Fading map[string]int
	Customers      int
	Complete       bool
	At             time.Time
}

func (f *fireCache) get(d *Dashboard) fireCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := d.o.Now()
	if !f.at.IsZero() && now.Sub(f.at) < f.ttl {
		return f.count
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	views, err := d.o.Engine.List(ctx, api.Filter{Tier: "risk", Limit: api.MaxLimit})
	if err != nil {
		return f.count // the last count, until the book can be read again
	}
	c := fireCount{Firing: map[string]int{}, Fading: map[string]int{}, Customers: len(views),
		Complete: len(views) < api.MaxLimit, At: now}
	for i := range views {
		v, ok, err := d.o.Engine.Customer(ctx, views[i].Customer)
		if err != nil || !ok {
			continue
		}
		for _, r := range v.Reasons {
			if r.Firing {
				c.Firing[r.Rule]++
			} else {
				c.Fading[r.Rule]++
			}
		}
	}
	f.at, f.count = now, c
	return c
}

type ruleRow struct {
	*rules.Rule
	Firing, Fading int
	Share          float64 // of the customers at risk it fires on
}

type rulesData struct {
	Source     string
	Lines      []string
	Rows       []ruleRow
	Count      fireCount
	Tiers      rules.Thresholds
	Calibrated bool
}

func (d *Dashboard) rulesPage(w http.ResponseWriter, r *http.Request) {
	set := d.o.Rules
	c := d.fires.get(d)
	data := rulesData{Source: set.Source, Lines: strings.Split(strings.TrimRight(string(d.o.RulesText), "\n"), "\n"),
		Count: c, Tiers: set.Tiers, Calibrated: set.Calibrated}
	for _, rl := range set.Rules {
		row := ruleRow{Rule: rl, Firing: c.Firing[rl.Name], Fading: c.Fading[rl.Name]}
		if c.Customers > 0 {
			row.Share = float64(row.Firing) / float64(c.Customers)
		}
		data.Rows = append(data.Rows, row)
	}
	d.render(w, r, http.StatusOK, "rules", page{Title: "Rules", Nav: "rules", Data: data})
}
