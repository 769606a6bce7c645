package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus collectors, all prefixed riskwatch_.
type Metrics struct {
	Signals          *prometheus.CounterVec
	DLQ              *prometheus.CounterVec
	Latency          prometheus.Histogram
	Lag              prometheus.Gauge
	CheckpointSecs   prometheus.Histogram
	CheckpointErrors prometheus.Counter
	Customers        *prometheus.GaugeVec
	Alerts           *prometheus.CounterVec
	Webhooks         *prometheus.CounterVec
	RuleErrors       *prometheus.CounterVec
	Profiles         prometheus.Counter
	Actions          *prometheus.CounterVec
	Dropped          *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg (a fresh registry per
// engine keeps tests independent).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Signals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_signals_total",
			Help: "Signals consumed, by kind and result (scored, duplicate, rejected, late, skipped)."}, []string{"kind", "result"}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_dlq_total",
			Help: "Messages sent to RISK_DLQ, by reason."}, []string{"reason"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskwatch_processing_latency_seconds",
			Help:    "Time from a signal's publish (stream timestamp) to its score.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_consumer_lag",
			Help: "Messages in RISK_SIGNALS not yet consumed."}),
		CheckpointSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskwatch_checkpoint_duration_seconds",
			Help: "Time to make a checkpoint durable.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		CheckpointErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_checkpoint_errors_total",
			Help: "Checkpoints that failed; messages stay unacknowledged until one succeeds."}),
		Customers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskwatch_customers",
			Help: "Tracked customers by tier."}, []string{"tier"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_alerts_total",
			Help: "Alerts published, by type and severity."}, []string{"type", "severity"}),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_webhook_deliveries_total",
			Help: "Webhook deliveries by sink and result."}, []string{"sink", "result"}),
		RuleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_rule_errors_total",
			Help: "Rule evaluations that failed (counted as not firing), by rule."}, []string{"rule"}),
		Profiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_profiles_total",
			Help: "Customer profiles accepted."}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_actions_total",
			Help: "Acknowledgements and snoozes applied, by kind and result."}, []string{"kind", "result"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_publish_dropped_total",
			Help: "Alerts and digests not published because they exceed the NATS max payload, by kind."}, []string{"kind"}),
	}
	reg.MustRegister(m.Signals, m.DLQ, m.Latency, m.Lag, m.CheckpointSecs, m.CheckpointErrors,
		m.Customers, m.Alerts, m.Webhooks, m.RuleErrors, m.Profiles, m.Actions, m.Dropped)
	return m
}
