package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/internal/broker"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/engine"
)

// clusterResult is the group phase: on a three-node NATS cluster in this
// process (R3 streams), the raw publish-and-consume rate of an R3 stream,
// the workload's rate through a group of 1, 2 and 3 riskd, and the time a
// killed riskd's partitions take to be served again.
type clusterResult struct {
	Servers    int         `json:"servers"`
	Partitions int         `json:"partitions"`
	Raw        rate        `json:"raw_publish_and_consume"`
	Groups     []groupRate `json:"groups"`
	LeaseTTL   float64     `json:"lease_ttl_seconds"`
	// FailoverTaken is from the kill to the others holding every lease,
	// FailoverServed to every partition restored and caught up.
	FailoverTaken  float64 `json:"failover_taken_seconds"`
	FailoverServed float64 `json:"failover_served_seconds"`
}

type groupRate struct {
	Riskd int `json:"riskd"`
	rate
}

const benchPartitions = 16

// groupMember is an in-process riskd of the group phase.
type groupMember struct {
	nc     *nats.Conn
	node   *cluster.Node
	cancel context.CancelFunc
	done   chan error
}

func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	m.nc.Close()
}

// runCluster measures the group phase with the corpus of the run.
func (b *benchRun) runCluster(ctx context.Context) error {
	res := &clusterResult{Servers: 3, Partitions: benchPartitions, LeaseTTL: cluster.DefaultLeaseTTL.Seconds()}
	b.res.Cluster = res
	for k := 1; k <= 3; k++ {
		if err := b.clusterRound(ctx, res, k); err != nil {
			return fmt.Errorf("%d riskd: %w", k, err)
		}
	}
	return nil
}

func (b *benchRun) clusterRound(ctx context.Context, res *clusterResult, k int) error {
	dir, err := os.MkdirTemp("", "riskbench-cluster-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	servers, err := broker.StartLoopbackCluster(3, dir)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}()
	url := broker.ClientURLs(servers)
	pub, err := client.Connect(client.Options{URL: url, Name: "riskbench-producer"})
	if err != nil {
		return err
	}
	defer pub.Close()
	js, err := jetstream.New(pub)
	if err != nil {
		return err
	}
	if k == 1 {
		if err := b.clusterRaw(ctx, js, pub, res); err != nil {
			return fmt.Errorf("raw: %w", err)
		}
	}
	set, err := riskdRules()
	if err != nil {
		return err
	}
	var members []*groupMember
	defer func() {
		for _, m := range members {
			if m.cancel != nil {
				m.stop()
			}
		}
	}()
	for i := range k {
		nc, err := client.Connect(client.Options{URL: url, Name: fmt.Sprintf("riskd-%d", i+1)})
		if err != nil {
			return err
		}
		jctx, cancelJoin := context.WithTimeout(ctx, time.Minute)
		node, err := cluster.Join(jctx, nc, benchPartitions, benchPartitions, cluster.Config{Instance: fmt.Sprintf("riskd-%d", i+1),
			Replicas: 3, Engine: engine.Config{Rules: set}})
		cancelJoin()
		if err != nil {
			return err
		}
		runCtx, cancel := context.WithCancel(ctx)
		m := &groupMember{nc: nc, node: node, cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- node.Run(runCtx) }()
		members = append(members, m)
	}
	if _, err := waitServed(ctx, members); err != nil {
		return err
	}
	took, err := publishAll(ctx, pub, b.c)
	if err != nil {
		return err
	}
	start := time.Now().Add(-took)
	if err := waitDrained(ctx, js); err != nil {
		return err
	}
	res.Groups = append(res.Groups, groupRate{Riskd: k, rate: newRate(b.c.Len(), b.c.Bytes(), time.Since(start))})
	fmt.Fprintf(b.stderr, "riskbench: cluster: %d riskd: %.0f msgs/s\n", k, res.Groups[len(res.Groups)-1].Rate)
	if k < 3 {
		return nil
	}
	// A crash: the connection drops, nothing is handed over.
	victim := members[1]
	killed := time.Now()
	victim.nc.Close()
	victim.cancel()
	victim.cancel = nil
	taken, err := waitServed(ctx, []*groupMember{members[0], members[2]})
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	res.FailoverTaken = taken.Sub(killed).Seconds()
	res.FailoverServed = time.Since(killed).Seconds()
	return nil
}

// clusterRaw is the ceiling: nats.go alone publishing the corpus to an R3
// stream of the cluster and reading it back.
func (b *benchRun) clusterRaw(ctx context.Context, js jetstream.JetStream, pub *nats.Conn, res *clusterResult) error {
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: api.SignalsStream,
		Subjects: []string{"risk.signals.>", "risk.customers.>"}, Replicas: 3, Duplicates: 2 * time.Hour}); err != nil {
		return err
	}
	start := time.Now()
	if _, err := publishAll(ctx, pub, b.c); err != nil {
		return err
	}
	if _, err := consumeAll(ctx, js, api.SignalsStream, b.c.Len(), modeFetch, 1000); err != nil {
		return err
	}
	res.Raw = newRate(b.c.Len(), b.c.Bytes(), time.Since(start))
	return js.DeleteStream(ctx, api.SignalsStream)
}

// waitServed waits until the members hold every partition, each its
// share (the assignment has settled), caught up; it returns when they
// first held every lease.
func waitServed(ctx context.Context, members []*groupMember) (time.Time, error) {
	var taken time.Time
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		held, ready, shared := 0, 0, true
		for _, m := range members {
			owned := m.node.Owned()
			shared = shared && len(owned) >= benchPartitions/len(members)
			for _, p := range owned {
				held++
				if e := m.node.Engine(p); e != nil && e.Ready() == nil {
					ready++
				}
			}
		}
		// More than all of them for a moment: a partition handed over is
		// still listed by its old holder until that one's next round.
		if held >= benchPartitions && taken.IsZero() {
			taken = time.Now()
		}
		if ready == benchPartitions && shared {
			return taken, nil
		}
		select {
		case <-ctx.Done():
			return taken, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return taken, fmt.Errorf("partitions not all served in 5 minutes")
}

func waitDrained(ctx context.Context, js jetstream.JetStream) error {
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, _ := cluster.Drained(cctx, js, benchPartitions)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("the group did not drain its input in 30 minutes")
}
