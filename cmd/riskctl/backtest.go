package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

var backtestCmd = &command{
	name:    "backtest",
	args:    "[--rules FILE] [--compare FILE2] [--horizon 90d] [--at DATE | --every 30d] [--json | --csv FILE] HISTORY.ndjson",
	summary: "measure how well the rules predict churn on a history with outcomes",
	help: `Scores every customer of a history at a series of dates, each time with
only what was known then, and checks the scores against who churned within
the horizon after the date (outcome signals {"type": "churned"}). The
scoring is riskd's own step, run in this process; no server is needed.

HISTORY is the NDJSON of 'riskctl replay' and 'riskctl send': signal
envelopes, outcome signals among them, and profile lines (applied before
the first signal: they carry no time). The signals are taken in event-time
order whatever the file's order.

The dates are --at (one date, or several separated by commas), or one
every --every from six weeks after the first event to --horizon before the
last, so that every date's horizon is in the history. Each is the start of
its day (UTC), when riskd sweeps.

For the rules (--rules, default the built-in set) and --compare, side by
side: AUC, and at watch+, at_risk+ and critical the recall, precision, false
alert rate and revenue-weighted recall; the median lead time from a
churner's first at_risk alert to its churn; alerts per CSM per week; the
precision and lift of each rule; AUC and recall per segment and stage. A
naive baseline stands in the last column: days since the customer's last
event over its own mean interval between active days. At each date and
tier it flags as many customers as the first rule set, so the columns
compare at equal alert volume: where the baseline wins, the rules lose
to "who went quiet".`,
	example: `riskctl backtest history.ndjson
riskctl backtest --rules mine.yaml --compare configs/rules.yaml --every 14d history.ndjson
riskctl backtest --at 2026-03-01,2026-06-01 --csv figures.csv history.ndjson`,
	run: runBacktest,
}

func runBacktest(e *env, c *command, args []string) int {
	fs := e.flags(c)
	rulesFile := fs.String("rules", "", "rule file (default: the built-in rules)")
	compare := fs.String("compare", "", "a second rule `FILE` measured beside the first")
	horizon := fs.String("horizon", "90d", "how long after a date a churn counts for it")
	at := fs.String("at", "", "score at these `DATES` (YYYY-MM-DD, comma-separated)")
	every := fs.String("every", "30d", "without --at, score every this long")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	csvFile := fs.String("csv", "", "also write the figures as CSV to `FILE`")
	force := fs.Bool("progress", false, "show a progress line on stderr even when it is not a terminal")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one history file (- for stdin)")
	}
	cfg := backtest.Config{}
	var err error
	if cfg.Horizon, err = rules.ParseDuration(*horizon); err != nil || cfg.Horizon < 24*time.Hour {
		return e.usageError(c, "--horizon %q: want a duration of a day or more, such as 90d", *horizon)
	}
	if cfg.Every, err = rules.ParseDuration(*every); err != nil || cfg.Every < 24*time.Hour {
		return e.usageError(c, "--every %q: want a duration of a day or more, such as 30d", *every)
	}
	if *at != "" {
		for _, s := range strings.Split(*at, ",") {
			t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
			if err != nil {
				return e.usageError(c, "--at %q: want dates as YYYY-MM-DD", s)
			}
			cfg.At = append(cfg.At, t)
		}
	}
	for _, f := range []string{*rulesFile, *compare} {
		if f == "" && len(cfg.Models) > 0 {
			continue
		}
		set, err := configs.LoadRules(f)
		if err != nil {
			return e.fail(c, err)
		}
		name := "built-in rules"
		if f != "" {
			name = filepath.Base(f)
		}
		cfg.Models = append(cfg.Models, backtest.Model{Name: name, Rules: set})
	}
	prog := newProgress(e.stderr, *force)
	h, err := e.readHistory(pos[0], prog)
	if err != nil {
		return e.fail(c, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Progress = prog.scored
	rep, err := backtest.Run(ctx, h, cfg)
	prog.finish()
	if err != nil {
		return e.fail(c, err)
	}
	if *csvFile != "" {
		if err := writeCSVFile(*csvFile, rep); err != nil {
			return e.fail(c, err)
		}
	}
	if *asJSON {
		err = writeJSON(e.stdout, rep)
	} else {
		err = backtest.WriteText(e.stdout, rep)
	}
	if err != nil {
		return e.fail(c, err)
	}
	return exitOK
}

func writeCSVFile(name string, rep *backtest.Report) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	if err := backtest.WriteCSV(f, rep); err != nil {
		_ = f.Close()
		return fmt.Errorf("csv %s: %w", name, err)
	}
	return f.Close()
}

// readHistory reads the history file name (stdin for "-") as backtest
// and fit do, showing the bytes read on prog.
func (e *env) readHistory(name string, prog *progress) (*backtest.History, error) {
	in, total, closeIn, err := e.openInput(name)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	h, err := backtest.Read(in, func(n int64) { prog.update(n, total, false, "reading") })
	if err != nil {
		prog.finish()
		return nil, err
	}
	return h, nil
}

// scored shows how many of a history's signals are scored: the Progress
// of a backtest or a fit.
func (p *progress) scored(done, all int) {
	p.update(int64(done), int64(all), done == all, "%s of %s signals scored",
		alerting.Thousands(float64(done)), alerting.Thousands(float64(all)))
}
