package daemon_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

// Two riskd pointed at the same NATS with nothing but --nats-url and
// --instance form a group: the default 16 partitions split between them,
// each answers for every customer over HTTP (forwarding to the other),
// and a profile stored through one is read back through the other.
func TestTwoRiskdOnOneNATSFormAGroup(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	var rs []*running
	for _, name := range []string{"riskd-a", "riskd-b"} {
		c := testConfig(t, t.TempDir())
		c.NATSURL, c.Instance = s.ClientURL(), name
		rs = append(rs, start(t, c, io.Discard))
	}
	defer func() {
		for _, r := range rs {
			r.shutdown(t)
		}
	}()
	a, b := rs[0], rs[1]
	require.Eventually(t, func() bool {
		return len(a.d.Node.Owned()) == 8 && len(b.d.Node.Owned()) == 8
	}, 30*time.Second, 20*time.Millisecond, "16 partitions split between the two")

	nc := natstest.Connect(t, s.ClientURL())
	// Customers in the partitions of each.
	var ofA, ofB string
	for i := 0; ofA == "" || ofB == ""; i++ {
		id := fmt.Sprintf("cust-%d", i)
		switch p := cluster.PartitionOf(id, 16); {
		case a.d.Node.Engine(p) != nil && ofA == "":
			ofA = id
		case b.d.Node.Engine(p) != nil && ofB == "":
			ofB = id
		}
	}
	for _, id := range []string{ofA, ofB} {
		body := fmt.Sprintf(`{"id":"t-%s","kind":"ticket","customer":%q,"time":%q,"data":{"ticket_id":"1","status":"opened","priority":"urgent"}}`,
			id, id, time.Now().UTC().Add(-time.Hour).Format(time.RFC3339))
		require.NoError(t, nc.Publish("risk.signals.ticket."+id, []byte(body)))
	}
	require.NoError(t, nc.Flush())
	for _, r := range rs {
		for _, id := range []string{ofA, ofB} {
			require.Eventually(t, func() bool { return status(r.http, "/v1/customers/"+id) == http.StatusOK },
				20*time.Second, 20*time.Millisecond, "%s answers for %s", r.http, id)
		}
	}
	// A profile stored through b, for a customer of a, is read through a.
	req, err := http.NewRequest(http.MethodPut, "http://"+b.http+"/v1/customers/"+ofA,
		strings.NewReader(`{"arr":12000,"owner":"alice"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	v := getCustomer(t, a.http, ofA)
	assert.Equal(t, "alice", v["owner"])
	// The list gathers both halves of the book.
	require.Eventually(t, func() bool {
		list := getJSON(t, a.http, "/v1/customers?limit=10")
		cs, _ := list["customers"].([]any)
		return len(cs) == 2
	}, 10*time.Second, 20*time.Millisecond, "the list holds both customers")
}

func getJSON(t *testing.T, addr, path string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

func status(addr, path string) int {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
