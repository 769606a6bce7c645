package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/riskwatch/riskwatch/internal/sim"
)

var demoCmd = &command{
	name:    "demo",
	args:    "[--customers N] [--days N] [--seed N] [--end DATE] [-o FILE]",
	summary: "write a simulated customer base's history, outcomes included, as NDJSON",
	help: `Writes the history of a simulated customer base (the one of 'riskd --demo')
as the NDJSON of 'riskctl replay', 'backtest' and 'send': the profiles,
then every day's signals in time order. Unlike the live demo it spans
--days, spreads the customers' drifts toward churn over the whole span,
and records outcomes: most drifting customers churn three to nine weeks
after their drift began (an outcome signal {"type": "churned"}), the others
renew; a few customers fade out with no sign but their usage. The same
seed gives the same history, so it is a fixture to try backtests and
rule changes on before your own history is at hand.`,
	example: `riskctl demo --customers 2000 --days 365 -o history.ndjson
riskctl backtest history.ndjson`,
	run: runDemo,
}

func runDemo(e *env, c *command, args []string) int {
	fs := e.flags(c)
	customers := fs.Int("customers", 1000, "customers to simulate")
	days := fs.Int("days", 365, "days of history")
	seed := fs.Uint64("seed", 1, "simulation seed")
	end := fs.String("end", "", "last day of the history, YYYY-MM-DD (default: today)")
	out := fs.String("o", "", "write to `FILE` instead of stdout")
	_, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	switch {
	case *customers < 1 || *customers > 1_000_000:
		return e.usageError(c, "--customers %d: want 1 to 1000000", *customers)
	case *days < 60 || *days > 3650:
		return e.usageError(c, "--days %d: want 60 to 3650 (six weeks of baseline, then drifts and outcomes)", *days)
	}
	last := e.now().UTC().Truncate(24 * time.Hour)
	if *end != "" {
		t, err := time.Parse(time.DateOnly, *end)
		if err != nil {
			return e.usageError(c, "--end %q: want YYYY-MM-DD", *end)
		}
		last = t
	}
	w := bufio.NewWriterSize(e.stdout, 1<<16)
	var f *os.File
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			return e.fail(c, fmt.Errorf("create %s: %w", *out, err))
		}
		w = bufio.NewWriterSize(f, 1<<16)
	}
	err := sim.NewHistory(*customers, *days, last, *seed).WriteHistory(w)
	if err == nil {
		err = w.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return e.fail(c, err)
	}
	return exitOK
}
