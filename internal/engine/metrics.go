package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// metrics are the engine's Prometheus collectors, all prefixed riskwatch_
// (the outbox registers its own).
type metrics struct {
	signals          *prometheus.CounterVec
	latency          prometheus.Histogram
	lag              prometheus.Gauge
	checkpointSecs   prometheus.Histogram
	checkpointErrors prometheus.Counter
	customers        *prometheus.GaugeVec
	ruleErrors       *prometheus.CounterVec
	profiles         prometheus.Counter
	actions          *prometheus.CounterVec
	producerClock    *prometheus.GaugeVec
	producerQuiet    *prometheus.GaugeVec
	outcomes         *prometheus.CounterVec
	fates            *prometheus.CounterVec
	leadTime         prometheus.Histogram
}

// newMetrics registers the collectors with reg (a fresh registry per
// engine keeps tests independent).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_signals_total",
			Help: "Signals consumed, by kind and result (scored, duplicate, rejected, late, skipped)."}, []string{"kind", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskwatch_processing_latency_seconds",
			Help:    "Time from a signal's publish (stream timestamp) to its score.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_consumer_lag",
			Help: "Messages in RISK_SIGNALS not yet consumed."}),
		checkpointSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskwatch_checkpoint_duration_seconds",
			Help: "Time to make a checkpoint durable.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		checkpointErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_checkpoint_errors_total",
			Help: "Checkpoints that failed; messages stay unacknowledged until one succeeds."}),
		customers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskwatch_customers",
			Help: "Tracked customers by tier."}, []string{"tier"}),
		ruleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_rule_errors_total",
			Help: "Rule evaluations that failed (counted as not firing), by rule."}, []string{"rule"}),
		profiles: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_profiles_total",
			Help: "Customer profiles accepted."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_actions_total",
			Help: "Acknowledgements and snoozes applied, by kind and result."}, []string{"kind", "result"}),
		producerClock: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskwatch_producer_clock_seconds",
			Help: "Each producer's clock (Unix seconds): how far in event time its signals are known; silences of its kind are judged against it."}, []string{"kind"}),
		producerQuiet: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "riskwatch_producer_quiet",
			Help: "1 while a producer that was live has gone quiet as a whole (its customers' silences are held)."}, []string{"kind"}),
	}
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_outcomes_total",
		Help: "Outcome signals recorded, by type (renewed, churned, downgraded, expanded)."}, []string{"type"})
	m.fates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_alert_fates_total",
		Help: "Outcomes by what became of the customer's warnings, as known when the outcome was recorded " +
			"(saved, churned_after_alert, churned_without_alert, downgraded_after_alert, downgraded_without_alert, renewed_without_alert)."},
		[]string{"fate"})
	m.leadTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "riskwatch_churn_lead_time_days",
		Help:    "Days from a churned customer's first at_risk-or-worse day to its churn, for churns after an alert.",
		Buckets: []float64{1, 3, 7, 14, 30, 60, 90, 180}})
	for _, t := range scorer.OutcomeTypes {
		m.outcomes.WithLabelValues(t.String())
	}
	for _, f := range scorer.Fates {
		if f != scorer.FateOpen {
			m.fates.WithLabelValues(string(f))
		}
	}
	reg.MustRegister(m.signals, m.latency, m.lag, m.checkpointSecs, m.checkpointErrors,
		m.customers, m.ruleErrors, m.profiles, m.actions, m.producerClock, m.producerQuiet,
		m.outcomes, m.fates, m.leadTime)
	return m
}

func tierName(t int) string { return rules.Tier(t).String() }

// Registry is where the engine's metrics are registered.
func (e *Engine) Registry() prometheus.Registerer { return e.cfg.Registry }

// countOutcome records an outcome signal just recorded, with its fate as
// known then.
func (m *metrics) countOutcome(o *scorer.Outcome) {
	m.outcomes.WithLabelValues(o.Type.String()).Inc()
	fate := o.Fate()
	m.fates.WithLabelValues(string(fate)).Inc()
	if fate == scorer.FateChurnedAfterAlert {
		m.leadTime.Observe(o.LeadTime().Hours() / 24)
	}
}
