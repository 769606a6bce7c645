package client

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFromEnvFillsOnlyEmptyFields(t *testing.T) {
	t.Setenv("NATS_URL", "nats://env:4222")
	t.Setenv("NATS_CREDS", "/env.creds")
	t.Setenv("NATS_USER", "envuser")
	o := Options{Creds: "/flag.creds"}.FromEnv()
	assert.Equal(t, "nats://env:4222", o.URL)
	assert.Equal(t, "/flag.creds", o.Creds, "a flag wins over the environment")
	assert.Equal(t, "envuser", o.User)
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "nats://***@host:4222", RedactURL("nats://user:pass@host:4222"))
	assert.Equal(t, "nats://host:4222", RedactURL("nats://host:4222"))
	assert.Equal(t, "nats://h1:4222,nats://***@h2", RedactURL("nats://h1:4222,nats://u:p@h2"))
}
