package pusher

import (
	"context"
	"fmt"
	"testing"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/rules"
)

// BenchmarkFirstRound10k is the first push of 10,000 customers to HubSpot
// (100 batch requests) against an httptest server, rate limit lifted:
// riskd's own cost, state writes to the KV bucket included.
func BenchmarkFirstRound10k(b *testing.B) {
	s := &scores{views: map[string]api.CustomerView{}}
	for i := range 10_000 {
		s.set(fmt.Sprintf("cust-%05d", i), float64(i%100), rules.Watch)
	}
	_, srv := startVendor(b, "hubspot")
	for b.Loop() {
		d := destination("hubspot", srv.URL)
		d.Rate, d.Burst = 1e6, 1000
		w := testWorker(b, d, s, bucket(b))
		n, err := w.round(context.Background())
		if err != nil || n != 10_000 {
			b.Fatalf("pushed %d: %v", n, err)
		}
	}
}
