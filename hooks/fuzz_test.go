package hooks

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskwatch/riskwatch/signals"
)

// FuzzMap feeds every source's mapper arbitrary bodies: it must not
// panic, must answer a signal that survives the wire contract, ErrIgnored
// or a *signals.Error.
func FuzzMap(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for i, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte(`{"type":"track","messageId":"m","context":{"groupId":7}}`))
	sources := make([]Source, len(Types))
	for i, typ := range Types {
		sources[i] = source(f, typeOpts[typ])
	}
	sources = append(sources, source(f, Options{Type: TypeGeneric, Mapping: celTicket}))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		s := sources[int(which)%len(sources)]
		sig, err := s.Map(Request{Header: http.Header{}, Body: body}, now)
		if err != nil {
			var se *signals.Error
			if !errors.Is(err, ErrIgnored) && !errors.As(err, &se) {
				t.Fatalf("error %T %v is neither ErrIgnored nor *signals.Error", err, err)
			}
			return
		}
		env, err := Encode(sig)
		if err != nil {
			t.Fatalf("mapped signal does not encode: %v", err)
		}
		if _, err := signals.Decode(signals.Subject(sig.Kind, sig.Customer), env, now); err != nil {
			t.Fatalf("mapped signal fails the contract: %v\n%s", err, env)
		}
	})
}

// FuzzVerify feeds every source's signature check arbitrary headers: no
// panic, and only ErrSignature or ErrStale as refusals.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"evt_1"}`)
	for i, typ := range Types {
		for k, v := range sign(typ, secret, body, now) {
			f.Add(uint8(i), k, v[0], body)
		}
	}
	sources := make([]Source, len(Types))
	for i, typ := range Types {
		sources[i] = source(f, typeOpts[typ])
	}
	f.Fuzz(func(t *testing.T, which uint8, key, value string, body []byte) {
		s := sources[int(which)%len(sources)]
		h := http.Header{}
		h.Set(key, value)
		// Zendesk needs both of its headers: give the other one a valid
		// time so the fuzzer reaches the signature parser.
		h.Set(zendeskTSHeader, now.Format("2006-01-02T15:04:05Z"))
		h.Set(key, value)
		err := s.Verify(Request{Header: h, Body: body}, secret, now)
		if err != nil && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrStale) {
			t.Fatalf("error %v is neither ErrSignature nor ErrStale", err)
		}
	})
}

// FuzzParseTimestamped: the Stripe-style header parser never panics and
// returns a time and at least one 32-byte signature when it succeeds.
func FuzzParseTimestamped(f *testing.F) {
	f.Add(SignTimestamped(secret, now, []byte("{}")))
	f.Add("t=1,v1=zz,v0=00")
	f.Fuzz(func(t *testing.T, h string) {
		ts, sigs, err := ParseTimestamped(h)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("error %v is not ErrSignature", err)
			}
			return
		}
		if ts == "" || len(sigs) == 0 {
			t.Fatalf("parsed %q into t=%q and %d signatures", h, ts, len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes", len(s))
			}
		}
	})
}
