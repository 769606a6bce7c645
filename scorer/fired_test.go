package scorer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFiringHistory(t *testing.T) {
	d := func(n int64) int64 { return 1_000*day + n*day }
	var f Firing
	for _, n := range []int64{0, 1, 2, 5, 9} {
		f.add(d(n))
	}
	assert.Equal(t, d(9), f.At)
	assert.Equal(t, uint64(1|1<<4|1<<7|1<<8|1<<9), f.Mask, "days 9, 5, 2, 1, 0 from 9")
	for _, tc := range []struct{ t, want int64 }{
		{d(9), d(9)}, {d(8), d(5)}, {d(5), d(5)}, {d(4), d(2)}, {d(0), d(0)}, {d(-1), 0},
	} {
		assert.Equal(t, tc.want, f.asOf(tc.t), "as of day %d", (tc.t-d(0))/day)
	}

	g := f
	g.rollback(d(6))
	assert.Equal(t, Firing{At: d(5), Mask: 1 | 1<<3 | 1<<4 | 1<<5}, g, "the days after 6 are gone")
	g.add(d(7))
	assert.Equal(t, d(7), g.At)
	assert.Equal(t, d(5), g.asOf(d(6)))
	g.rollback(d(-1))
	assert.Zero(t, g.At, "nothing left before the first firing")

	// Days that leave the 64-day mask are remembered as the prior one.
	var h Firing
	h.add(d(0))
	h.add(d(3))
	h.add(d(66))
	assert.Equal(t, d(0), h.Prior, "day 0 left the 64 days of the mask, day 3 did not")
	assert.Equal(t, uint64(1|1<<63), h.Mask)
	assert.Equal(t, d(3), h.asOf(d(65)))
	assert.Equal(t, d(0), h.asOf(d(2)))
	h.rollback(d(40))
	assert.Equal(t, Firing{At: d(3), Mask: 1, Prior: d(0)}, h)
	h.rollback(d(1))
	assert.Equal(t, Firing{At: d(0), Mask: 1}, h, "back to the prior firing")
	var far Firing
	far.add(d(0))
	far.add(d(200))
	assert.Equal(t, d(0), far.Prior)
	assert.Equal(t, d(0), far.asOf(d(199)))
}

func TestClosedTiersShiftByDays(t *testing.T) {
	var st State
	st.pushTiers(1, 2)
	st.pushTiers(2, 3)
	assert.Equal(t, uint64(3), st.closedTier())
	assert.Equal(t, uint64(2<<4|3), st.ClosedTiers, "two days later: the day before is 0, three days back is 2")
	st.pushTiers(40, 1)
	assert.Equal(t, uint64(1), st.ClosedTiers, "a month and more forgets the rest")
}
