package scorer_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// A state read back from its checkpoint holds no slack: decoding JSON
// grows slices by doubling, and restored states are most of a restarted
// daemon's memory.
func TestRestoreKeepsNoSlack(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	st := build(t, m, p, append(daily(0, 40, 50), ticket(3, "k1", signals.TicketOpened, "normal"),
		ticket(4, "k2", signals.TicketOpened, "normal"), ticket(5, "k3", signals.TicketOpened, "normal"))...)
	m.Evaluate(st, p, on(41))
	data, err := json.Marshal(st)
	require.NoError(t, err)
	var back scorer.State
	require.NoError(t, json.Unmarshal(data, &back))
	require.Greater(t, cap(back.Usage.C), len(back.Usage.C), "the test needs the decoder's slack")
	back.Restore()
	for name, s := range map[string][2]int{
		"usage":        {len(back.Usage.C), cap(back.Usage.C)},
		"active users": {len(back.ActiveUsers.C), cap(back.ActiveUsers.C)},
		"opened":       {len(back.Opened.C), cap(back.Opened.C)},
		"events":       {len(back.Events), cap(back.Events)},
		"fired":        {len(back.Fired), cap(back.Fired)},
	} {
		assert.Equal(t, s[0], s[1], "%s: length and capacity", name)
	}
	again, err := json.Marshal(&back)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again), "restoring changes no value")
}
