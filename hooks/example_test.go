package hooks_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/riskwatch/riskwatch/hooks"
)

// A Stripe delivery: verify the Stripe-Signature header, then map the
// event to a signal.
func Example() {
	secret := []byte("whsec_example")
	body := []byte(`{"id":"evt_1","type":"invoice.payment_failed","created":1795168800,
	  "data":{"object":{"object":"invoice","customer":"cus_1","metadata":{"riskwatch_customer":"acme-corp"}}}}`)
	now := time.Unix(1795168830, 0)
	h := http.Header{}
	h.Set("Stripe-Signature", hooks.SignTimestamped(secret, now, body))

	src, err := hooks.New(hooks.Options{Type: hooks.TypeStripe})
	if err != nil {
		panic(err)
	}
	req := hooks.Request{Header: h, Body: body}
	if err := src.Verify(req, secret, now); err != nil {
		fmt.Println("refused:", err)
		return
	}
	sig, err := src.Map(req, now)
	if err != nil {
		fmt.Println("not mapped:", err)
		return
	}
	fmt.Println(sig.ID, sig.Kind, sig.Customer, sig.Billing.Type)
	// Output: stripe:evt_1 billing acme-corp payment_failed
}

// Riskwatch signs its outbound webhooks the way Stripe does; a receiver
// checks them with VerifyTimestamped.
func ExampleVerifyTimestamped() {
	secret := []byte("s3cret")
	body := []byte(`{"id":"a1","type":"raised"}`)
	now := time.Unix(1795168800, 0)
	header := hooks.SignTimestamped(secret, now, body) // X-Riskwatch-Signature
	fmt.Println(header)
	fmt.Println(hooks.VerifyTimestamped(header, body, secret, now.Add(time.Minute), 5*time.Minute))
	// Output:
	// t=1795168800,v1=4fb30ae3baf1c1cbcd31c7ffc22801eb15e6b3f1b9b82bb8ca1e59dfcb5ba1a7
	// <nil>
}
