// Package daemon wires riskd together: the embedded or external NATS, the
// engine, the HTTP and micro APIs, webhook delivery and the demo. It is a
// package, not main, so end-to-end tests run the whole daemon in process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/api/client"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/internal/broker"
	"github.com/riskwatch/riskwatch/internal/buildinfo"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/demo"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/webhook"
)

// Daemon is a running riskd.
type Daemon struct {
	// Node is riskd's place in its group: the partitions it applies, and
	// the API's way to any customer.
	Node     *cluster.Node
	Server   *server.Server // nil with --nats-url
	Conn     *nats.Conn
	Registry *prometheus.Registry
	// ClientURL is where other processes reach the NATS riskd uses.
	ClientURL string
}

// Run starts riskd and blocks until ctx is done, then shuts down in order:
// stop the demo and intake, finish the chunk in hand and checkpoint, stop
// the APIs, drain NATS, stop the embedded server. The demo prints to out.
// started, if not nil, is called once everything is up.
func Run(ctx context.Context, c *config.Config, log *zap.Logger, out io.Writer, started func(*Daemon)) error {
	set, err := configs.LoadRules(c.Rules)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	policy, err := c.Policy()
	if err != nil {
		return err
	}
	d := &Daemon{Registry: newRegistry()}
	stopNATS, err := d.connect(c, log)
	if err != nil {
		return err
	}
	defer stopNATS()
	// The embedded NATS is one machine: one partition, the layout riskd
	// always had. A NATS of your own may carry a group.
	def := 1
	if c.NATSURL != "" {
		def = cluster.DefaultPartitions
	}
	setupCtx, cancelSetup := context.WithTimeout(ctx, time.Minute)
	d.Node, err = cluster.Join(setupCtx, d.Conn, c.Partitions, def, cluster.Config{Instance: c.InstanceName(),
		Replicas: c.Replicas, Registry: d.Registry, Log: log.Named("cluster"),
		Engine: engine.Config{Rules: set, Policy: policy, CheckpointInterval: c.CheckpointInterval,
			SignalsMaxAge: c.SignalsMaxAge, Limits: limits(c), Log: log.Named("engine")}})
	cancelSetup()
	if err != nil {
		return fmt.Errorf("join the group: %w", err)
	}
	log.Info("joining the group", zap.String("instance", c.InstanceName()), zap.Int("partitions", d.Node.Partitions()))
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- d.Node.Run(engineCtx) }()

	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	svc, err := apiserver.StartService(d.Conn, d.Node, buildinfo.Get().Version, time.Now, apiserver.WithLogger(log.Named("api")))
	if err != nil {
		return fmt.Errorf("micro service: %w", err)
	}
	defer func() { _ = svc.Stop() }()
	var wg sync.WaitGroup
	errs := d.background(bgCtx, &wg, c, log, out)
	if started != nil {
		started(d)
	}
	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errs:
	case runErr = <-engineDone:
		if runErr == nil {
			runErr = errors.New("the group's node stopped")
		}
		engineDone <- nil
	}
	stopBG()
	wg.Wait()
	stopEngine()
	if err := <-engineDone; err != nil && runErr == nil {
		runErr = err
	}
	if err := d.Conn.Drain(); err != nil {
		log.Warn("drain", zap.Error(err))
	}
	return runErr
}

// newRegistry holds the Go, process and build metrics, and everything the
// engine and webhooks register.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	bi := buildinfo.Get()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "riskwatch_build_info",
		Help:        "Always 1: the version, VCS revision and Go version riskd was built from.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion}})
	info.Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), info)
	return reg
}

// connect joins the NATS of --nats-url, or starts the embedded one. The
// function it returns stops what connect started.
func (d *Daemon) connect(c *config.Config, log *zap.Logger) (func(), error) {
	opts := client.Options{URL: c.NATSURL, Creds: c.NATSCreds, NKey: c.NATSNKey, User: c.NATSUser,
		Password: c.NATSPass, Token: c.NATSToken, TLSCA: c.NATSTLSCA, TLSCert: c.NATSCert, TLSKey: c.NATSKey,
		Name: "riskd"}
	var err error
	if c.NATSURL != "" {
		if d.Conn, err = client.Connect(opts.FromEnv(), connEvents(log)...); err != nil {
			return nil, err
		}
		d.ClientURL = c.NATSURL
		log.Info("joined NATS", zap.String("url", d.Conn.ConnectedUrlRedacted()))
		return d.Conn.Close, nil
	}
	store := filepath.Join(c.DataDir, "jetstream")
	if err := os.MkdirAll(store, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// Roles (docs/security.md): riskd connects as its own role, with the
	// password kept in the data directory like the others'.
	authDir := filepath.Join(c.DataDir, "auth")
	creds, created, err := broker.EnsureCredentials(authDir, c.NATSCSMOwners)
	if err != nil {
		return nil, err
	}
	anonymous := c.NATSAnonymous && config.IsLoopback(c.NATSListen) && c.NATSUser == "" && c.NATSToken == ""
	d.Server, err = broker.StartEmbedded(broker.EmbeddedOptions{Listen: c.NATSListen, StoreDir: store,
		AuthDir: authDir, CSMOwners: c.NATSCSMOwners, Anonymous: anonymous, Insecure: c.Insecure,
		MaxStore: int64(c.NATSMaxStore), Token: c.NATSToken, User: c.NATSUser, Password: c.NATSPass,
		TLSCert: c.NATSCert, TLSKey: c.NATSKey, TLSCA: c.NATSTLSCA}, log)
	if err != nil {
		return nil, err
	}
	opts.User, opts.Password, opts.Token = broker.RoleRiskd, creds[broker.RoleRiskd], ""
	if len(created) > 0 {
		logRoles(log, authDir, d.Server.ClientURL(), created)
	}
	stopServer := func() {
		d.Server.Shutdown()
		d.Server.WaitForShutdown()
	}
	d.ClientURL = d.Server.ClientURL()
	if d.Conn, err = broker.ConnectEmbedded(d.Server, opts, connEvents(log)...); err != nil {
		stopServer()
		return nil, err
	}
	log.Info("embedded NATS ready", zap.String("url", d.ClientURL), zap.String("store", store))
	return func() { d.Conn.Close(); stopServer() }, nil
}

// background starts the HTTP API, webhook delivery and the demo, each
// until ctx ends; a failure of one comes out of the channel.
func (d *Daemon) background(ctx context.Context, wg *sync.WaitGroup, c *config.Config, log *zap.Logger, out io.Writer) <-chan error {
	errs := make(chan error, 5)
	if c.HTTPListen != "" {
		var h http.Handler = apiserver.NewHandler(d.Node, d.Registry, c.HTTPToken, time.Now, log.Named("http"))
		// The CSM dashboard at / (docs/dashboard.md).
		if c.Dashboard {
			var err error
			if h, err = withDashboard(ctx, h, d.Node, d.Conn, c, log.Named("dashboard")); err != nil {
				errs <- err
				return errs
			}
		}
		h, err := d.mountHooks(h, c, log) // connectors.go
		if err != nil {
			errs <- err
			return errs
		}
		wg.Go(func() {
			if err := apiserver.Serve(ctx, c.HTTPListen, h, c.HTTPCert, c.HTTPKey, log.Named("http")); err != nil {
				errs <- fmt.Errorf("http: %w", err)
			}
		})
	}
	if len(c.Webhooks) > 0 {
		report := webhook.Metrics(d.Registry)
		wg.Go(func() {
			js, err := jetstream.New(d.Conn)
			if err != nil {
				errs <- fmt.Errorf("webhooks: %w", err)
				return
			}
			if err := webhook.Run(ctx, js, c.Webhooks, log.Named("webhook"), report); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("webhooks: %w", err)
			}
		})
	}
	d.startPush(ctx, wg, d.Node, c, log, errs) // connectors.go
	if c.Demo {
		wg.Go(func() {
			if err := demo.Run(ctx, d.Conn, demo.Options{Speed: c.DemoSpeed, Out: out,
				HTTP: c.HTTPListen, NATS: client.RedactURL(d.ClientURL), Dashboard: dashboardURL(c)}, log.Named("demo")); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("demo: %w", err)
			}
		})
	}
	return errs
}

func connEvents(log *zap.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil || nc.IsClosed() || nc.IsDraining() {
				return // our own shutdown
			}
			log.Warn("NATS disconnected; reconnecting", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("NATS error", zap.String("subscription", subj), zap.Error(err))
		}),
	}
}

// limits are the engine's bounds from the configuration.
func limits(c *config.Config) engine.Limits {
	return engine.Limits{SignalsMaxBytes: int64(c.SignalsMaxBytes), AlertsMaxAge: c.AlertsMaxAge,
		AlertsMaxBytes: int64(c.AlertsMaxBytes), DLQMaxAge: c.DLQMaxAge, DLQMaxBytes: int64(c.DLQMaxBytes),
		StateMaxBytes: int64(c.StateMaxBytes), MaxCustomers: c.MaxCustomers}
}

// logRoles says, once, where the new role passwords are and how to use
// them; never the passwords themselves.
func logRoles(log *zap.Logger, dir, url string, created []string) {
	log.Info("NATS role credentials created: each role's password is in its file, readable by this user only",
		zap.String("dir", dir), zap.Strings("users", created), zap.String("docs", "docs/security.md"))
	for _, u := range created {
		if u == broker.RoleRiskd {
			continue
		}
		how := fmt.Sprintf("nats --server %s --user %s --password \"$(cat %s)\"", url, u, broker.PasswordFile(dir, u))
		if p := broker.InboxPrefix(u); p != "" {
			how += " --inbox-prefix " + p
		}
		log.Info("NATS role", zap.String("user", u), zap.String("use", how))
	}
}
