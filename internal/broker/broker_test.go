package broker

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/riskwatch/riskwatch/api/client"
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
	nc, err := client.Connect(client.Options{URL: s.ClientURL()})
	require.NoError(t, err)
	nc.Close()
}

func TestEmbeddedTokenAndUserAuth(t *testing.T) {
	cases := []struct {
		name    string
		server  EmbeddedOptions
		good    client.Options
		badOpts []nats.Option
	}{
		{"token", EmbeddedOptions{Token: "s3cret"}, client.Options{Token: "s3cret"}, []nats.Option{nats.Token("wrong")}},
		{"user", EmbeddedOptions{User: "riskd", Password: "pw"}, client.Options{User: "riskd", Password: "pw"}, []nats.Option{nats.UserInfo("riskd", "nope")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.server
			o.Listen, o.StoreDir = "127.0.0.1:0", t.TempDir()
			s, err := StartEmbedded(o, nil)
			require.NoError(t, err)
			defer s.Shutdown()
			c.good.URL = s.ClientURL()
			nc, err := client.Connect(c.good)
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
