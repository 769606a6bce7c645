package scorer

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDayRing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps func(r *dayRing[uint8])
		check func(t *testing.T, r *dayRing[uint8])
	}{{
		name: "a sum is the same in any order",
		steps: func(r *dayRing[uint8]) {
			r.add(12, 3)
			r.add(10, 1)
			r.add(11, 2)
		},
		check: func(t *testing.T, r *dayRing[uint8]) {
			assert.Equal(t, uint64(6), r.sum(10, 12))
			assert.Equal(t, uint64(3), r.sum(11, 11)+r.sum(10, 10))
			assert.Equal(t, int32(12), r.Top)
		},
	}, {
		name: "counters saturate",
		steps: func(r *dayRing[uint8]) {
			r.add(5, 200)
			r.add(5, 200)
		},
		check: func(t *testing.T, r *dayRing[uint8]) {
			assert.Equal(t, uint64(255), r.get(5))
		},
	}, {
		name: "advancing clears the days passed over",
		steps: func(r *dayRing[uint8]) {
			r.add(1, 1)
			r.add(2, 2)
			r.add(6, 6) // day 1 leaves a 5-day ring
		},
		check: func(t *testing.T, r *dayRing[uint8]) {
			assert.Zero(t, r.get(1))
			assert.Equal(t, uint64(2), r.get(2))
			assert.Equal(t, uint64(8), r.sum(0, 10))
		},
	}, {
		name: "a day that has left the ring is ignored",
		steps: func(r *dayRing[uint8]) {
			r.add(20, 1)
			r.add(15, 9)
			r.max(14, 9)
		},
		check: func(t *testing.T, r *dayRing[uint8]) {
			assert.Equal(t, uint64(1), r.sum(0, 30))
		},
	}, {
		name: "max keeps the largest value of the day",
		steps: func(r *dayRing[uint8]) {
			r.max(3, 4)
			r.max(3, 9)
			r.max(3, 2)
		},
		check: func(t *testing.T, r *dayRing[uint8]) {
			assert.Equal(t, uint64(9), r.get(3))
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newDayRing[uint8](5)
			tc.steps(&r)
			tc.check(t, &r)
		})
	}
}

func TestDayRingLeavingAndResize(t *testing.T) {
	r := newDayRing[uint8](5)
	_, ok := r.leaving(3)
	assert.False(t, ok, "an empty ring loses nothing")
	r.add(1, 1)
	r.add(3, 3)
	r.add(4, 4)
	d, ok := r.leaving(7) // days 1 and 2 leave
	assert.True(t, ok)
	assert.Equal(t, int32(1), d)
	d, ok = r.leaving(9) // days 1 to 4 leave
	assert.True(t, ok)
	assert.Equal(t, int32(4), d)
	_, ok = r.leaving(4)
	assert.False(t, ok, "not advancing loses nothing")

	grown := r
	_, ok = grown.resize(8)
	assert.False(t, ok)
	assert.Len(t, grown.C, 8)
	assert.Equal(t, uint64(8), grown.sum(0, 10), "growing keeps every day")
	grown.add(8, 8)
	assert.Equal(t, uint64(1), grown.get(1), "and the larger ring keeps day 1 when day 8 arrives")

	shrunk := r
	d, ok = shrunk.resize(2)
	assert.True(t, ok)
	assert.Equal(t, int32(1), d, "the latest day that did not fit")
	assert.Equal(t, uint64(7), shrunk.sum(0, 10))
}
