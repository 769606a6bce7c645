// Package demo is riskd's built-in simulator: a varied customer base whose
// signals go through NATS like a real producer's, some customers drifting
// toward churn the ways the seeds describe, in accelerated simulated time,
// and a printer for the alerts that come back.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/sim"
	"github.com/riskwatch/riskwatch/signals"
)

// Options tune the demo.
type Options struct {
	Customers int     // default 300
	Days      int     // simulated days; default 90, ending now
	Speed     float64 // 1: one simulated day every 2 s after the backfill
	Seed      uint64
	Out       io.Writer // alerts are printed here
	HTTP      string    // shown in the banner
	Dashboard string    // the dashboard's URL, shown in the banner when set
	NATS      string
}

// Run publishes the simulated customer base and prints alerts until ctx is
// done or the simulation ends (the printer keeps going until ctx is done).
func Run(ctx context.Context, nc *nats.Conn, o Options, log *zap.Logger) error {
	if o.Customers <= 0 {
		o.Customers = 300
	}
	if o.Days <= 0 {
		o.Days = 90
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	sub, err := nc.Subscribe("risk.alerts.>", func(m *nats.Msg) {
		var a alerting.Alert
		if err := json.Unmarshal(m.Data, &a); err == nil {
			fmt.Fprint(o.Out, alerting.Text(&a))
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to alerts: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	end := time.Now().UTC().Truncate(time.Hour)
	base := sim.New(o.Customers, o.Days, end, o.Seed)
	dash := ""
	if o.Dashboard != "" {
		dash = fmt.Sprintf("  Dashboard  %s   (open it in a browser: the book at risk, alerts live)\n", o.Dashboard)
	}
	fmt.Fprintf(o.Out, banner, o.Customers, o.Days, dash, o.NATS, o.HTTP, o.HTTP)
	for _, p := range base.Profiles() {
		body, _ := json.Marshal(p)
		if _, err := js.PublishAsync(signals.CustomerPrefix+signals.SubjectToken(p.ID), body); err != nil {
			return fmt.Errorf("publish profile: %w", err)
		}
	}
	// The first five weeks are history (the customers' baselines): sent in a
	// burst, like a backfill. Then a simulated day every 2s/speed.
	quiet := 35
	for d := 0; d < o.Days; d++ {
		if ctx.Err() != nil {
			return nil
		}
		for _, s := range base.Day(d) {
			body, _ := json.Marshal(s)
			if _, err := js.PublishAsync(signals.Subject(signals.Kind(s.Kind), s.Customer), body,
				jetstream.WithMsgID(s.ID)); err != nil {
				return fmt.Errorf("publish signal: %w", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return nil
		}
		if d == quiet {
			fmt.Fprintf(o.Out, "\n── history loaded; now %d simulated days at %.0fx ──\n\n", o.Days-quiet, o.Speed)
		}
		if d >= quiet {
			t := time.NewTimer(time.Duration(float64(2*time.Second) / o.Speed))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
	log.Info("demo simulation finished; riskd keeps running", zap.Int("customers", o.Customers))
	fmt.Fprint(o.Out, "\n── simulation finished: riskd keeps serving; Ctrl-C to stop ──\n")
	<-ctx.Done()
	return nil
}

const banner = `
Riskwatch demo: %d simulated customers, %d days of signals ending today.
%s  NATS  %s   (try: nats sub 'risk.alerts.>')
  HTTP  http://%s/v1/customers?tier=risk   (and /v1/customers/{id}, /metrics)
  Also: curl http://%s/v1/customers?sort=revenue_at_risk
Alerts appear below as the customers drift. Ctrl-C stops cleanly.

`
