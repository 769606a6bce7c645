package api

import (
	"net/http"
	"time"

	"github.com/riskwatch/riskwatch/churn"
)

// EndpointChurn is the micro-service endpoint of churn analytics; over
// HTTP it is GET /v1/churn.
const EndpointChurn = "churn"

// ChurnRequest asks for churn analytics over riskd's customers: By is
// "month" (the default) or "quarter"; From and To (YYYY-MM-DD, optional)
// bound the periods.
type ChurnRequest struct {
	By   string `json:"by,omitempty"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// ChurnReport is the answer: per period, the "all" row and one per segment
// and stage (docs/api.md, package churn for the definitions).
type ChurnReport = churn.Report

// Config checks the request and turns it into the report's settings; a
// bad request is a 400.
func (r ChurnRequest) Config() (churn.Config, error) {
	by, err := churn.ParseBy(r.By)
	if err != nil {
		return churn.Config{}, Errorf(http.StatusBadRequest, "by %q: want month or quarter", r.By)
	}
	cfg := churn.Config{By: by}
	for _, d := range []struct {
		name, v string
		t       *time.Time
	}{{"from", r.From, &cfg.From}, {"to", r.To, &cfg.To}} {
		if d.v == "" {
			continue
		}
		if *d.t, err = time.Parse(time.DateOnly, d.v); err != nil {
			return churn.Config{}, Errorf(http.StatusBadRequest, "%s %q: want a date as YYYY-MM-DD", d.name, d.v)
		}
	}
	if !cfg.From.IsZero() && !cfg.To.IsZero() && cfg.To.Before(cfg.From) {
		return churn.Config{}, Errorf(http.StatusBadRequest, "to %s is before from %s", r.To, r.From)
	}
	return cfg, nil
}
