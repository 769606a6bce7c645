package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/dashboard"
	"github.com/riskwatch/riskwatch/rules"
)

// withDashboard serves the CSM dashboard (docs/dashboard.md) at / and
// /ui/ beside the API h, over the same engine seam. Its live feed reads
// the alert stream; it ends when ctx does, so that shutdown is not held up
// by open browsers.
func withDashboard(ctx context.Context, h http.Handler, e apiserver.Engine, nc *nats.Conn, c *config.Config, log *zap.Logger) (http.Handler, error) {
	name, text := "configs/rules.yaml (built in)", configs.DefaultRules
	if c.Rules != "" {
		var err error
		if text, err = os.ReadFile(c.Rules); err != nil {
			return nil, fmt.Errorf("dashboard: read rules: %w", err)
		}
		name = c.Rules
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	set, err := rules.Parse(name, text)
	if err != nil {
		return nil, fmt.Errorf("dashboard: rules: %w", err)
	}
	d, err := dashboard.New(dashboard.Options{Engine: e, JetStream: js, Rules: set, RulesText: text,
		Token: c.HTTPToken, ReadOnly: c.DashboardReadOnly, Stop: ctx.Done(), Now: time.Now, Log: log})
	if err != nil {
		return nil, err
	}
	log.Info("dashboard", zap.String("url", dashboardURL(c)), zap.Bool("read_only", c.DashboardReadOnly))
	return dashboard.Mount(h, d), nil
}

// dashboardURL is where a browser finds the dashboard, "" when it is off.
func dashboardURL(c *config.Config) string {
	if !c.Dashboard || c.HTTPListen == "" {
		return ""
	}
	scheme := "http"
	if c.HTTPCert != "" {
		scheme = "https"
	}
	return scheme + "://" + c.HTTPListen + "/"
}
