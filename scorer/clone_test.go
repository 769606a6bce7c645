package scorer_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// A clone is a snapshot: scoring the original afterwards, with signals of
// every kind, changes nothing in the clone.
func TestCloneIsASnapshot(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := daily(0, 40, 50)
	for i := range 60 { // more than the event list keeps: some go to Before
		sigs = append(sigs, ticket(float64(i)/2+0.1, fmt.Sprintf("k%d", i), signals.TicketOpened, "normal"))
	}
	sigs = append(sigs, nps(3, 6), nps(20, 9), contact(5), champion(6, "left"), rating(7, "red"),
		renewed(8, on(400).Format("2006-01-02")))
	st := build(t, m, p, sigs...)
	m.Evaluate(st, p, on(41))
	require.NotNil(t, st.Before, "the test needs values kept aside")
	require.NotEmpty(t, st.Fired, "the test needs firings")

	clone := st.Clone()
	snap, err := json.Marshal(clone)
	require.NoError(t, err)
	orig, err := json.Marshal(st)
	require.NoError(t, err)
	require.JSONEq(t, string(orig), string(snap), "a clone starts equal")

	more := []signals.Signal{usage(41.2, 90), usageUsers(41.3, 5, 40), ticket(41.4, "k2", signals.TicketEscalated, "urgent"),
		nps(41.5, 2), commercial(41.6, signals.DiscountRequest, nil), billing(41.7, "payment_failed"),
		contact(41.8), champion(41.9, "added"), rating(42, "green"), usage(45, 10)}
	for i := range more {
		s := more[i]
		s.ID, s.Customer = fmt.Sprintf("more-%d", i), "acme"
		require.NoError(t, m.Apply(st, &s, p))
		m.Evaluate(st, p, s.Time)
	}
	after, err := json.Marshal(clone)
	require.NoError(t, err)
	assert.Equal(t, string(snap), string(after), "scoring the original changed the clone")
	changed, err := json.Marshal(st)
	require.NoError(t, err)
	assert.NotEqual(t, string(snap), string(changed), "the original moved on")
}

// Every slice, map and pointer a state holds is its own in a clone, so a
// field added to State without a copy in Clone fails here.
func TestCloneSharesNoMemory(t *testing.T) {
	m := defaultModel(t)
	p := profile()
	sigs := daily(0, 10, 50)
	for i := range 60 {
		sigs = append(sigs, ticket(float64(i)/6+0.1, fmt.Sprintf("k%d", i), signals.TicketOpened, "normal"))
	}
	st := build(t, m, p, append(sigs, nps(3, 6), nps(4, 9), rating(5, "red"))...)
	m.Evaluate(st, p, on(11))
	checked := sharesNothing(t, "State", reflect.ValueOf(st).Elem(), reflect.ValueOf(st.Clone()).Elem())
	assert.GreaterOrEqual(t, checked, 5, "rings, events, firings and the values kept aside are references")
}

// sharesNothing walks a and b (the same type) and fails on any non-empty
// slice, map or pointer that both point at; it returns how many it checked.
func sharesNothing(t *testing.T, path string, a, b reflect.Value) int {
	t.Helper()
	n := 0
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() > 0 {
			n++
			assert.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
		}
		if a.Type().Elem().Kind() == reflect.Struct {
			for i := range min(a.Len(), b.Len()) {
				n += sharesNothing(t, fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i))
			}
		}
	case reflect.Map, reflect.Pointer:
		if !a.IsNil() {
			n++
			assert.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared", path)
			if a.Kind() == reflect.Pointer {
				n += sharesNothing(t, path, a.Elem(), b.Elem())
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			n += sharesNothing(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	}
	return n
}

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
