package main

import (
	"fmt"
	"os"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/churn"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

var churnCmd = &command{
	name:    "churn",
	args:    "[--by month|quarter] [--from DATE] [--to DATE] [--json | --csv FILE] [--predict [--rules FILE]] [HISTORY.ndjson]",
	summary: "churn rates per month or quarter, segment and stage, from a history or from riskd",
	help: `Measures churn period by period (calendar months or quarters, UTC), for
all customers and per segment and stage: how many customers were there at
the period's start, how many came and how many were lost, and these rates:

  simple       lost / customers at the start. Only customers there at the
               start count: a customer new in the period and lost in it is
               in neither side. A churn at 00:00 on the 1st belongs to the
               period that starts then.
  adjusted     every loss, new customers' too, / the mean of the customers
               at the start and at the end: steadier than simple when the
               base grows fast. It can exceed 100% in a small group.
  revenue      (ARR of the customers lost, as it stood when they left, +
               ARR lost to downgrades) / ARR at the start, over the
               customers there at the start. Net revenue subtracts the ARR
               that expansions added: below zero, the base grew.
  predictive   for the period in progress only, from each customer's
               probability p of churning within the horizon: a daily
               probability d = 1-(1-p)^(1/horizon days), summed into the
               losses expected per day and over a period of that length,
               and divided by the customers into a daily and a period rate.

A rate with nothing to divide by (no customer at the start) prints "-"
and is null in JSON. The last period runs to the data's end and is marked
with "*": its figures are to date.

With HISTORY (the NDJSON of 'riskctl replay' and 'riskctl demo', "-" for
stdin), customers are seen from their first signal and lost at their
first churned outcome; segment, stage and ARR come from their profile, and
outcomes with an "arr" (downgraded, expanded, renewed) move the ARR. A
history holds no probabilities: --predict scores it with the rules (riskd's
own step, in this process) and predicts the last period from each
customer's calibrated probability at the end: p(churn within the
horizon) from its raw score through the rules' calibration block (the
default calibration when the file has none).

Without HISTORY, riskctl asks riskd (risk.api.churn, over the connection
flags) for its live customers: the predictive figures use each customer's
calibrated probability, over the calibration's horizon; riskd keeps no ARR
changes, so its revenue churn counts churned ARR only.`,
	example: `riskctl churn history.ndjson
riskctl churn --by quarter --from 2026-01-01 --csv churn.csv history.ndjson
riskctl churn --predict --rules mine.yaml history.ndjson
riskctl churn --server nats://riskd:4222 --json`,
	run: runChurn,
}

func runChurn(e *env, c *command, args []string) int {
	fs := e.flags(c)
	conn := e.connFlags(fs)
	var req api.ChurnRequest
	fs.StringVar(&req.By, "by", "month", "the periods: month or quarter")
	fs.StringVar(&req.From, "from", "", "from the period holding this `DATE` (YYYY-MM-DD; default: the first customer's)")
	fs.StringVar(&req.To, "to", "", "to the period holding this `DATE` (YYYY-MM-DD; default: the data's end)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	csvFile := fs.String("csv", "", "also write the report as CSV to `FILE`")
	predict := fs.Bool("predict", false, "with a history: score it and predict the last period")
	rulesFile := fs.String("rules", "", "with --predict, the rule `FILE` (default: the built-in rules)")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return e.usageError(c, "name at most one history file")
	}
	cfg, err := req.Config()
	if err != nil {
		return e.usageError(c, "%v", err)
	}
	if (*predict || *rulesFile != "") && len(pos) == 0 {
		return e.usageError(c, "--predict and --rules score a history file: name one (riskd predicts its own)")
	}
	var set *rules.Set
	if *predict {
		if set, err = configs.LoadRules(*rulesFile); err != nil {
			return e.fail(c, err)
		}
	} else if *rulesFile != "" {
		return e.usageError(c, "--rules goes with --predict")
	}
	var (
		rep *churn.Report
		raw []byte
	)
	if len(pos) == 1 {
		rep, err = e.churnOfHistory(pos[0], cfg, set)
	} else {
		nc, cerr := conn.connect()
		if cerr != nil {
			return e.fail(c, cerr)
		}
		defer nc.Close()
		rep = &churn.Report{}
		raw, err = conn.call(nc, api.EndpointChurn, req, rep)
	}
	if err != nil {
		return e.fail(c, err)
	}
	if *csvFile != "" {
		if err := writeChurnCSV(*csvFile, rep); err != nil {
			return e.fail(c, err)
		}
	}
	switch {
	case *asJSON && raw != nil:
		return e.writeRaw(c, raw)
	case *asJSON:
		err = writeJSON(e.stdout, rep)
	default:
		err = churn.WriteText(e.stdout, rep)
	}
	if err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

// churnOfHistory computes the report of a history file, as of its last
// event; with set, it scores the history and predicts the last period.
func (e *env) churnOfHistory(name string, cfg churn.Config, set *rules.Set) (*churn.Report, error) {
	in, _, closeIn, err := e.openInput(name)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	h, err := backtest.Read(in, nil)
	if err != nil {
		return nil, err
	}
	customers, err := lifetimes(h)
	if err != nil {
		return nil, err
	}
	cfg.AsOf = h.Last
	if set != nil {
		b := scoreHistory(h, set)
		for i := range customers {
			if bc := b.Customer(customers[i].ID); bc != nil {
				customers[i].Probability, customers[i].HasProbability = b.Probability(bc)
			}
		}
		cfg.Horizon, cfg.Source = b.ProbabilityHorizon(), b.ProbabilitySource()
	}
	rep, err := churn.Compute(customers, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(name), err)
	}
	return rep, nil
}

// lifetimes are a history's customers: first seen at their first signal,
// lost at their first churned outcome, segment, stage and ARR from their
// last profile, ARR changes from outcomes that carry an ARR.
func lifetimes(h *backtest.History) ([]churn.Customer, error) {
	profiles := map[string]signals.Profile{}
	for _, m := range h.Profiles {
		p, err := signals.DecodeProfile(m.Subject, m.Data)
		if err != nil {
			return nil, fmt.Errorf("history profile: %w", err)
		}
		profiles[p.ID] = p
	}
	idx := map[string]int{}
	var out []churn.Customer
	for _, m := range h.Signals {
		s := m.Signal
		i, seen := idx[s.Customer]
		if !seen {
			p := profiles[s.Customer]
			i, idx[s.Customer] = len(out), len(out)
			out = append(out, churn.Customer{ID: s.Customer, Segment: p.Segment, Stage: p.Stage, ARR: p.ARR,
				First: s.Time, Churned: h.Churned[s.Customer]})
		}
		if s.Kind == signals.KindOutcome && s.Outcome.ARR != nil && s.Outcome.Type != "churned" {
			out[i].Changes = append(out[i].Changes, churn.Change{Time: s.Time, ARR: *s.Outcome.ARR})
		}
	}
	return out, nil
}

// scoreHistory runs a history through riskd's step, profiles first, and
// sweeps the book at the start of the last event's day as riskd would
// have.
func scoreHistory(h *backtest.History, set *rules.Set) *book.Book {
	b := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	var seq uint64
	for _, msgs := range [][]book.Message{h.Profiles, h.Signals} {
		for _, m := range msgs {
			seq++
			m.Seq = seq
			b.Apply(&m, &fx)
			fx.Reset()
		}
	}
	if day := h.Last.UTC().Truncate(24 * time.Hour).Unix(); day > b.Clock().LastSweep {
		b.Sweep(day, seq, &fx)
	}
	return b
}

func writeChurnCSV(name string, rep *churn.Report) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if err := churn.WriteCSV(f, rep); err != nil {
		_ = f.Close()
		return fmt.Errorf("csv %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("csv %s: %w", name, err)
	}
	return nil
}
