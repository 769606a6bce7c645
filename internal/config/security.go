package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Security holds what guards riskd and bounds what it keeps: protected
// mode, the NATS roles, secrets read from files, and the caps on streams,
// store and customers (docs/security.md). It is inlined in Config: its
// keys are top-level keys of the file.
type Security struct {
	Insecure      bool     `yaml:"insecure"`
	NATSAnonymous bool     `yaml:"nats_anonymous"`
	NATSCSMOwners []string `yaml:"nats_csm_owners"`
	NATSPassFile  string   `yaml:"nats_password_file"`
	NATSTokenFile string   `yaml:"nats_token_file"`
	HTTPTokenFile string   `yaml:"http_token_file"`

	MaxCustomers    int           `yaml:"max_customers"`
	NATSMaxStore    ByteSize      `yaml:"nats_max_store"`
	SignalsMaxBytes ByteSize      `yaml:"signals_max_bytes"`
	AlertsMaxAge    time.Duration `yaml:"alerts_max_age"`
	AlertsMaxBytes  ByteSize      `yaml:"alerts_max_bytes"`
	DLQMaxAge       time.Duration `yaml:"dlq_max_age"`
	DLQMaxBytes     ByteSize      `yaml:"dlq_max_bytes"`
	StateMaxBytes   ByteSize      `yaml:"state_max_bytes"`
}

// Default bounds. The streams' caps add up to 27 GiB, under the embedded
// store's 32 GiB, which leaves room for the profiles bucket (bounded by
// max_customers, not by a cap: a full bucket would refuse writes and stop
// checkpoints). Two years of signals is more history than a backtest
// needs. 2 M customers take about 4 GiB of memory (docs/performance.md).
const (
	DefaultSignalsMaxAge   = 2 * 365 * 24 * time.Hour
	DefaultMaxCustomers    = 2_000_000
	DefaultNATSMaxStore    = 32 << 30
	DefaultSignalsMaxBytes = 16 << 30
	DefaultAlertsMaxAge    = 400 * 24 * time.Hour
	DefaultAlertsMaxBytes  = 2 << 30
	DefaultDLQMaxAge       = 30 * 24 * time.Hour
	DefaultDLQMaxBytes     = 1 << 30
	DefaultStateMaxBytes   = 8 << 30
)

func securityDefaults() Security {
	return Security{NATSAnonymous: true, MaxCustomers: DefaultMaxCustomers, NATSMaxStore: DefaultNATSMaxStore,
		SignalsMaxBytes: DefaultSignalsMaxBytes, AlertsMaxAge: DefaultAlertsMaxAge, AlertsMaxBytes: DefaultAlertsMaxBytes,
		DLQMaxAge: DefaultDLQMaxAge, DLQMaxBytes: DefaultDLQMaxBytes, StateMaxBytes: DefaultStateMaxBytes}
}

func securitySettings(c *Config) []setting {
	s := &c.Security
	return []setting{
		{"insecure", "accept a NATS or HTTP listener beyond loopback without TLS (and HTTP without a token): labs only", (*boolValue)(&s.Insecure)},
		{"nats-anonymous", "embedded NATS on loopback: let clients without credentials in with every right (never beyond loopback)", (*boolValue)(&s.NATSAnonymous)},
		{"nats-csm-owners", "embedded NATS: comma-separated owners who get a CSM user csm-<owner> that acks and snoozes only their customers", (*listValue)(&s.NATSCSMOwners)},
		{"nats-password-file", "read --nats-password from this file", (*stringValue)(&s.NATSPassFile)},
		{"nats-token-file", "read --nats-token from this file", (*stringValue)(&s.NATSTokenFile)},
		{"http-token-file", "read --http-token from this file", (*stringValue)(&s.HTTPTokenFile)},
		{"max-customers", "customers (and profiles) riskd keeps; a new one beyond it goes to the DLQ with reason capacity", (*intValue)(&s.MaxCustomers)},
		{"nats-max-store", "embedded NATS: cap of the JetStream file store (e.g. 32GiB)", (*ByteSize)(&s.NATSMaxStore)},
		{"signals-max-bytes", "cap of stream RISK_SIGNALS; the oldest messages go first", (*ByteSize)(&s.SignalsMaxBytes)},
		{"alerts-max-age", "how long RISK_ALERTS keeps alerts and digests", (*durationValue)(&s.AlertsMaxAge)},
		{"alerts-max-bytes", "cap of stream RISK_ALERTS; the oldest go first", (*ByteSize)(&s.AlertsMaxBytes)},
		{"dlq-max-age", "how long RISK_DLQ keeps rejected input", (*durationValue)(&s.DLQMaxAge)},
		{"dlq-max-bytes", "cap of stream RISK_DLQ; the oldest go first", (*ByteSize)(&s.DLQMaxBytes)},
		{"state-max-bytes", "cap of stream RISK_STATE (checkpoints); when full a checkpoint fails rather than lose one", (*ByteSize)(&s.StateMaxBytes)},
	}
}

// maxSecretFile bounds a secret file: a token or password, not a document.
const maxSecretFile = 4 << 10

// readSecretFiles fills each secret from its _file setting. A secret
// given both ways is an error: which one wins would be a guess.
func (c *Config) readSecretFiles() error {
	for _, s := range []struct {
		name   string
		file   string
		secret *string
	}{
		{"nats_password", c.NATSPassFile, &c.NATSPass},
		{"nats_token", c.NATSTokenFile, &c.NATSToken},
		{"http_token", c.HTTPTokenFile, &c.HTTPToken},
	} {
		if s.file == "" {
			continue
		}
		if *s.secret != "" {
			return fmt.Errorf("%s and %s_file are both set: give one", s.name, s.name)
		}
		v, err := readSecretFile(s.file)
		if err != nil {
			return fmt.Errorf("%s_file: %w", s.name, err)
		}
		*s.secret = v
	}
	return nil
}

// readSecretFile reads a secret of riskd's own (a password, a token) from
// path: at most maxSecretFile bytes, trailing newlines dropped.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, maxSecretFile+1)
	n, err := f.Read(buf)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if n > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d bytes: not a secret", path, maxSecretFile)
	}
	v := strings.TrimRight(string(buf[:n]), "\r\n")
	if v == "" || strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("%s: want one line holding the secret", path)
	}
	return v, nil
}

// IsLoopback reports whether a listen address reaches this machine only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateSecurity is protected mode and the bounds' sanity.
func (c *Config) validateSecurity() error {
	s := &c.Security
	if c.NATSURL == "" && !IsLoopback(c.NATSListen) && !s.Insecure && c.NATSCert == "" {
		return fmt.Errorf("protected mode: nats_listen %s is beyond loopback without TLS, so the roles' passwords would "+
			"cross the network in clear text. Give --nats-tls-cert and --nats-tls-key (clients then use tls:// and the "+
			"passwords in <data-dir>/auth; docs/security.md), listen on 127.0.0.1, or pass --insecure for a lab", c.NATSListen)
	}
	if c.HTTPListen != "" && !IsLoopback(c.HTTPListen) && !s.Insecure && (c.HTTPToken == "" || c.HTTPCert == "") {
		return fmt.Errorf("protected mode: http_listen %s is beyond loopback without a token and TLS. Give --http-token "+
			"(or --http-token-file) and --http-tls-cert/--http-tls-key (docs/security.md), listen on 127.0.0.1, or pass "+
			"--insecure for a lab", c.HTTPListen)
	}
	if c.NATSURL != "" && len(s.NATSCSMOwners) > 0 {
		return errors.New("nats_csm_owners configures the embedded NATS: with nats_url, add CSM users to that server (configs/nats-server.conf)")
	}
	for _, o := range s.NATSCSMOwners {
		if len(o) == 0 || len(o) > 64 || strings.Trim(o, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return fmt.Errorf("nats_csm_owners %q: want 1-64 of [A-Za-z0-9_-], the owner as in profiles", o)
		}
	}
	if s.MaxCustomers < 1 || s.MaxCustomers > 1_000_000_000 {
		return fmt.Errorf("max_customers %d: want 1 to 1000000000", s.MaxCustomers)
	}
	caps := []struct {
		name string
		v    ByteSize
	}{{"signals_max_bytes", s.SignalsMaxBytes}, {"alerts_max_bytes", s.AlertsMaxBytes}, {"dlq_max_bytes", s.DLQMaxBytes},
		{"state_max_bytes", s.StateMaxBytes}}
	var sum ByteSize
	for _, cp := range caps {
		if cp.v < 1<<20 {
			return fmt.Errorf("%s %s: at least 1MiB", cp.name, cp.v)
		}
		sum += cp.v
	}
	for _, a := range []struct {
		name string
		v    time.Duration
	}{{"signals_max_age", c.SignalsMaxAge}, {"alerts_max_age", s.AlertsMaxAge}, {"dlq_max_age", s.DLQMaxAge}} {
		if a.v < 24*time.Hour {
			return fmt.Errorf("%s %s: at least 24h (the streams keep nothing forever, and remember message ids for 2h)", a.name, a.v)
		}
	}
	if c.NATSURL == "" && s.NATSMaxStore < sum {
		return fmt.Errorf("nats_max_store %s is less than the streams' caps together (%s): raise it or lower them", s.NATSMaxStore, sum)
	}
	return nil
}

// ByteSize is a size in bytes, written as a number with an optional unit:
// 512MiB, 20GB, 1TiB (KB, MB, GB, TB are powers of 1000).
type ByteSize int64

var units = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

// ParseByteSize reads a ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit, such as 512MiB or 20GB", s)
	}
	return ByteSize(n * mult), nil
}

func (b ByteSize) String() string {
	for i := 3; i >= 0; i-- {
		if int64(b) >= units[i].mult && int64(b)%units[i].mult == 0 {
			return strconv.FormatInt(int64(b)/units[i].mult, 10) + units[i].suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set parses a flag or environment value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	*b = v
	return err
}

// UnmarshalYAML reads a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// listValue is a comma-separated list.
type listValue []string

func (v *listValue) String() string { return strings.Join(*v, ",") }
func (v *listValue) Set(s string) error {
	*v = nil
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*v = append(*v, p)
		}
	}
	return nil
}
