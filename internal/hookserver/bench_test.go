package hookserver

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkStripeHook is a signed Stripe delivery end to end: HTTP,
// verification, mapping, a JetStream publish acknowledged on a stream.
// Each iteration is a new event.
func BenchmarkStripeHook(b *testing.B) {
	e := setup(b, true)
	tmpl := string(fixture(b, "stripe_invoice_payment_failed.json"))
	i := 0
	for b.Loop() {
		i++
		body := []byte(strings.Replace(tmpl, "evt_1NG8Du2eZvKYlo2CUI79vXWy", fmt.Sprintf("evt_bench_%d", i), 1))
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+Prefix+"fast", bytes.NewReader(body))
		sign("stripe", req, body, now)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
