package broker

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestEmbeddedRefusesAnEmptyHost(t *testing.T) {
	_, err := StartEmbedded(EmbeddedOptions{Listen: ":4222", StoreDir: t.TempDir()}, nil)
	require.ErrorContains(t, err, "has no host")
	_, err = StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0"}, nil)
	require.ErrorContains(t, err, "store directory")
}

func TestEmbeddedListensOnLoopbackWithJetStream(t *testing.T) {
	s, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, zap.NewNop())
	require.NoError(t, err)
	defer s.Shutdown()
	assert.Contains(t, s.ClientURL(), "127.0.0.1:")
	assert.True(t, s.JetStreamEnabled())
	nc, err := Connect(ClientOptions{URL: s.ClientURL()})
	require.NoError(t, err)
	nc.Close()
}

func TestEmbeddedTokenAndUserAuth(t *testing.T) {
	cases := []struct {
		name    string
		server  EmbeddedOptions
		good    ClientOptions
		badOpts []nats.Option
	}{
		{"token", EmbeddedOptions{Token: "s3cret"}, ClientOptions{Token: "s3cret"}, []nats.Option{nats.Token("wrong")}},
		{"user", EmbeddedOptions{User: "riskd", Password: "pw"}, ClientOptions{User: "riskd", Password: "pw"}, []nats.Option{nats.UserInfo("riskd", "nope")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.server
			o.Listen, o.StoreDir = "127.0.0.1:0", t.TempDir()
			s, err := StartEmbedded(o, nil)
			require.NoError(t, err)
			defer s.Shutdown()
			c.good.URL = s.ClientURL()
			nc, err := Connect(c.good)
			require.NoError(t, err)
			nc.Close()
			_, err = nats.Connect(s.ClientURL(), c.badOpts...)
			require.Error(t, err, "wrong credentials must be refused")
			_, err = nats.Connect(s.ClientURL())
			require.Error(t, err, "anonymous must be refused")
			// The in-process connection authenticates like any client.
			inproc, err := ConnectEmbedded(s, c.good)
			require.NoError(t, err)
			inproc.Close()
		})
	}
}

func TestFromEnvFillsOnlyEmptyFields(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env:4222")
	t.Setenv("NATS_CREDS", "/env.creds")
	t.Setenv("NATS_USER", "envuser")
	o := ClientOptions{Creds: "/flag.creds"}.FromEnv()
	assert.Equal(t, "nats://env:4222", o.URL)
	assert.Equal(t, "/flag.creds", o.Creds, "a flag wins over the environment")
	assert.Equal(t, "envuser", o.User)
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "nats://***@host:4222", redactURL("nats://user:pass@host:4222"))
	assert.Equal(t, "nats://host:4222", redactURL("nats://host:4222"))
	assert.Equal(t, "nats://h1:4222,nats://***@h2", redactURL("nats://h1:4222,nats://u:p@h2"))
}
