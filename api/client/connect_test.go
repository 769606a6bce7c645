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
	assert.Equal(t, "***@h:4222", RedactURL("u:p@h:4222"), "no scheme")
	assert.Equal(t, "h1:4222,***@h2:4222", RedactURL("h1:4222, tok3n@h2:4222"))
	assert.Equal(t, "tls://***@h", RedactURL("tls://p@ss:w@rd@h"), "an @ in the password")
}
