package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/daemon"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/statelog"
	"github.com/riskwatch/riskwatch/signals"
)

var bigFlag = flag.Bool("chaos.big", false, "run the crash tests at 1M signals over 100k customers (also RISKWATCH_CHAOS_BIG=1)")

// binDir holds the riskd binary built for the subprocess tests.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "riskwatch-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func big() bool { return *bigFlag || os.Getenv("RISKWATCH_CHAOS_BIG") == "1" }

// workloadConfig is the CI size, or the big one on request.
func workloadConfig() Config {
	c := Config{Seed: 20261123, Customers: 10_000, Signals: 100_000, Days: 30,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}
	if big() {
		c.Customers, c.Signals, c.Days = 100_000, 1_000_000, 60
	}
	return c
}

var (
	workloadOnce sync.Once
	theWorkload  Workload
)

// sharedWorkload is generated once per test binary: several tests replay it.
func sharedWorkload() Workload {
	workloadOnce.Do(func() { theWorkload = Generate(workloadConfig()) })
	return theWorkload
}

// doneTimeout bounds a wait for riskd to finish the workload: generous, so
// a slow CI machine is not a failure; the test fails on a stuck riskd.
func doneTimeout() time.Duration {
	if big() {
		return 60 * time.Minute
	}
	return 5 * time.Minute
}

var (
	buildOnce sync.Once
	riskdPath string
	buildErr  error
)

// riskdBinary builds cmd/riskd once per test binary.
func riskdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			buildErr = err
			return
		}
		riskdPath = filepath.Join(binDir, "riskd")
		cmd := exec.Command("go", "build", "-o", riskdPath, "./cmd/riskd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/riskd: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return riskdPath
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// cleanEnv is the environment without the variables riskd reads, so the
// developer's shell cannot change what the test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RISKWATCH_") || strings.HasPrefix(kv, "NATS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// riskdProc is riskd running as a subprocess.
type riskdProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	base string
	done chan struct{}
	err  error
}

// startRiskd runs a lone riskd (one partition) against natsURL with a
// short checkpoint interval, its output appended to logPath; extra flags
// follow.
func startRiskd(t testing.TB, natsURL, logPath string, extra ...string) *riskdProc {
	t.Helper()
	addr := freeAddr(t)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	args := []string{"--nats-url", natsURL, "--http-listen", addr, "--partitions", "1",
		"--checkpoint-interval", "100ms", "--log-format", "json", "--log-level", "warn", "--data-dir", t.TempDir()}
	if len(extra) > 0 {
		args = append(args[:4], extra...) // a group member: its own partitions
		args = append(args, "--checkpoint-interval", "100ms", "--log-format", "json", "--log-level", "warn", "--data-dir", t.TempDir())
	}
	cmd := exec.Command(riskdBinary(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	require.NoError(t, cmd.Start())
	p := &riskdProc{t: t, cmd: cmd, base: "http://" + addr, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p
}

func (p *riskdProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL: no shutdown, no final checkpoint.
func (p *riskdProc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGINT and requires a clean exit.
func (p *riskdProc) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(os.Interrupt))
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.kill()
		p.t.Fatal("riskd did not stop within a minute of SIGINT")
	}
	require.NoError(p.t, p.err, "riskd exit")
}

// waitReady polls /readyz until riskd answers 200: it has caught up with
// the stream as it was when it started.
func waitReady(t testing.TB, base string, alive func() bool) {
	t.Helper()
	deadline := time.Now().Add(doneTimeout())
	for httpStatus(base+"/readyz") != http.StatusOK {
		require.True(t, alive == nil || alive(), "riskd exited before it was ready")
		require.True(t, time.Now().Before(deadline), "riskd not ready within %s", doneTimeout())
		time.Sleep(20 * time.Millisecond)
	}
}

// client bounds every request, so a hung riskd fails the test.
var client = &http.Client{Timeout: time.Minute}

func get(u string) (*http.Response, error) { return client.Get(u) }

// httpStatus is the status of a GET, 0 when there is no answer.
func httpStatus(u string) int {
	resp, err := get(u)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, body)
	require.NoError(t, json.Unmarshal(body, v), "GET %s", u)
}

// logTail dumps the end of a riskd log when the test failed.
func logTail(t testing.TB, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > 60 {
				lines = lines[1:]
			}
		}
		t.Logf("last lines of %s:\n%s", path, strings.Join(lines, "\n"))
	})
}

// publishAll is Publish for the test's goroutine.
func publishAll(t testing.TB, js jetstream.JetStream, msgs []Message) uint64 {
	t.Helper()
	last, err := Publish(js, msgs)
	require.NoError(t, err)
	return last
}

// consumerInfo is the riskd durable consumer's state.
func consumerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, api.SignalsStream, "riskd")
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// waitAcked waits until riskd acknowledged stream sequence last, which it
// does only once a checkpoint covering it is durable.
func waitAcked(t testing.TB, js jetstream.JetStream, last uint64, alive func() bool) {
	t.Helper()
	deadline := time.Now().Add(doneTimeout())
	for {
		if alive != nil {
			require.True(t, alive(), "riskd exited before it acknowledged sequence %d", last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := consumerInfo(ctx, js)
		cancel()
		if err == nil && info.AckFloor.Stream >= last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("riskd did not acknowledge sequence %d in %s (consumer: %+v, err %v)", last, doneTimeout(), info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readStream reads every message of stream.
func readStream(t testing.TB, js jetstream.JetStream, stream string, fn func(jetstream.Msg)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), doneTimeout())
	defer cancel()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	require.NoError(t, ingest.ReadAll(ctx, s, nil, 0, func(m jetstream.Msg) error { fn(m); return nil }))
}

// scoreTier is a customer as the HTTP API lists it.
type scoreTier struct {
	Score float64 `json:"score"`
	Tier  string  `json:"tier"`
}

// outcome is everything a run leaves behind that must not depend on
// crashes: the API's scores and tiers, the checkpointed per-customer
// records, and every alert, digest and DLQ entry with how often it was
// published.
type outcome struct {
	Customers map[string]scoreTier
	Records   map[string]string
	Alerts    map[string]int
	Digests   map[string]int
	DLQ       map[string]int
	// Reasons counts DLQ entries by the reason in Riskwatch-Error.
	Reasons map[string]int
}

// collect reads the outcome of a finished run from riskd's HTTP API at
// base and from the streams.
func collect(t testing.TB, js jetstream.JetStream, base string) *outcome {
	t.Helper()
	o := &outcome{Customers: map[string]scoreTier{}, Records: map[string]string{}, Alerts: map[string]int{},
		Digests: map[string]int{}, DLQ: map[string]int{}, Reasons: map[string]int{}}
	if base != "" {
		var list struct {
			Customers []struct {
				Customer string `json:"customer"`
				scoreTier
			} `json:"customers"`
		}
		getJSON(t, base+"/v1/customers?limit=10000", &list)
		for _, c := range list.Customers {
			o.Customers[c.Customer] = c.scoreTier
		}
	}
	// The customer records of the last checkpoint, as JSON: the same
	// state either way, and a difference can be read.
	cp, err := statelog.ReadCheckpoint(context.Background(), js)
	require.NoError(t, err)
	for _, rec := range cp.Records {
		body, err := json.Marshal(rec)
		require.NoError(t, err, rec.State.Customer)
		o.Records["c."+signals.SubjectToken(rec.State.Customer)] = string(body)
	}
	readStream(t, js, api.AlertsStream, func(m jetstream.Msg) {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if strings.HasPrefix(m.Subject(), "risk.digest.") {
			o.Digests[id]++
			return
		}
		o.Alerts[id]++
	})
	readStream(t, js, api.DLQStream, func(m jetstream.Msg) {
		o.DLQ[m.Headers().Get(jetstream.MsgIDHeader)]++
		reason, _, _ := strings.Cut(m.Headers().Get(api.ErrorHeader), ":")
		o.Reasons[reason]++
	})
	return o
}

// requireSameOutcome fails with the first differences between two runs.
func requireSameOutcome(t testing.TB, want, got *outcome) {
	t.Helper()
	var diffs []string
	diffMaps(&diffs, "customer", want.Customers, got.Customers, func(a, b scoreTier) bool { return a == b })
	diffMaps(&diffs, "state record", want.Records, got.Records, func(a, b string) bool { return a == b })
	present := func(a, b int) bool { return (a > 0) == (b > 0) }
	diffMaps(&diffs, "alert", want.Alerts, got.Alerts, present)
	diffMaps(&diffs, "digest", want.Digests, got.Digests, present)
	diffMaps(&diffs, "DLQ entry", want.DLQ, got.DLQ, present)
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Fatalf("%d differences from the uninterrupted run; the first ones:\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 25)], "\n"))
	}
}

func diffMaps[V any](out *[]string, what string, want, got map[string]V, same func(a, b V) bool) {
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			*out = append(*out, fmt.Sprintf("%s %q: missing (want %v)", what, k, w))
		case !same(w, g):
			*out = append(*out, fmt.Sprintf("%s %q:\n  want %v\n  got  %v", what, k, w, g))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			*out = append(*out, fmt.Sprintf("%s %q: unexpected (%v)", what, k, g))
		}
	}
}

// requireNoRepeats fails if any id was published more than once.
func requireNoRepeats(t testing.TB, what string, ids map[string]int) {
	t.Helper()
	var repeated []string
	for id, n := range ids {
		if n > 1 {
			repeated = append(repeated, fmt.Sprintf("%s x%d", id, n))
		}
	}
	sort.Strings(repeated)
	require.Empty(t, repeated, "%s published more than once", what)
}

// requireExpected checks a run against what the workload must produce.
func requireExpected(t testing.TB, w Workload, o *outcome) {
	t.Helper()
	require.Equal(t, w.Expect.Customers, len(o.Records), "customer records")
	require.Equal(t, w.Expect.DLQ(), len(o.DLQ), "DLQ entries")
	require.Equal(t, w.Expect.Late, o.Reasons["late"], "late events in the DLQ")
	require.Equal(t, w.Expect.Malformed, o.Reasons["malformed_json"], "malformed bodies in the DLQ")
	require.NotEmpty(t, o.Alerts, "the workload raises alerts")
	require.NotEmpty(t, o.Digests, "the workload crosses days, so digests are sent")
	if len(o.Customers) > 0 {
		require.Equal(t, min(w.Expect.Customers, 10_000), len(o.Customers), "customers listed by the API")
	}
}

// requireOddCustomers asks the API for each odd id by path.
func requireOddCustomers(t testing.TB, base string, w Workload) {
	t.Helper()
	for _, id := range w.Odd {
		var v struct {
			Customer string `json:"customer"`
		}
		getJSON(t, base+"/v1/customers/"+url.PathEscape(id), &v)
		require.Equal(t, id, v.Customer)
	}
}

// runDaemon runs riskd in this process against natsURL until the test
// ends or stop is called; stop returns daemon.Run's error.
func runDaemon(t *testing.T, natsURL string, edit func(*config.Config)) (d *daemon.Daemon, base string, stop func() error) {
	t.Helper()
	c := config.Defaults()
	c.NATSURL = natsURL
	c.Partitions = 1 // a lone riskd: the consumer and state log these tests read
	c.HTTPListen = freeAddr(t)
	c.CheckpointInterval = 100 * time.Millisecond
	c.LogLevel = "warn"
	if edit != nil {
		edit(&c)
	}
	require.NoError(t, c.Validate())
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *daemon.Daemon, 1)
	done := make(chan error, 1)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	go func() { done <- daemon.Run(ctx, &c, log, io.Discard, func(d *daemon.Daemon) { started <- d }) }()
	select {
	case d = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("riskd did not start: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("riskd did not start within a minute")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	base = "http://" + c.HTTPListen
	waitReady(t, base, nil)
	return d, base, stop
}

// metrics scrapes /metrics into name{labels} → value for counters and
// gauges.
func metrics(t testing.TB, base string) map[string]float64 {
	t.Helper()
	m, err := scrapeMetrics(base)
	require.NoError(t, err)
	return m
}

// scrapeMetrics is metrics for a polling condition, which must not fail
// the test from its own goroutine.
func scrapeMetrics(base string) (map[string]float64, error) {
	resp, err := get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	return out, nil
}

// sumMetric adds the series of name whose labels contain every one of
// match (`result="scored"`).
func sumMetric(m map[string]float64, name string, match ...string) float64 {
	total := 0.0
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, s := range match {
			if !strings.Contains(k, s) {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}
