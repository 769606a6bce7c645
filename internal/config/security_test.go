package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultsAreBounded(t *testing.T) {
	c, err := Load(nil, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Positive(t, c.SignalsMaxAge, "RISK_SIGNALS is not kept forever")
	assert.Positive(t, c.AlertsMaxAge)
	assert.Positive(t, c.DLQMaxAge)
	for _, b := range []ByteSize{c.SignalsMaxBytes, c.AlertsMaxBytes, c.DLQMaxBytes, c.StateMaxBytes} {
		assert.Positive(t, b)
	}
	assert.GreaterOrEqual(t, c.NATSMaxStore, c.SignalsMaxBytes+c.AlertsMaxBytes+c.DLQMaxBytes+c.StateMaxBytes)
	assert.Equal(t, DefaultMaxCustomers, c.MaxCustomers)
	assert.True(t, c.NATSAnonymous, "anonymous on loopback keeps the README's first steps working")
	assert.False(t, c.Insecure)
}

// TestProtectedMode: beyond loopback, NATS needs TLS (its clients use the
// roles' passwords) and HTTP a token and TLS, unless --insecure.
func TestProtectedMode(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"defaults", nil, ""},
		{"nats on all interfaces", []string{"--nats-listen", "0.0.0.0:4222"}, "nats_listen 0.0.0.0:4222 is beyond loopback without TLS"},
		{"nats on a LAN address", []string{"--nats-listen", "10.1.2.3:4222"}, "--nats-tls-cert"},
		{"nats with TLS", []string{"--nats-listen", "0.0.0.0:4222", "--nats-tls-cert", "c.pem", "--nats-tls-key", "k.pem"}, ""},
		{"nats insecure lab", []string{"--nats-listen", "0.0.0.0:4222", "--insecure"}, ""},
		{"nats on localhost", []string{"--nats-listen", "localhost:4222"}, ""},
		{"nats on ::1", []string{"--nats-listen", "[::1]:4222"}, ""},
		{"external nats, listen ignored", []string{"--nats-url", "nats://n:4222", "--nats-listen", "0.0.0.0:4222"}, ""},
		{"http on all interfaces", []string{"--http-listen", "0.0.0.0:7070"}, "http_listen 0.0.0.0:7070 is beyond loopback without a token and TLS"},
		{"http with a token only", []string{"--http-listen", "0.0.0.0:7070", "--http-token", "t0ken-t0ken-t0ken"}, "--http-tls-cert"},
		{"http with TLS only", []string{"--http-listen", "0.0.0.0:7070", "--http-tls-cert", "c", "--http-tls-key", "k"}, "--http-token"},
		{"http with both", []string{"--http-listen", "0.0.0.0:7070", "--http-token", "t", "--http-tls-cert", "c", "--http-tls-key", "k"}, ""},
		{"http insecure lab", []string{"--http-listen", "0.0.0.0:7070", "--insecure"}, ""},
		{"http off", []string{"--http-listen", ""}, ""},
		{"csm owners", []string{"--nats-csm-owners", "alice, bob"}, ""},
		{"a bad csm owner", []string{"--nats-csm-owners", "alice,a.b"}, `nats_csm_owners "a.b"`},
		{"csm owners with external nats", []string{"--nats-url", "nats://n:4222", "--nats-csm-owners", "alice"}, "embedded NATS"},
		{"no customers", []string{"--max-customers", "0"}, "max_customers 0"},
		{"signals forever", []string{"--signals-max-age", "0"}, "signals_max_age 0s: at least 24h"},
		{"tiny stream", []string{"--dlq-max-bytes", "1KiB"}, "dlq_max_bytes 1KiB: at least 1MiB"},
		{"store under the streams", []string{"--nats-max-store", "1GiB"}, "nats_max_store 1GiB is less than"},
		{"store under the streams, external", []string{"--nats-url", "nats://n:4222", "--nats-max-store", "1GiB"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(nil), &bytes.Buffer{})
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
	c, err := Load([]string{"--nats-csm-owners", "alice, bob,"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", "bob"}, c.NATSCSMOwners)
}

// TestSecretFiles: every secret has a _file variant, from a flag, the
// environment or the config file, so that it needs not be in ps output.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s3cr3t-from-file\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("x", 5000)), 0o600))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		get  func(*Config) string
		err  string
	}{
		{"http token from a flag", []string{"--http-token-file", secret}, nil, "", func(c *Config) string { return c.HTTPToken }, ""},
		{"http token from the environment", nil, map[string]string{"RISKWATCH_HTTP_TOKEN_FILE": secret}, "", func(c *Config) string { return c.HTTPToken }, ""},
		{"nats password from the file", nil, nil, "nats_password_file: " + secret + "\n", func(c *Config) string { return c.NATSPass }, ""},
		{"nats token", []string{"--nats-token-file", secret, "--nats-url", "nats://n:4222"}, nil, "", func(c *Config) string { return c.NATSToken }, ""},
		{"both ways", []string{"--http-token", "x", "--http-token-file", secret}, nil, "", nil, "http_token and http_token_file are both set"},
		{"missing file", []string{"--http-token-file", filepath.Join(dir, "nope")}, nil, "", nil, "http_token_file"},
		{"empty file", []string{"--http-token-file", empty}, nil, "", nil, "want one line"},
		{"not a secret", []string{"--nats-password-file", big}, nil, "", nil, "larger than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			c, err := Load(args, env(tt.env), &bytes.Buffer{})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				assert.NotContains(t, err.Error(), "s3cr3t", "no secret in an error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "s3cr3t-from-file", tt.get(c))
		})
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"0", 0, false}, {"512", 512, false}, {"1KiB", 1024, false}, {"20GB", 20e9, false}, {"16GiB", 16 << 30, false},
		{"3 MiB", 3 << 20, false}, {"7B", 7, false}, {"1TiB", 1 << 40, false},
		{"", 0, true}, {"-1", 0, true}, {"1.5GB", 0, true}, {"GB", 0, true}, {"12XB", 0, true}, {"9999999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		back, err := ParseByteSize(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "String is read back")
	}
	file := writeFile(t, "signals_max_bytes: 2GiB\nalerts_max_bytes: 1073741824\n")
	c, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, ByteSize(2<<30), c.SignalsMaxBytes)
	assert.Equal(t, ByteSize(1<<30), c.AlertsMaxBytes)
	_, err = Load([]string{"--config", writeFile(t, "\n\nsignals_max_bytes: lots\n")}, env(nil), &bytes.Buffer{})
	require.ErrorContains(t, err, "line 3")
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"1KiB", "20GB", "0", "-1", "9223372036854775807", "1 TiB", "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("%q: negative %d", s, b)
		}
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Fatalf("%q: %d prints as %q, read back as %d (%v)", s, b, b.String(), back, err)
		}
	})
}
