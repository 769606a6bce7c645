// Package natstest starts real embedded NATS servers for tests: JetStream
// on, a random port, a temporary store, shut down when the test ends.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: dir, NoSigs: true, NoLog: true})
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

// Cluster starts n JetStream servers clustered on loopback (random client
// ports, a temporary store each) and returns them once JetStream is
// usable; each is shut down when the test ends, unless the test did so
// first.
func Cluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	// Every server is told every route: a clustered JetStream server is
	// not ready until it meets its peers.
	ports := make([]int, n)
	var routes []*url.URL
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("route port: %v", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])})
	}
	servers := make([]*server.Server, n)
	for i := range n {
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "riskwatch-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats server %d: %v", i+1, err)
		}
		go s.Start()
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
		servers[i] = s
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, s := range servers {
		if !s.ReadyForConnections(time.Until(deadline)) {
			t.Fatalf("nats server %d not ready", i+1)
		}
	}
	for {
		ready := 0
		for _, s := range servers {
			if s.JetStreamIsCurrent() && s.NumRoutes() >= n-1 {
				ready++
			}
		}
		if ready == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster of %d not formed in 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return servers
}

// URLs is the servers' client URLs, comma separated, for nats.Connect.
func URLs(servers []*server.Server) string {
	var us []string
	for _, s := range servers {
		us = append(us, s.ClientURL())
	}
	return strings.Join(us, ",")
}
