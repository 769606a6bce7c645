package broker

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// StartLoopbackCluster starts n JetStream servers in this process,
// clustered on loopback (random client ports, a store each under dir),
// and returns them once JetStream is usable on all of them. It is for
// tests and riskbench: a cluster of one machine proves what it does, not
// how fast a real one is.
func StartLoopbackCluster(n int, dir string) ([]*server.Server, error) {
	// Every server is told every route: a clustered JetStream server is
	// not ready until it meets its peers.
	ports := make([]int, n)
	routes := make([]*url.URL, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("route port: %w", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])}
	}
	servers := make([]*server.Server, 0, n)
	stopAll := func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	for i := range n {
		opts := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), NoSigs: true, NoLog: true,
			MaxPayload: 1 << 20,
			Cluster:    server.ClusterOpts{Name: "riskwatch-loopback", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes}
		s, err := server.NewServer(opts)
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("nats server %d: %w", i+1, err)
		}
		go s.Start()
		servers = append(servers, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i, s := range servers {
		if !s.ReadyForConnections(time.Until(deadline)) {
			stopAll()
			return nil, fmt.Errorf("nats server %d not ready in 30s", i+1)
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
			return servers, nil
		}
		if time.Now().After(deadline) {
			stopAll()
			return nil, fmt.Errorf("a cluster of %d did not form in 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ClientURLs is the servers' client URLs, comma separated, for
// nats.Connect.
func ClientURLs(servers []*server.Server) string {
	us := make([]string, len(servers))
	for i, s := range servers {
		us[i] = s.ClientURL()
	}
	return strings.Join(us, ",")
}
