package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics are the group's, seen from one riskd.
type metrics struct {
	members  prometheus.Gauge
	owned    prometheus.Gauge
	acquired prometheus.Counter
	released prometheus.Counter
	lost     prometheus.Counter
	forwards *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, partitions int) *metrics {
	m := &metrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_cluster_members",
			Help: "Live riskd in the group, as this one last read them."}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_partitions_owned",
			Help: "Partitions this riskd holds the lease of and applies."}),
		acquired: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_partition_acquisitions_total",
			Help: "Partitions this riskd took: at start, on a failover, on a rebalance."}),
		released: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_partition_releases_total",
			Help: "Partitions this riskd let go (handed over, lost or failed)."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "riskwatch_partition_leases_lost_total",
			Help: "Leases this riskd lost without handing over: renewals failed past the margin, or another riskd held it."}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "riskwatch_forwarded_requests_total",
			Help: "Queries and commands forwarded to the owner of a partition, by operation and result."}, []string{"op", "result"}),
	}
	partitionsGauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_partitions",
		Help: "Partitions of the group (fixed when it was created)."})
	partitionsGauge.Set(float64(partitions))
	reg.MustRegister(m.members, m.owned, m.acquired, m.released, m.lost, m.forwards, partitionsGauge)
	return m
}
