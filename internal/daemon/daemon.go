// Package daemon wires riskd together: the embedded or external NATS, the
// engine, the HTTP and micro APIs, webhook delivery and the demo. It is a
// package, not main, so end-to-end tests run the whole daemon in process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/alerting/webhook"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/api"
	"github.com/riskwatch/riskwatch/internal/broker"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/demo"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/rules"
)

// Version is riskd's semantic version, also the micro service's.
const Version = "0.1.0"

// Daemon is a running riskd.
type Daemon struct {
	Engine   *engine.Engine
	Server   *server.Server // nil with --nats-url
	Conn     *nats.Conn
	Registry *prometheus.Registry
	// ClientURL is where other processes reach the NATS riskd uses.
	ClientURL string
}

// Policy turns the config's alerting block into a policy.
func Policy(c *config.Config) (alerting.Policy, error) {
	p := alerting.DefaultPolicy()
	for k, d := range c.Alerting.Repeat {
		t, err := rules.ParseTier(k)
		if err != nil {
			return p, fmt.Errorf("alerting.repeat: %w", err)
		}
		p.Repeat[t] = d
	}
	if c.Alerting.Cooldown > 0 {
		p.Cooldown = c.Alerting.Cooldown
	}
	return p, p.Validate()
}

// Run starts riskd and blocks until ctx is done, then shuts down in order:
// stop the demo and intake, finish the batch and checkpoint, stop the APIs,
// drain NATS, stop the embedded server. The demo prints to out. started, if
// not nil, is called once everything is up.
func Run(ctx context.Context, c *config.Config, log *zap.Logger, out io.Writer, started func(*Daemon)) error {
	set, err := configs.LoadRules(c.Rules)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	policy, err := Policy(c)
	if err != nil {
		return err
	}
	d := &Daemon{Registry: prometheus.NewRegistry()}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	client := broker.ClientOptions{URL: c.NATSURL, Creds: c.NATSCreds, NKey: c.NATSNKey, User: c.NATSUser,
		Password: c.NATSPass, Token: c.NATSToken, TLSCA: c.NATSTLSCA, TLSCert: c.NATSCert, TLSKey: c.NATSKey,
		Name: "riskd"}
	if c.NATSURL != "" {
		client = client.FromEnv()
		d.Conn, err = broker.Connect(client, connEvents(log)...)
		if err != nil {
			return err
		}
		d.ClientURL = c.NATSURL
		log.Info("joined NATS", zap.String("url", d.Conn.ConnectedUrlRedacted()))
	} else {
		store := filepath.Join(c.DataDir, "jetstream")
		if err := os.MkdirAll(store, 0o750); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		d.Server, err = broker.StartEmbedded(broker.EmbeddedOptions{Listen: c.NATSListen, StoreDir: store,
			Token: c.NATSToken, User: c.NATSUser, Password: c.NATSPass,
			TLSCert: c.NATSCert, TLSKey: c.NATSKey, TLSCA: c.NATSTLSCA}, log)
		if err != nil {
			return err
		}
		defer func() {
			d.Server.Shutdown()
			d.Server.WaitForShutdown()
		}()
		d.ClientURL = d.Server.ClientURL()
		d.Conn, err = broker.ConnectEmbedded(d.Server, client, connEvents(log)...)
		if err != nil {
			return err
		}
		log.Info("embedded NATS ready", zap.String("url", d.ClientURL), zap.String("store", store))
	}
	defer d.Conn.Close()

	clock := c.Clock
	if c.Demo {
		clock = engine.ClockEvent // the demo runs in simulated time
	}
	d.Engine, err = engine.New(d.Conn, engine.Config{Rules: set, Policy: policy, Clock: clock,
		CheckpointInterval: c.CheckpointInterval, SignalsMaxAge: c.SignalsMaxAge, Replicas: c.Replicas,
		Log: log.Named("engine"), Registry: d.Registry})
	if err != nil {
		return err
	}

	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- d.Engine.Run(engineCtx) }()

	var wg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(ctx)
	defer stopBG()
	errs := make(chan error, 4)

	if c.HTTPListen != "" {
		h := api.NewHandler(d.Engine, d.Registry, c.HTTPToken, time.Now, log.Named("http"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := api.Serve(bgCtx, c.HTTPListen, h, c.HTTPCert, c.HTTPKey, log.Named("http")); err != nil {
				errs <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	svc, err := api.StartService(d.Conn, d.Engine, Version, time.Now)
	if err != nil {
		return fmt.Errorf("micro service: %w", err)
	}
	defer func() { _ = svc.Stop() }()

	if len(c.Webhooks) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			report := func(sink, result string) { d.Engine.Metrics().Webhooks.WithLabelValues(sink, result).Inc() }
			if err := webhook.Run(bgCtx, d.Engine.JetStream(), c.Webhooks, log.Named("webhook"), report); err != nil && bgCtx.Err() == nil {
				errs <- fmt.Errorf("webhooks: %w", err)
			}
		}()
	}
	if c.Demo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := demo.Run(bgCtx, d.Conn, demo.Options{Speed: c.DemoSpeed, Out: out,
				HTTP: c.HTTPListen, NATS: d.ClientURL}, log.Named("demo")); err != nil && bgCtx.Err() == nil {
				errs <- fmt.Errorf("demo: %w", err)
			}
		}()
	}
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
			runErr = errors.New("engine stopped")
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
