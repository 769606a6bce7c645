package dashboard

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// The charts are drawn on the server as inline SVG: no chart library, no
// script, and they print.

// sparkline is a row's trend: its score over the days kept.
type sparkline struct {
	Points string // SVG polyline points in a 100×24 box
	Label  string // what a screen reader says instead
}

func newSparkline(h []scorer.Point) sparkline {
	if len(h) == 0 {
		return sparkline{}
	}
	var b strings.Builder
	n := len(h)
	// x is the day, not the index: days without a score leave a gap in
	// the list, not in time.
	first, _ := time.Parse(time.DateOnly, h[0].Day)
	last, _ := time.Parse(time.DateOnly, h[n-1].Day)
	days := last.Sub(first).Hours() / 24
	for i, p := range h {
		x := 100.0
		if t, err := time.Parse(time.DateOnly, p.Day); err == nil && days > 0 {
			x = t.Sub(first).Hours() / 24 * 100 / days
		} else if n > 1 {
			x = float64(i) * 100 / float64(n-1)
		}
		y := 23 - clamp(p.Score, 0, 100)*22/100
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(num(x) + "," + num(y))
	}
	if n == 1 {
		b.WriteString(" 0," + num(23-clamp(h[0].Score, 0, 100)*22/100))
	}
	return sparkline{Points: b.String(), Label: "score " + num(h[0].Score) + " on " + h[0].Day + ", " + num(h[n-1].Score) + " on " + h[n-1].Day}
}

// Geometry of the customer's chart, in SVG units.
const (
	chartW, chartH               = 720.0, 240.0
	padL, padR, padT, padB       = 40.0, 48.0, 10.0, 26.0
	plotW, plotH                 = chartW - padL - padR, chartH - padT - padB
	laneH, timelineTop, timeLblH = 24.0, 8.0, 22.0
	// The timeline is wider, with room on the left for rule names.
	tlW, tlL, tlR = 960.0, 190.0, 16.0
)

type band struct {
	Y, H   float64
	Class  string
	Label  string
	LabelY float64
}

type tick struct {
	X, Y  float64
	Label string
}

type marker struct {
	X, Y, R float64
	Class   string
	Title   string
}

// scoreChart is the score over the days kept, with the tiers' bands, the
// probability the day's score maps to, and the alerts.
type scoreChart struct {
	W, H, PlotL, PlotR, PlotT, PlotB float64
	Bands                            []band
	Score, Prob                      string // path data
	XTicks, YTicks, PTicks           []tick
	Alerts                           []marker
	Summary                          string
	Empty                            bool
}

// span is the time axis shared by the chart and the timeline.
type span struct{ from, to time.Time }

func (s span) x(t time.Time) float64 { return s.xIn(t, padL, plotW) }

// xIn is t's x in a plot left..left+width.
func (s span) xIn(t time.Time, left, width float64) float64 {
	d := s.to.Sub(s.from)
	if d <= 0 {
		return left + width
	}
	f := float64(t.Sub(s.from)) / float64(d)
	return left + clamp(f, 0, 1)*width
}

func (s span) contains(t time.Time) bool { return !t.Before(s.from) && !t.After(s.to) }

func chartSpan(h []scorer.Point, evaluated time.Time) span {
	to := evaluated
	from := to.AddDate(0, 0, -90)
	if len(h) > 0 {
		if t, err := time.Parse(time.DateOnly, h[0].Day); err == nil {
			from = t
		}
		if t, err := time.Parse(time.DateOnly, h[len(h)-1].Day); err == nil && t.Add(24*time.Hour).After(to) {
			to = t.Add(24 * time.Hour)
		}
	}
	if !to.After(from) {
		from = to.AddDate(0, 0, -1)
	}
	return span{from, to}
}

func yScore(s float64) float64 { return padT + (100-clamp(s, 0, 100))*plotH/100 }

func newScoreChart(h []scorer.Point, th rules.Thresholds, cal rules.Calibration, alerts []alerting.Alert, sp span) scoreChart {
	c := scoreChart{W: chartW, H: chartH, PlotL: padL, PlotR: padL + plotW, PlotT: padT, PlotB: padT + plotH}
	bounds := []struct {
		lo, hi float64
		class  string
	}{{0, th.Watch, "healthy"}, {th.Watch, th.AtRisk, "watch"}, {th.AtRisk, th.Critical, "at-risk"}, {th.Critical, 100, "critical"}}
	for _, b := range bounds {
		c.Bands = append(c.Bands, band{Y: yScore(b.hi), H: yScore(b.lo) - yScore(b.hi), Class: b.class,
			Label: strings.ReplaceAll(b.class, "-", " "), LabelY: yScore(b.hi) + 12})
	}
	for _, v := range []float64{0, th.Watch, th.AtRisk, th.Critical, 100} {
		c.YTicks = append(c.YTicks, tick{X: padL - 6, Y: yScore(v) + 4, Label: num(v)})
	}
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.PTicks = append(c.PTicks, tick{X: padL + plotW + 6, Y: padT + (1-p)*plotH + 4, Label: num(p*100) + "%"})
	}
	for i := range 4 {
		t := sp.from.Add(time.Duration(float64(sp.to.Sub(sp.from)) * float64(i) / 3))
		c.XTicks = append(c.XTicks, tick{X: sp.x(t), Y: chartH - 8, Label: t.Format("Jan 2")})
	}
	if len(h) == 0 {
		c.Empty = true
		c.Summary = "No score history yet."
		return c
	}
	// Steps, not slopes: a day without a score kept the last one (the
	// history records the days the score was evaluated), so a jump shows
	// on its day instead of as a slope across the quiet days before it.
	var score, prob strings.Builder
	yProb := func(s float64) float64 { return padT + (1-cal.Probability(s))*plotH }
	started := false
	var prev float64
	for _, p := range h {
		t, err := time.Parse(time.DateOnly, p.Day)
		if err != nil {
			continue
		}
		x := num(sp.x(t.Add(12 * time.Hour)))
		if !started {
			score.WriteString("M" + x + " " + num(yScore(p.Score)))
			prob.WriteString("M" + x + " " + num(yProb(p.Score)))
			started = true
		} else {
			score.WriteString(" L" + x + " " + num(yScore(prev)) + " L" + x + " " + num(yScore(p.Score)))
			prob.WriteString(" L" + x + " " + num(yProb(prev)) + " L" + x + " " + num(yProb(p.Score)))
		}
		prev = p.Score
	}
	c.Score, c.Prob = strings.TrimSpace(score.String()), strings.TrimSpace(prob.String())
	for i := range alerts {
		a := &alerts[i]
		if !sp.contains(a.Time) {
			continue
		}
		c.Alerts = append(c.Alerts, marker{X: sp.x(a.Time), Y: yScore(a.Score), R: 5, Class: a.Severity,
			Title: string(a.Type) + " " + a.Severity + " at " + a.Time.Format("Jan 2 15:04") + ", score " + num(a.Score)})
	}
	first, last := h[0], h[len(h)-1]
	c.Summary = "Score " + num(first.Score) + " on " + first.Day + ", " + num(last.Score) + " on " + last.Day +
		"; " + strconv.Itoa(len(c.Alerts)) + " alerts in the period."
	return c
}

// timeline puts each contribution on its own lane at the time its rule
// last fired, coloured by whether it fires, fades or protects.
type timeline struct {
	W, H   float64
	PlotL  float64
	PlotR  float64
	Lanes  []tick // Y of the lane, its name
	Dots   []marker
	XTicks []tick
}

func newTimeline(cs []scorer.Contribution, sp span) timeline {
	plot := tlW - tlL - tlR
	tl := timeline{W: tlW, H: timelineTop + laneH*float64(max(len(cs), 1)) + timeLblH, PlotL: tlL, PlotR: tlL + plot}
	for i, c := range cs {
		y := timelineTop + laneH*float64(i) + laneH/2
		tl.Lanes = append(tl.Lanes, tick{X: tlL - 8, Y: y, Label: c.Rule + " (" + c.Category + ")"})
		t := c.LastFired
		if t.IsZero() || !sp.contains(t) {
			continue
		}
		class := "fading"
		switch {
		case c.Contribution < 0:
			class = "protective"
		case c.Firing:
			class = "firing"
		}
		tl.Dots = append(tl.Dots, marker{X: sp.xIn(t, tlL, plot), Y: y,
			R: clamp(3+math.Abs(c.Contribution)/5, 3, 9), Class: class,
			Title: c.Rule + ": " + signed(c.Contribution) + " points, last fired " + t.Format("Jan 2 15:04") + ". " + c.Detail})
	}
	for i := range 4 {
		t := sp.from.Add(time.Duration(float64(sp.to.Sub(sp.from)) * float64(i) / 3))
		tl.XTicks = append(tl.XTicks, tick{X: sp.xIn(t, tlL, plot), Y: tl.H - 6, Label: t.Format("Jan 2")})
	}
	return tl
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// num writes a coordinate or a score with at most one decimal.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func signed(v float64) string {
	if v > 0 {
		return "+" + num(v)
	}
	return num(v)
}
