package logging

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLimitedLetsOneLinePerKeyAndPeriod(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	l := NewLimited(zap.New(core), time.Hour)
	for range 3 {
		l.Warn("a", "first")
		l.Warn("b", "second")
	}
	assert.Equal(t, 2, logs.Len(), "one line per key")
	t0 := time.Now()
	assert.False(t, l.allow("a", t0.Add(time.Minute)))
	assert.True(t, l.allow("a", t0.Add(2*time.Hour)), "again once the period has passed")
}

func TestLimitedForgetsPastItsBound(t *testing.T) {
	l := NewLimited(zap.NewNop(), time.Hour)
	now := time.Now()
	for i := range maxKeys {
		assert.True(t, l.allow(string(rune(i+1000)), now))
	}
	assert.False(t, l.allow(string(rune(1000)), now))
	assert.True(t, l.allow("new", now), "a new key past the bound clears the memory")
	assert.Len(t, l.last, 1)
	assert.True(t, l.allow(string(rune(1000)), now), "and lets the old keys through again")
}
