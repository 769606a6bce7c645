package engine

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskwatch/riskwatch/api"
)

// Limits bound what riskd keeps (docs/security.md). A zero field is no
// bound, except DLQMaxAge (30 days); riskd's configuration gives every
// one a default.
type Limits struct {
	SignalsMaxBytes int64
	AlertsMaxAge    time.Duration
	AlertsMaxBytes  int64
	DLQMaxAge       time.Duration
	DLQMaxBytes     int64
	StateMaxBytes   int64
	// MaxCustomers is book.Config.MaxCustomers.
	MaxCustomers int
}

// applyLimits sets the limits on the streams' configs. RISK_STATE refuses
// new checkpoints when full (DiscardNew) rather than drop the oldest,
// which the latest checkpoint may stand on; the other streams drop their
// oldest messages. The profiles bucket has no cap of its own: a full
// bucket refuses writes, which would stop checkpoints; MaxCustomers bounds
// the profiles instead.
func (l Limits) applyLimits(streams []jetstream.StreamConfig) {
	for i := range streams {
		sc := &streams[i]
		switch sc.Name {
		case api.SignalsStream, api.PartitionsStream:
			// A group's partitioned copy holds what RISK_SIGNALS holds.
			sc.MaxBytes = orNoLimit(l.SignalsMaxBytes)
		case api.AlertsStream:
			sc.MaxAge, sc.MaxBytes = l.AlertsMaxAge, orNoLimit(l.AlertsMaxBytes)
		case api.DLQStream:
			if l.DLQMaxAge > 0 {
				sc.MaxAge = l.DLQMaxAge
			}
			sc.MaxBytes = orNoLimit(l.DLQMaxBytes)
		case api.StateStream:
			sc.MaxBytes = orNoLimit(l.StateMaxBytes)
			if l.StateMaxBytes > 0 {
				sc.Discard = jetstream.DiscardNew
			}
		}
	}
}

func orNoLimit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// streamUsage reports, at each scrape, how full every stream is:
// riskwatch_stream_bytes against riskwatch_stream_max_bytes (-1 for no
// cap), riskwatch_stream_messages, and the customers held against
// riskwatch_customers_max.
type streamUsage struct {
	js                          jetstream.JetStream
	maxCustomers                int
	bytes, maxBytes, msgs, cmax *prometheus.Desc
}

func newStreamUsage(js jetstream.JetStream, maxCustomers int) *streamUsage {
	l := []string{"stream"}
	return &streamUsage{js: js, maxCustomers: maxCustomers,
		bytes:    prometheus.NewDesc("riskwatch_stream_bytes", "Bytes held by a Riskwatch stream.", l, nil),
		maxBytes: prometheus.NewDesc("riskwatch_stream_max_bytes", "A Riskwatch stream's cap in bytes (-1: none).", l, nil),
		msgs:     prometheus.NewDesc("riskwatch_stream_messages", "Messages held by a Riskwatch stream.", l, nil),
		cmax:     prometheus.NewDesc("riskwatch_customers_max", "Customers riskd keeps at most (max_customers; 0: no cap); new ones beyond it go to the DLQ with reason capacity.", nil, nil),
	}
}

// usageStreams are the streams reported; the profiles bucket is the
// stream KV_<bucket>.
var usageStreams = []string{api.SignalsStream, api.AlertsStream, api.DLQStream, api.StateStream, "KV_" + api.ProfilesBucket}

func (u *streamUsage) Describe(ch chan<- *prometheus.Desc) {
	ch <- u.bytes
	ch <- u.maxBytes
	ch <- u.msgs
	ch <- u.cmax
}

func (u *streamUsage) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(u.cmax, prometheus.GaugeValue, float64(u.maxCustomers))
	// A scrape must not hang on NATS: a stream that does not answer in
	// time is left out of this scrape.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range usageStreams {
		s, err := u.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		info := s.CachedInfo()
		ch <- prometheus.MustNewConstMetric(u.bytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
		ch <- prometheus.MustNewConstMetric(u.maxBytes, prometheus.GaugeValue, float64(info.Config.MaxBytes), name)
		ch <- prometheus.MustNewConstMetric(u.msgs, prometheus.GaugeValue, float64(info.State.Msgs), name)
	}
}
