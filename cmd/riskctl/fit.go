package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/fit"
	"github.com/riskwatch/riskwatch/rules"
)

var fitCmd = &command{
	name:    "fit",
	args:    "[--rules FILE] --out FITTED.yaml [--split-at DATE | --holdout 0.3] [--horizon 90d] [--every 7d] [--force] HISTORY.ndjson",
	summary: "learn rule weights, tiers and a churn probability from a history with outcomes",
	help: `Learns the weights of the rules (--rules, default the built-in set), their
tier cut points and a calibrated churn probability from a history with
outcomes, validates them on a later period than it learned from, and
writes them as a rule file that riskd --rules and riskctl rules test
accept.

HISTORY is what 'riskctl backtest' reads. Every customer is scored at a
date every --every (as a backtest does, with only what was known then);
each rule's activation there (1 while it fires, fading with its
half-life) and whether the customer churned within --horizon make one
observation.

The dates are split in time: validation starts at --split-at, or covers
the latest --holdout share of the dates. A date is fitted on only if its
horizon ends by the split, so no label of the fitting period reaches into
the validation period.

On the fitting period: an L2-regularised logistic regression of churn on
the activations, each coefficient shrunk toward the input rule's weight
(the penalty chosen on the fitting period alone); weights are the
coefficients times a scale that puts the 99th percentile of the scores at
100 (a rule that adds nothing is dropped; one that lowers churn gets a
negative weight); a Platt calibration of the raw score (p(churn within the
horizon)); tiers flagging at most 15%, 7% and 2% of the customers (watch+,
at_risk+, critical), and none whose churn rate is below 1.5, 3 and 6 times
the average.

The file keeps each rule's condition, detail, playbook and the input's
comments; only weights (and segment and stage weights, in proportion),
tiers and the calibration change. Its header gives the data, the periods
and the validation figures of the input beside the fitted rules: AUC,
recall, precision and false alert rate at at_risk+, Brier score and
calibration error. A fitted set that validates worse (a lower AUC) than its
input is not written, unless --force.`,
	example: `riskctl demo --customers 1000 --days 365 -o history.ndjson
riskctl fit --out fitted.yaml history.ndjson
riskctl fit --rules mine.yaml --split-at 2026-09-01 --out fitted.yaml history.ndjson
riskctl backtest --rules fitted.yaml --compare configs/rules.yaml history.ndjson`,
	run: runFit,
}

func runFit(e *env, c *command, args []string) int {
	fs := e.flags(c)
	rulesFile := fs.String("rules", "", "input rule `FILE` (default: the built-in rules)")
	out := fs.String("out", "", "write the fitted rules to `FILE` (required)")
	splitAt := fs.String("split-at", "", "validate from this `DATE` (YYYY-MM-DD) on")
	holdout := fs.Float64("holdout", 0, "without --split-at, validate on the latest share of the dates (default 0.3)")
	horizon := fs.String("horizon", "90d", "how long after a date a churn counts for it")
	every := fs.String("every", "7d", "observe every customer every this long")
	force := fs.Bool("force", false, "write the fitted rules even if they validate worse than the input")
	showProgress := fs.Bool("progress", false, "show a progress line on stderr even when it is not a terminal")
	pos, code, ok := e.parse(fs, c, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return e.usageError(c, "name one history file (- for stdin)")
	}
	if *out == "" {
		return e.usageError(c, "--out is required")
	}
	cfg := fit.Config{Holdout: *holdout}
	var err error
	if cfg.Horizon, err = rules.ParseDuration(*horizon); err != nil || cfg.Horizon < 24*time.Hour {
		return e.usageError(c, "--horizon %q: want a duration of a day or more, such as 90d", *horizon)
	}
	if cfg.Every, err = rules.ParseDuration(*every); err != nil || cfg.Every < 24*time.Hour {
		return e.usageError(c, "--every %q: want a duration of a day or more, such as 7d", *every)
	}
	switch {
	case *splitAt != "" && *holdout != 0:
		return e.usageError(c, "give --split-at or --holdout, not both")
	case *splitAt != "":
		if cfg.SplitAt, err = time.Parse(time.DateOnly, *splitAt); err != nil {
			return e.usageError(c, "--split-at %q: want a date as YYYY-MM-DD", *splitAt)
		}
	case *holdout < 0 || *holdout >= 1:
		return e.usageError(c, "--holdout %v: want a share between 0 and 1, such as 0.3", *holdout)
	}
	src, name := configs.DefaultRules, "configs/rules.yaml (built in)"
	if *rulesFile != "" {
		if src, err = os.ReadFile(*rulesFile); err != nil {
			return e.fail(c, fmt.Errorf("loading rules: %w", err))
		}
		name = *rulesFile
	}
	input, err := rules.Parse(name, src)
	if err != nil {
		return e.fail(c, err)
	}
	prog := newProgress(e.stderr, *showProgress)
	h, err := e.readHistory(pos[0], prog)
	if err != nil {
		return e.fail(c, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Progress = prog.scored
	r, err := fit.Fit(ctx, h, input, src, cfg)
	prog.finish()
	if err != nil {
		return e.fail(c, err)
	}
	fmt.Fprintf(e.stdout, "fitted on %s to %s, validated on %s to %s (%d observations, %d churned)\n",
		r.Fit.From.Format(time.DateOnly), r.Fit.To.Format(time.DateOnly),
		r.Validation.From.Format(time.DateOnly), r.Validation.To.Format(time.DateOnly),
		r.Validation.Observations, r.Validation.Churned)
	fmt.Fprintf(e.stdout, "AUC %.3f (input %.3f); at_risk+ recall %.3f (%.3f), false alert rate %.3f (%.3f); Brier %.4f (%.4f)\n",
		r.FittedFigures.AUC, r.InputFigures.AUC, r.FittedFigures.Recall, r.InputFigures.Recall,
		r.FittedFigures.FalseAlertRate, r.InputFigures.FalseAlertRate, r.FittedFigures.Brier, r.InputFigures.Brier)
	if r.Worse() && !*force {
		return e.fail(c, fmt.Errorf("the fitted rules validate worse than the input (AUC %.3f < %.3f): not written; --force writes them anyway",
			r.FittedFigures.AUC, r.InputFigures.AUC))
	}
	histName := pos[0]
	if histName != "-" {
		histName = filepath.Base(histName)
	}
	if err := os.WriteFile(*out, r.File(histName), 0o644); err != nil {
		return e.fail(c, fmt.Errorf("writing the fitted rules: %w", err))
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return exitOK
}
