package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/engine"
)

// engineRun is the real engine, configured exactly as riskd configures it
// with no config file, running in this process.
type engineRun struct {
	eng     *engine.Engine
	reg     *prometheus.Registry
	logs    *observer.ObservedLogs
	cancel  context.CancelFunc
	done    chan error
	started time.Time
}

type engineOpts struct {
	// scored is called for every signal scored, on the engine's goroutine.
	scored func(customer, id string)
	// sweepInterval overrides riskd's default when not zero.
	sweepInterval time.Duration
}

// riskdConfig is riskd's engine configuration with no flags or file: the
// same loader, rules and policy as the daemon.
func riskdConfig(log *zap.Logger, reg prometheus.Registerer) (engine.Config, error) {
	c := config.Defaults()
	set, err := configs.LoadRules(c.Rules)
	if err != nil {
		return engine.Config{}, fmt.Errorf("rules: %w", err)
	}
	policy, err := c.Policy()
	if err != nil {
		return engine.Config{}, fmt.Errorf("alert policy: %w", err)
	}
	return engine.Config{Rules: set, Policy: policy, CheckpointInterval: c.CheckpointInterval,
		SignalsMaxAge: c.SignalsMaxAge, Replicas: c.Replicas, Log: log, Registry: reg}, nil
}

func startEngine(nc *nats.Conn, o engineOpts) (*engineRun, error) {
	core, logs := observer.New(zap.DebugLevel)
	reg := prometheus.NewRegistry()
	cfg, err := riskdConfig(zap.New(core), reg)
	if err != nil {
		return nil, err
	}
	cfg.Scored = o.scored
	if o.sweepInterval > 0 {
		cfg.SweepInterval = o.sweepInterval
	}
	eng, err := engine.New(nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &engineRun{eng: eng, reg: reg, logs: logs, cancel: cancel, done: make(chan error, 1), started: time.Now()}
	go func() { r.done <- eng.Run(ctx) }()
	return r, nil
}

// waitReady polls Ready, the condition /readyz reports.
func (r *engineRun) waitReady(ctx context.Context) (time.Duration, error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if r.eng.Ready() == nil {
			return time.Since(r.started), nil
		}
		select {
		case err := <-r.done:
			return 0, fmt.Errorf("engine stopped before it was ready: %v", err)
		case <-ctx.Done():
			return 0, fmt.Errorf("engine not ready: %w (%v)", ctx.Err(), r.eng.Ready())
		case <-tick.C:
		}
	}
}

// stop shuts the engine down (finishing with a checkpoint) and returns how
// long that took.
func (r *engineRun) stop() (time.Duration, error) {
	start := time.Now()
	r.cancel()
	if err := <-r.done; err != nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	return time.Since(start), nil
}

// logged returns the durations logged as "took" with msg.
func (r *engineRun) logged(msg string) []time.Duration {
	var out []time.Duration
	for _, e := range r.logs.FilterMessage(msg).All() {
		for _, f := range e.Context {
			if f.Key == "took" && f.Type == zapcore.DurationType {
				out = append(out, time.Duration(f.Integer))
			}
		}
	}
	return out
}

// counter sums a metric family (counters and histogram counts) over the
// label sets that match want.
func (r *engineRun) counter(name string, want map[string]string) (count, sum float64) {
	mfs, err := r.reg.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				count += m.GetCounter().GetValue()
			case m.Histogram != nil:
				count += float64(m.GetHistogram().GetSampleCount())
				sum += m.GetHistogram().GetSampleSum()
			case m.Gauge != nil:
				count += m.GetGauge().GetValue()
			}
		}
	}
	return count, sum
}
