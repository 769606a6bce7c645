package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/internal/config"
)

// TestDeliverSigns: a sink with a secret gets X-Riskwatch-Signature, which
// the receiver verifies over the exact body; a sink without one does not.
func TestDeliverSigns(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 5, 0, 0, time.UTC)
	var got []http.Header
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
	}))
	defer srv.Close()
	d := &Deliverer{Now: func() time.Time { return at }}
	require.NoError(t, d.Deliver(context.Background(), config.Webhook{Name: "signed", URL: srv.URL, Secret: "s3cret"}, testAlert("id-s", "alice"), nil))
	require.NoError(t, d.Deliver(context.Background(), config.Webhook{Name: "plain", URL: srv.URL}, testAlert("id-p", "alice"), nil))
	require.Len(t, got, 2)

	sig := got[0].Get(HeaderSignature)
	require.NotEmpty(t, sig)
	assert.NoError(t, hooks.VerifyTimestamped(sig, bodies[0], []byte("s3cret"), at.Add(time.Minute), 5*time.Minute))
	assert.ErrorIs(t, hooks.VerifyTimestamped(sig, bodies[0], []byte("wrong"), at, 5*time.Minute), hooks.ErrSignature)
	assert.ErrorIs(t, hooks.VerifyTimestamped(sig, append(bodies[0], ' '), []byte("s3cret"), at, 5*time.Minute), hooks.ErrSignature)
	assert.Empty(t, got[1].Get(HeaderSignature))
}
