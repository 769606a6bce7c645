package logging

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// Limited logs warnings at most once per key and period, so that a flood
// of one bad input, or an outage retried every second, does not flood the
// log. Keys come from a small set (reasons, rules, operations).
type Limited struct {
	log    *zap.Logger
	period time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

// maxKeys bounds what Limited remembers: past it, it forgets and the next
// line of each key is let through again.
const maxKeys = 1000

// NewLimited lets one line per key through per period.
func NewLimited(log *zap.Logger, period time.Duration) *Limited {
	return &Limited{log: log, period: period, last: map[string]time.Time{}}
}

// Warn logs msg with fields unless a line of key was logged within the
// period.
func (l *Limited) Warn(key, msg string, fields ...zap.Field) {
	if l.allow(key, time.Now()) {
		l.log.Warn(msg, fields...)
	}
}

func (l *Limited) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		return false
	}
	if len(l.last) >= maxKeys {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
