package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/chaos"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/signals"
)

// fence records, for every partition, the epoch of the last owner seen
// applying a message. An owner applying after a newer one did means two
// owners applied the partition's customers at once: the fencing failed.
type fence struct {
	mu         sync.Mutex
	epoch      map[int]uint64
	applied    map[int]int
	violations []string
}

func newFence() *fence { return &fence{epoch: map[int]uint64{}, applied: map[int]int{}} }

func (f *fence) inspect(p engine.Partition, subject string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last := f.epoch[p.Index]; p.Epoch < last {
		f.violations = append(f.violations, fmt.Sprintf("partition %d: epoch %d applied %s after epoch %d", p.Index, p.Epoch, subject, last))
		return
	}
	f.epoch[p.Index] = p.Epoch
	f.applied[p.Index]++
}

// member is one riskd of a test group, in process.
type member struct {
	name   string
	nc     *nats.Conn
	node   *Node
	cancel context.CancelFunc
	done   chan error
}

// startMember runs a node named name on url (comma-separated servers).
func startMember(t *testing.T, url, name string, partitions, replicas int, f *fence) *member {
	t.Helper()
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.Name(name),
		nats.DontRandomize())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := Join(ctx, nc, partitions, DefaultPartitions, Config{Instance: name, Replicas: replicas, LeaseTTL: 2 * time.Second,
		Engine:  engine.Config{Rules: set, CheckpointInterval: 100 * time.Millisecond},
		Inspect: f.inspect})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	m := &member{name: name, nc: nc, node: node, cancel: stop, done: make(chan error, 1)}
	go func() { m.done <- node.Run(runCtx) }()
	t.Cleanup(m.stop)
	return m
}

// stop hands the member's partitions over and waits for it.
func (m *member) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	<-m.done
	m.cancel = nil
}

// kill is a crash: the connection drops at once, nothing is handed over
// or checkpointed, and its leases are left to expire. What is left of the
// member in this process winds down in the background, unable to reach
// NATS.
func (m *member) kill() {
	m.nc.Close()
	m.cancel()
	m.cancel = nil
}

// waitOwned waits until the members hold every partition between them,
// each its share (the assignment has settled), each engine caught up,
// and returns who holds how many.
func waitOwned(t *testing.T, partitions int, ms ...*member) map[string]int {
	t.Helper()
	var held map[string]int
	require.Eventually(t, func() bool {
		held = map[string]int{}
		total := 0
		for _, m := range ms {
			for _, p := range m.node.Owned() {
				if m.node.Engine(p) == nil || m.node.Engine(p).Ready() != nil {
					return false
				}
				held[m.name]++
				total++
			}
			if held[m.name] < partitions/len(ms) {
				return false
			}
		}
		return total == partitions
	}, 60*time.Second, 20*time.Millisecond, "every partition owned, shared out and caught up")
	return held
}

// waitApplied waits until the group has applied and checkpointed all of
// its input, as seen twice half a second apart.
func waitApplied(t *testing.T, js jetstream.JetStream, partitions int) {
	t.Helper()
	drained := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ok, _ := Drained(ctx, js, partitions)
		return ok
	}
	require.Eventually(t, func() bool {
		if !drained() {
			return false
		}
		time.Sleep(500 * time.Millisecond)
		return drained()
	}, 3*time.Minute, 50*time.Millisecond, "every partition applied and checkpointed")
}

// outcome is what a run made of a workload: every customer's score and
// tier, and the ids of everything it published to RISK_ALERTS.
type outcome struct {
	customers map[string]string
	alerts    map[string]bool
	dlq       map[string]bool
}

func collect(t *testing.T, js jetstream.JetStream, via *member) outcome {
	t.Helper()
	out := outcome{customers: map[string]string{}, alerts: map[string]bool{}, dlq: map[string]bool{}}
	var views []api.CustomerView
	require.Eventually(t, func() bool {
		var err error
		views, err = via.node.List(context.Background(), api.Filter{Limit: api.MaxLimit})
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the list answers")
	for _, v := range views {
		out.customers[v.Customer] = fmt.Sprintf("score %.4f raw %.4f tier %s", v.Score, v.RawScore, v.Tier)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, api.AlertsStream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(m jetstream.Msg) error {
		out.alerts[m.Subject()+" "+m.Headers().Get(jetstream.MsgIDHeader)] = true
		return nil
	}))
	dlq, err := js.Stream(ctx, api.DLQStream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(ctx, dlq, nil, 0, func(m jetstream.Msg) error {
		out.dlq[m.Headers().Get(api.SubjectHeader)+" "+m.Headers().Get(api.ErrorHeader)] = true
		return nil
	}))
	return out
}

func workload(t *testing.T) chaos.Workload {
	c := chaos.Config{Seed: 20261205, Customers: 1500, Signals: 15_000, Days: 20,
		Start: time.Date(2025, 5, 5, 0, 0, 0, 0, time.UTC)}
	if testing.Short() {
		c.Customers, c.Signals = 600, 6000
	}
	return chaos.Generate(c)
}

// reference is the workload applied by a lone riskd with the same number
// of partitions, on a single server.
func reference(t *testing.T, w chaos.Workload, partitions int) outcome {
	t.Helper()
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	f := newFence()
	m := startMember(t, s.ClientURL(), "solo", partitions, 1, f)
	waitOwned(t, partitions, m)
	js, err := jetstream.New(m.nc)
	require.NoError(t, err)
	_, err = chaos.Publish(js, w.Messages)
	require.NoError(t, err)
	waitApplied(t, js, partitions)
	out := collect(t, js, m)
	require.NotEmpty(t, out.alerts, "the workload raises alerts")
	require.Empty(t, f.violations)
	return out
}

func publisher(t *testing.T, url string) jetstream.JetStream {
	nc := natstest.Connect(t, url)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TestGroupSurvivesAKilledRiskd is the group's promise: three riskd on a
// three-node NATS, one killed mid-stream, end with the scores, tiers and
// alert ids of a lone riskd, and no partition applied by two owners at
// once.
func TestGroupSurvivesAKilledRiskd(t *testing.T) {
	const partitions = 16
	w := workload(t)
	want := reference(t, w, partitions)

	servers := natstest.Cluster(t, 3)
	url := natstest.URLs(servers)
	f := newFence()
	a := startMember(t, url, "riskd-a", partitions, 3, f)
	b := startMember(t, url, "riskd-b", partitions, 3, f)
	c := startMember(t, url, "riskd-c", partitions, 3, f)
	held := waitOwned(t, partitions, a, b, c)
	t.Logf("partitions held: %v", held)
	js := publisher(t, url)
	half := len(w.Messages) / 2
	_, err := chaos.Publish(js, w.Messages[:half])
	require.NoError(t, err)
	// Mid-stream: b has applied some of the first half when it dies.
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range b.node.Owned() {
			if f.applied[p] > 0 {
				return true
			}
		}
		return false
	}, time.Minute, 5*time.Millisecond, "b applies some of the first half")
	killed := time.Now()
	b.kill()
	require.Eventually(t, func() bool { return len(a.node.Owned())+len(c.node.Owned()) == partitions },
		time.Minute, 5*time.Millisecond, "b's partitions taken over")
	t.Logf("b's partitions taken over %s after the kill", time.Since(killed).Round(time.Millisecond))
	waitOwned(t, partitions, a, c)
	t.Logf("b's partitions restored and caught up %s after the kill", time.Since(killed).Round(time.Millisecond))
	last, err := chaos.Publish(js, w.Messages[half:])
	require.NoError(t, err)
	require.Equal(t, uint64(len(w.Messages)), last, "every message stored once")
	waitApplied(t, js, partitions)
	got := collect(t, js, a)
	assert.Equal(t, len(want.customers), len(got.customers), "customers")
	assert.Equal(t, want.customers, got.customers, "scores and tiers as a lone riskd's")
	assert.Equal(t, want.alerts, got.alerts, "the same alerts, each once")
	assert.Equal(t, want.dlq, got.dlq, "the same DLQ entries")
	assert.Empty(t, f.violations, "no partition applied by two owners at once")
	// Any member answers for any customer.
	for _, id := range []string{w.Odd[0], w.Odd[1]} {
		va, okA, err := a.node.Customer(context.Background(), id)
		require.NoError(t, err)
		vc, okC, err := c.node.Customer(context.Background(), id)
		require.NoError(t, err)
		require.True(t, okA && okC, "%q known", id)
		assert.Equal(t, va.Score, vc.Score)
	}
}

// TestGroupSurvivesAKilledNATSNode kills one of the three NATS servers
// mid-stream: R3 streams keep every message, the riskd on it reconnect
// to the others, and the outcome is a lone riskd's.
func TestGroupSurvivesAKilledNATSNode(t *testing.T) {
	const partitions = 8
	w := workload(t)
	want := reference(t, w, partitions)

	servers := natstest.Cluster(t, 3)
	f := newFence()
	// Each riskd starts on its own server, the others listed for
	// reconnecting.
	order := func(first int) string {
		var us []string
		for i := range servers {
			us = append(us, servers[(first+i)%len(servers)].ClientURL())
		}
		return strings.Join(us, ",")
	}
	a := startMember(t, order(0), "riskd-a", partitions, 3, f)
	b := startMember(t, order(1), "riskd-b", partitions, 3, f)
	c := startMember(t, order(2), "riskd-c", partitions, 3, f)
	waitOwned(t, partitions, a, b, c)
	// The producer is on a server that stays up; b is on the one that goes.
	js := publisher(t, servers[0].ClientURL())
	half := len(w.Messages) / 2
	_, err := chaos.Publish(js, w.Messages[:half])
	require.NoError(t, err)
	servers[1].Shutdown()
	servers[1].WaitForShutdown()
	// A producer retries what failed while the streams elected new
	// leaders; the test waits for them instead, and then requires every
	// message stored once.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, api.SignalsStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != ""
	}, time.Minute, 50*time.Millisecond, "RISK_SIGNALS has a leader again")
	last, err := chaos.Publish(js, w.Messages[half:])
	require.NoError(t, err)
	require.Equal(t, uint64(len(w.Messages)), last, "every message stored once")
	waitApplied(t, js, partitions)
	waitOwned(t, partitions, a, b, c)
	got := collect(t, js, c)
	assert.Equal(t, want.customers, got.customers, "scores and tiers as a lone riskd's")
	assert.Equal(t, want.alerts, got.alerts, "the same alerts, each once")
	assert.Equal(t, want.dlq, got.dlq, "the same DLQ entries")
	assert.Empty(t, f.violations, "no partition applied by two owners at once")
}

// TestPartitionOfMatchesNATS holds PartitionOf to the partition NATS
// files a customer's signals, profiles and actions under.
func TestPartitionOfMatchesNATS(t *testing.T) {
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: api.SignalsStream,
		Subjects: []string{"risk.signals.>", "risk.customers.>", "risk.actions.>"}})
	require.NoError(t, err)
	const n = 7
	_, err = js.CreateStream(ctx, engine.PartitionsStream(n, 1, 0))
	require.NoError(t, err)
	ids := []string{"acme", "a.b.>", "x *", "Ünïcode", strings.Repeat("long", 30), "bob.smith"}
	for i := range 200 {
		ids = append(ids, "customer-"+strconv.Itoa(i))
	}
	for _, id := range ids {
		tok := signals.SubjectToken(id)
		for _, subj := range []string{signals.Subject(signals.KindUsage, id), signals.CustomerPrefix + tok, api.ActionPrefix + tok} {
			_, err := js.Publish(ctx, subj, []byte("{}"))
			require.NoError(t, err)
		}
	}
	s, err := js.Stream(ctx, api.PartitionsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == uint64(3*len(ids))
	}, 10*time.Second, 10*time.Millisecond, "every message sourced")
	byToken := map[string]string{}
	for _, id := range ids {
		byToken[signals.SubjectToken(id)] = id
	}
	seen := 0
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(m jetstream.Msg) error {
		toks := strings.Split(m.Subject(), ".")
		require.GreaterOrEqual(t, len(toks), 5, m.Subject())
		id, ok := byToken[toks[len(toks)-1]]
		require.True(t, ok, "token of %s", m.Subject())
		assert.Equal(t, strconv.Itoa(PartitionOf(id, n)), toks[2], "partition of %q (%s)", id, m.Subject())
		seen++
		return nil
	}))
	assert.Equal(t, 3*len(ids), seen)
}

// TestSignalsWithoutATokenArePlaced: a signal published on
// risk.signals.<kind>, which NATS cannot place, reaches its customer's
// partition all the same, once; one that names no customer goes to the
// DLQ with the reason.
func TestSignalsWithoutATokenArePlaced(t *testing.T) {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	m := startMember(t, s.ClientURL(), "solo", 4, 1, newFence())
	waitOwned(t, 4, m)
	js := publisher(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := `{"id":"t-1","kind":"ticket","customer":"no.token.co","time":"2025-05-05T10:00:00Z","source":"zendesk",` +
		`"data":{"ticket_id":"1","status":"opened","priority":"urgent"}}`
	for range 2 { // a producer's retry
		_, err := js.Publish(ctx, "risk.signals.ticket", []byte(body), jetstream.WithMsgID("t-1"))
		require.NoError(t, err)
	}
	_, err := js.Publish(ctx, "risk.signals.ticket", []byte(`{"id":"t-2","kind":"ticket"}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, ok, err := m.node.Customer(ctx, "no.token.co")
		return err == nil && ok
	}, 20*time.Second, 20*time.Millisecond, "the signal reaches its customer")
	dlq, err := js.Stream(ctx, api.DLQStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, 20*time.Second, 20*time.Millisecond, "the signal without a customer goes to the DLQ")
	last, err := dlq.GetLastMsgForSubject(ctx, api.DLQPrefix+">")
	require.NoError(t, err)
	assert.Contains(t, last.Header.Get(api.ErrorHeader), "customer")
	parts, err := js.Stream(ctx, api.PartitionsStream)
	require.NoError(t, err)
	p := PartitionOf("no.token.co", 4)
	n := 0
	require.NoError(t, ingest.ReadAll(ctx, parts, []string{api.PartitionPrefix + strconv.Itoa(p) + ".signals.>"}, 0, func(jetstream.Msg) error {
		n++
		return nil
	}))
	assert.Equal(t, 1, n, "placed once in partition %d", p)
}

// TestLostLeasesChangeNothing has another writer take a riskd's leases
// again and again while it applies the workload (as a riskd that took
// over after a stall would): each time it stops the partition without a
// checkpoint, takes it back once free, restores and replays, and the
// outcome is an undisturbed run's.
func TestLostLeasesChangeNothing(t *testing.T) {
	for _, partitions := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d partitions", partitions), func(t *testing.T) {
			w := workload(t)
			want := reference(t, w, partitions)
			s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
			f := newFence()
			m := startMember(t, s.ClientURL(), "solo", partitions, 1, f)
			waitOwned(t, partitions, m)
			js := publisher(t, s.ClientURL())
			kv, err := js.KeyValue(context.Background(), api.LeasesBucket)
			require.NoError(t, err)
			const steals = 6
			for i := range steals {
				from, to := len(w.Messages)*i/steals, len(w.Messages)*(i+1)/steals
				_, err := chaos.Publish(js, w.Messages[from:to])
				require.NoError(t, err)
				// Wait until some of it is applied, then take a lease away:
				// another writer changes the entry, the next renewal fails.
				applied := func() int {
					f.mu.Lock()
					defer f.mu.Unlock()
					n := 0
					for _, a := range f.applied {
						n += a
					}
					return n
				}
				before := applied()
				require.Eventually(t, func() bool { return applied() > before }, time.Minute, time.Millisecond)
				p := i % partitions
				taken := testutil.ToFloat64(m.node.metrics.acquired)
				lost := testutil.ToFloat64(m.node.metrics.lost)
				_, err = kv.Put(context.Background(), leaseKey(p), []byte("intruder"))
				require.NoError(t, err)
				require.Eventually(t, func() bool { return testutil.ToFloat64(m.node.metrics.lost) > lost },
					time.Minute, time.Millisecond, "the lease lost to the intruder")
				require.NoError(t, kv.Delete(context.Background(), leaseKey(p))) // the intruder dies
				require.Eventually(t, func() bool { return testutil.ToFloat64(m.node.metrics.acquired) > taken },
					time.Minute, time.Millisecond, "the lease taken back")
			}
			waitApplied(t, js, partitions)
			waitOwned(t, partitions, m)
			assert.Equal(t, float64(steals), testutil.ToFloat64(m.node.metrics.lost), "leases were lost")
			got := collect(t, js, m)
			assert.Equal(t, want.customers, got.customers, "scores and tiers")
			assert.Equal(t, want.alerts, got.alerts, "the same alerts, each once")
			assert.Equal(t, want.dlq, got.dlq, "the same DLQ entries")
			assert.Empty(t, f.violations, "no partition applied by two owners at once")
		})
	}
}

// TestLayoutIsFixed: the first riskd sets the number of partitions; a
// later one may leave it out or repeat it, and is refused another.
func TestLayoutIsFixed(t *testing.T) {
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	n, err := Layout(ctx, js, 0, 8, 1)
	require.NoError(t, err)
	assert.Equal(t, 8, n, "the default on a first start")
	n, err = Layout(ctx, js, 0, DefaultPartitions, 1)
	require.NoError(t, err)
	assert.Equal(t, 8, n, "what the group has, whatever the default")
	_, err = Layout(ctx, js, 8, DefaultPartitions, 1)
	require.NoError(t, err)
	_, err = Layout(ctx, js, 16, DefaultPartitions, 1)
	require.ErrorIs(t, err, ErrLayout)
	assert.ErrorContains(t, err, "created with 8 partitions")
	_, err = Layout(ctx, js, MaxPartitions+1, DefaultPartitions, 1)
	require.ErrorIs(t, err, ErrLayout)
}

// TestListPagesAcrossPartitions pages through the book of a group of two
// (each holding half the partitions) after each page's last customer:
// the pages together are the whole list, in its order, each customer once.
func TestListPagesAcrossPartitions(t *testing.T) {
	w := chaos.Generate(chaos.Config{Seed: 7, Customers: 300, Signals: 3000, Days: 10,
		Start: time.Date(2025, 5, 5, 0, 0, 0, 0, time.UTC)})
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	f := newFence()
	a := startMember(t, s.ClientURL(), "riskd-a", 6, 1, f)
	b := startMember(t, s.ClientURL(), "riskd-b", 6, 1, f)
	waitOwned(t, 6, a, b)
	js := publisher(t, s.ClientURL())
	_, err := chaos.Publish(js, w.Messages)
	require.NoError(t, err)
	waitApplied(t, js, 6)
	ctx := context.Background()
	whole, err := a.node.List(ctx, api.Filter{Limit: api.MaxLimit})
	require.NoError(t, err)
	require.Greater(t, len(whole), 100)
	var paged []string
	f2 := api.Filter{Limit: 40}
	for range 100 {
		page, err := b.node.List(ctx, f2)
		require.NoError(t, err)
		for _, v := range page {
			paged = append(paged, v.Customer)
		}
		if len(page) < f2.Limit {
			break
		}
		f2.After = page[len(page)-1].Customer
	}
	var want []string
	for _, v := range whole {
		want = append(want, v.Customer)
	}
	assert.Equal(t, want, paged)
	_, err = a.node.List(ctx, api.Filter{Limit: 10, After: "nobody-at-all"})
	assert.ErrorContains(t, err, "no such customer")
}
