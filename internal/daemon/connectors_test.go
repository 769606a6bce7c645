package daemon_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/internal/config"
)

// TestConnectorsEndToEnd runs riskd with a Stripe hook and a Vitally
// destination: a signed Stripe event posted without the API's bearer
// token becomes the customer's signal, and the customer's score reaches
// Vitally as account traits.
func TestConnectorsEndToEnd(t *testing.T) {
	var (
		mu     sync.Mutex
		traits = map[string]map[string]any{}
	)
	vitally := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Traits map[string]any `json:"traits"`
		}
		if user, _, _ := r.BasicAuth(); r.Method != http.MethodPut || user != "vt-key" || json.NewDecoder(r.Body).Decode(&b) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		traits[r.URL.Path] = b.Traits
		mu.Unlock()
	}))
	defer vitally.Close()

	c := testConfig(t, t.TempDir())
	c.HTTPToken = "api-token"
	c.Hooks.Sources = []config.HookSource{{Name: "stripe", Secret: "whsec_e2e"}}
	c.Push = config.Push{Interval: time.Second, Destinations: []config.PushDestination{
		{Name: "vitally", URL: vitally.URL, Token: "vt-key"}}}
	r := start(t, c, io.Discard)
	defer r.shutdown(t)

	at := time.Now().Add(-time.Hour).Unix()
	body := fmt.Appendf(nil, `{"id":"evt_e2e_1","object":"event","type":"invoice.payment_failed","created":%d,
	  "data":{"object":{"object":"invoice","customer":"cus_1","metadata":{"riskwatch_customer":"acme-corp"}}}}`, at)
	req, err := http.NewRequest(http.MethodPost, "http://"+c.HTTPListen+"/hooks/stripe", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", hooks.SignTimestamped([]byte("whsec_e2e"), time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", reply)
	assert.JSONEq(t, `{"status":"accepted","id":"stripe:evt_e2e_1"}`, string(reply))

	// The API still wants its token.
	resp, err = http.Get("http://" + c.HTTPListen + "/v1/customers/acme-corp")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		tr, ok := traits["/resources/accounts/acme-corp"]
		return ok && tr["riskwatchTier"] != nil && tr["riskwatchScore"] != nil
	}, 20*time.Second, 20*time.Millisecond, "the score reached Vitally")
}
