// Package natstest starts real embedded NATS servers for tests: JetStream
// on, a random port, a temporary store, shut down when the test ends.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/riskwatch/riskwatch/internal/broker"
)

// Server starts a JetStream server on a random loopback port storing in
// dir (t.TempDir() when empty) and returns it with a connection.
func Server(t testing.TB, dir string) (*server.Server, *nats.Conn) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s := Start(t, dir, server.RANDOM_PORT)
	nc := Connect(t, s.ClientURL())
	return s, nc
}

// Start starts a server on port (server.RANDOM_PORT for any).
func Start(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	// riskd's streams reserve their caps (27 GiB by default) against the
	// store's limit, which is otherwise 75% of the free disk: an explicit
	// limit keeps tests independent of the machine's disk. Nothing near it
	// is ever written.
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: dir, NoSigs: true, NoLog: true, JetStreamMaxStore: 1 << 40})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a connection that reconnects forever and closes with the
// test.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Cluster starts n JetStream servers clustered on loopback
// (broker.StartLoopbackCluster) and returns them; each is shut down when
// the test ends, unless the test did so first.
func Cluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	servers, err := broker.StartLoopbackCluster(n, t.TempDir())
	if err != nil {
		t.Fatalf("nats cluster: %v", err)
	}
	for _, s := range servers {
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	return servers
}

// URLs is the servers' client URLs, comma separated, for nats.Connect.
func URLs(servers []*server.Server) string { return broker.ClientURLs(servers) }
