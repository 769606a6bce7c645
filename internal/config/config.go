// Package config is riskd's configuration: defaults, a YAML file
// (--config), RISKWATCH_* environment variables and flags, applied in that
// order so the later wins. Unknown keys and bad values are errors that name
// the file and line.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
	"go.yaml.in/yaml/v3"
)

// Config is everything riskd can be told.
type Config struct {
	DataDir    string  `yaml:"data_dir"`
	Rules      string  `yaml:"rules"`
	NATSListen string  `yaml:"nats_listen"`
	NATSURL    string  `yaml:"nats_url"`
	NATSCreds  string  `yaml:"nats_creds"`
	NATSNKey   string  `yaml:"nats_nkey"`
	NATSUser   string  `yaml:"nats_user"`
	NATSPass   string  `yaml:"nats_password"`
	NATSToken  string  `yaml:"nats_token"`
	NATSTLSCA  string  `yaml:"nats_tls_ca"`
	NATSCert   string  `yaml:"nats_tls_cert"`
	NATSKey    string  `yaml:"nats_tls_key"`
	HTTPListen string  `yaml:"http_listen"`
	HTTPToken  string  `yaml:"http_token"`
	HTTPCert   string  `yaml:"http_tls_cert"`
	HTTPKey    string  `yaml:"http_tls_key"`
	Demo       bool    `yaml:"demo"`
	DemoSpeed  float64 `yaml:"demo_speed"`
	LogLevel   string  `yaml:"log_level"`
	LogFormat  string  `yaml:"log_format"`

	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	SignalsMaxAge      time.Duration `yaml:"signals_max_age"`
	Replicas           int           `yaml:"replicas"`
	Partitions         int           `yaml:"partitions"`
	Instance           string        `yaml:"instance"`

	// The CSM dashboard on the HTTP listener (docs/dashboard.md).
	Dashboard         bool `yaml:"dashboard"`
	DashboardReadOnly bool `yaml:"dashboard_read_only"`

	Alerting Alerting  `yaml:"alerting"`
	Webhooks []Webhook `yaml:"webhooks"`

	// Connectors (connectors.go, docs/connectors.md).
	Hooks Hooks `yaml:"hooks"`
	Push  Push  `yaml:"push"`
	// Security: protected mode, roles, secret files, caps (security.go).
	Security `yaml:",inline"`
}

// Alerting is the alert policy block of the file.
type Alerting struct {
	Repeat   map[string]time.Duration `yaml:"repeat"`
	Cooldown time.Duration            `yaml:"cooldown"`
	// Budget is the raised customers per owner and day (nil: the default
	// 5; 0: no budget). Unclaimed is the time an at_risk or critical
	// alert may go unacknowledged before the owner's team hears of it
	// (0: never). See docs/alerting.md.
	Budget    *int                     `yaml:"budget"`
	Unclaimed map[string]time.Duration `yaml:"unclaimed"`
}

// Policy is the alert policy of the alerting block: the defaults with the
// file's repeat intervals and cooldown.
func (c *Config) Policy() (alerting.Policy, error) {
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
	if c.Alerting.Budget != nil {
		p.Budget = *c.Alerting.Budget
	}
	for k, d := range c.Alerting.Unclaimed {
		t, err := rules.ParseTier(k)
		if err != nil {
			return p, fmt.Errorf("alerting.unclaimed: %w", err)
		}
		p.Unclaimed[t] = d
	}
	return p, p.Validate()
}

// Defaults are the values with nothing configured.
func Defaults() Config {
	return Config{
		DataDir:            "./riskwatch-data",
		NATSListen:         "127.0.0.1:4222",
		HTTPListen:         "127.0.0.1:7070",
		LogLevel:           "info",
		LogFormat:          "console",
		DemoSpeed:          1,
		CheckpointInterval: 2 * time.Second,
		Replicas:           1,
		Dashboard:          true,
		SignalsMaxAge:      DefaultSignalsMaxAge,
		Security:           securityDefaults(),
	}
}

type setting struct {
	name  string
	help  string
	value flag.Value
}

func settings(c *Config) []setting {
	return append([]setting{
		{"config", "YAML config file; every flag is also a key (data-dir -> data_dir)", nil},
		{"data-dir", "where the embedded NATS keeps streams and state", (*stringValue)(&c.DataDir)},
		{"rules", "rule file (default: the built-in copy of configs/rules.yaml)", (*stringValue)(&c.Rules)},
		{"nats-listen", "embedded NATS client address; loopback unless you mean it", (*stringValue)(&c.NATSListen)},
		{"nats-url", "use this NATS instead of embedding one (env NATS_URL honoured)", (*stringValue)(&c.NATSURL)},
		{"nats-creds", "credentials file for --nats-url (env NATS_CREDS)", (*stringValue)(&c.NATSCreds)},
		{"nats-nkey", "nkey seed file for --nats-url (env NATS_NKEY)", (*stringValue)(&c.NATSNKey)},
		{"nats-user", "user for NATS; with the embedded server, required of its clients", (*stringValue)(&c.NATSUser)},
		{"nats-password", "password for --nats-user", (*stringValue)(&c.NATSPass)},
		{"nats-token", "token for NATS; with the embedded server, required of its clients", (*stringValue)(&c.NATSToken)},
		{"nats-tls-ca", "CA file: verify the external server, or require client certs on the embedded one", (*stringValue)(&c.NATSTLSCA)},
		{"nats-tls-cert", "TLS certificate: client cert for --nats-url, server cert for the embedded server", (*stringValue)(&c.NATSCert)},
		{"nats-tls-key", "TLS key matching --nats-tls-cert", (*stringValue)(&c.NATSKey)},
		{"http-listen", "HTTP API, metrics and health address; empty disables it", (*stringValue)(&c.HTTPListen)},
		{"http-token", "bearer token required on every HTTP request except /healthz and /readyz", (*stringValue)(&c.HTTPToken)},
		{"http-tls-cert", "serve HTTPS with this certificate", (*stringValue)(&c.HTTPCert)},
		{"http-tls-key", "key for --http-tls-cert", (*stringValue)(&c.HTTPKey)},
		{"demo", "run a simulated customer base and print the alerts", (*boolValue)(&c.Demo)},
		{"demo-speed", "demo: simulated days per real second / 2 (1 = a simulated day every 2 s)", (*floatValue)(&c.DemoSpeed)},
		{"log-level", "debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"log-format", "console or json", (*stringValue)(&c.LogFormat)},
		{"checkpoint-interval", "how often state is made durable; bounds what is replayed after a crash", (*durationValue)(&c.CheckpointInterval)},
		{"signals-max-age", "how long RISK_SIGNALS keeps messages (history for replays and backtests)", (*durationValue)(&c.SignalsMaxAge)},
		{"replicas", "stream replicas when joining a clustered NATS", (*intValue)(&c.Replicas)},
		{"partitions", "partitions of the customers, fixed when the group is first created: only then is this read " +
			"(default 1 with the embedded NATS, 16 with --nats-url; docs/scaling.md)", (*intValue)(&c.Partitions)},
		{"instance", "this riskd's name in its group, unique among its members (default: the host name)", (*stringValue)(&c.Instance)},
		{"dashboard", "serve the CSM web page at / on --http-listen (--dashboard=false turns it off)", (*boolValue)(&c.Dashboard)},
		{"dashboard-read-only", "the web page shows but cannot ack or snooze", (*boolValue)(&c.DashboardReadOnly)},
	}, securitySettings(c)...)
}

// InstanceName is Instance, or the host name, made a valid member name.
func (c *Config) InstanceName() string {
	name := c.Instance
	if name == "" {
		name, _ = os.Hostname()
	}
	if name == "" {
		name = "riskd"
	}
	return strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_").Replace(name)
}

// ErrVersion is what Load returns for --version: print the version, do
// nothing else.
var ErrVersion = errors.New("version asked for")

// EnvName is the environment variable of a flag: RISKWATCH_DATA_DIR.
func EnvName(flagName string) string {
	return "RISKWATCH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load builds the configuration from args (without the program name), the
// environment and the file named by --config. The FlagSet is returned for
// --help output.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet("riskd", flag.ContinueOnError)
	fs.SetOutput(usage)
	var file string
	for _, s := range settings(&c) {
		if s.value == nil {
			fs.StringVar(&file, s.name, "", s.help)
			continue
		}
		fs.Var(s.value, s.name, s.help+" (env "+EnvName(s.name)+")")
	}
	version := fs.Bool("version", false, "print riskd's version and exit")
	fs.Usage = func() { printUsage(fs, usage) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *version {
		return nil, ErrVersion
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (riskd takes only flags; see --help)", fs.Arg(0))
	}
	explicit := map[string]string{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })
	if file == "" {
		file = getenv("RISKWATCH_CONFIG")
	}
	c2 := Defaults()
	c = c2 // flag values point into c: reset in place
	if file != "" {
		if err := loadFile(file, &c); err != nil {
			return nil, err
		}
	}
	for _, s := range settings(&c) {
		if s.value == nil {
			continue
		}
		if v := getenv(EnvName(s.name)); v != "" {
			if err := fs.Set(s.name, v); err != nil {
				return nil, fmt.Errorf("%s=%q: %w", EnvName(s.name), v, err)
			}
		}
	}
	for name, v := range explicit {
		if err := fs.Set(name, v); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	if c.NATSURL == "" {
		c.NATSURL = getenv("NATS_URL")
	}
	if err := c.resolveSecrets(getenv); err != nil {
		return nil, err
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		if file != "" {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, err
	}
	return &c, nil
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `riskd: the Riskwatch churn-risk daemon.

It consumes signals from NATS (risk.signals.>), scores every customer with
the rule file, and publishes alerts on risk.alerts.<severity>.<owner>.<customer>.
By default it embeds a NATS server with JetStream (nothing to install).

Examples:
  riskd --demo                                  # a simulated customer base, alerts printed
  riskd --data-dir /var/lib/riskwatch           # production, embedded NATS on 127.0.0.1:4222
  riskd --nats-url nats://nats:4222 --nats-creds riskd.creds --rules rules.yaml
  riskd --config riskd.yaml                     # see configs/riskd.example.yaml

Settings come from defaults, then --config, then RISKWATCH_* variables,
then flags.

Flags:
`)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-20s %s%s\n", n, f.Usage, def)
	}
}

func loadFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(data) > 1<<20 {
		return fmt.Errorf("%s: %d bytes, a config file is at most 1 MiB", path, len(data))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	switch {
	case c.LogLevel != "debug" && c.LogLevel != "info" && c.LogLevel != "warn" && c.LogLevel != "error":
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	case c.LogFormat != "console" && c.LogFormat != "json":
		return fmt.Errorf("log_format %q: want console or json", c.LogFormat)
	case c.CheckpointInterval < 10*time.Millisecond || c.CheckpointInterval > time.Hour:
		return fmt.Errorf("checkpoint_interval %s: want 10ms to 1h", c.CheckpointInterval)
	case c.DemoSpeed <= 0 || c.DemoSpeed > 1000:
		return fmt.Errorf("demo_speed %v: want (0, 1000]", c.DemoSpeed)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("replicas %d: want 1 to 5", c.Replicas)
	case c.Partitions < 0 || c.Partitions > 256:
		return fmt.Errorf("partitions %d: want 1 to 256 (or 0 for the default)", c.Partitions)
	case c.NATSURL == "" && c.DataDir == "":
		return errors.New("data_dir is required for the embedded NATS")
	case (c.HTTPCert == "") != (c.HTTPKey == ""):
		return errors.New("http_tls_cert and http_tls_key go together")
	case (c.NATSCert == "") != (c.NATSKey == ""):
		return errors.New("nats_tls_cert and nats_tls_key go together")
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			return fmt.Errorf("nats_listen %q: %w", c.NATSListen, err)
		}
	}
	if c.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListen); err != nil {
			return fmt.Errorf("http_listen %q: %w", c.HTTPListen, err)
		}
	}
	for k, d := range c.Alerting.Repeat {
		if k != "watch" && k != "at_risk" && k != "critical" {
			return fmt.Errorf("alerting.repeat.%s: want watch, at_risk or critical", k)
		}
		if d < time.Minute {
			return fmt.Errorf("alerting.repeat.%s %s: at least 1m", k, d)
		}
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	if c.Alerting.Cooldown < 0 {
		return fmt.Errorf("alerting.cooldown %s is negative", c.Alerting.Cooldown)
	}
	if _, err := c.Policy(); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	names := map[string]bool{}
	for i, s := range c.Webhooks {
		if names[s.Name] {
			return fmt.Errorf("webhooks[%d]: a unique name is required, %q is used twice", i, s.Name)
		}
		names[s.Name] = true
		if err := s.Validate(); err != nil {
			return fmt.Errorf("webhooks[%d] %s: %w", i, s.Name, err)
		}
	}
	return c.validateConnectors()
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return err
}
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	*v = intValue(n)
	return err
}

type floatValue float64

func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	*v = floatValue(f)
	return err
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	*v = durationValue(d)
	return err
}
