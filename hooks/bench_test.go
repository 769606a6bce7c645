package hooks

import (
	"net/http"
	"testing"
)

// BenchmarkVerifyAndMap is one request's pure work per source type.
func BenchmarkVerifyAndMap(b *testing.B) {
	fixtures := map[string]string{TypeSegment: "segment_track.json", TypeZendesk: "zendesk_created.json",
		TypeStripe: "stripe_subscription_updated.json", TypeTypeform: "typeform_nps.json",
		TypeDelighted: "delighted_response.json", TypeGeneric: "generic_ticket.json"}
	for _, typ := range Types {
		b.Run(typ, func(b *testing.B) {
			s := source(b, typeOpts[typ])
			body := fixture(b, fixtures[typ])
			r := Request{Header: sign(typ, secret, body, now), Body: body}
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := s.Verify(r, secret, now); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Map(r, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("generic-cel", func(b *testing.B) {
		s := source(b, Options{Type: TypeGeneric, Mapping: celTicket})
		body := fixture(b, "generic_ticket.json")
		r := Request{Header: http.Header{}, Body: body}
		for b.Loop() {
			if _, err := s.Map(r, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
