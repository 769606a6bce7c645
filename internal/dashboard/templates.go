package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
)

// pages are the templates, each executed with the layout.
var pages = []string{"book", "customer", "alerts", "rules", "login", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"money":       money,
		"num":         num,
		"signed":      signed,
		"pct":         func(p float64) string { return alerting.Percent(p) },
		"tierClass":   tierClass,
		"tierName":    tierName,
		"customerURL": customerURL,
		"date":        func(t time.Time) string { return t.UTC().Format("Jan 2, 15:04 UTC") },
		"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"day":         func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"unixDate": func(s int64) string {
			if s == 0 {
				return ""
			}
			return time.Unix(s, 0).UTC().Format("Jan 2, 15:04 UTC")
		},
		"severityTier": func(s string) string { return strings.ReplaceAll(s, "_", "-") },
		"tierOf":       func(t rules.Tier) string { return t.String() },
		"add1":         func(a, b float64) float64 { return a + b },
		"sub":          func(a, b float64) float64 { return a - b },
		"pctOf":        func(f float64) string { return strconv.FormatFloat(math.Round(f*100), 'f', 0, 64) + "%" },
		"dur":          dur,
		"change":       change,
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

// money writes an amount without cents, grouped: 120,000.
func money(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// dur writes a rule's half-life in days or hours.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "—"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	default:
		return d.String()
	}
}

// delta is a change since yesterday as shown: up is worse.
type delta struct{ Class, Text string }

// change shows a change that may be unknown (nil: no score a day before).
func change(c *float64) *delta {
	if c == nil {
		return nil
	}
	d := &delta{Text: signed(*c)}
	switch {
	case *c > 0:
		d.Class = "up"
	case *c < 0:
		d.Class = "down"
	}
	return d
}
