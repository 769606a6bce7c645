package scorer

// dayRing holds one counter per day for the last len(c) days up to Top,
// indexed by absolute day number (days since the Unix epoch). A sum over a
// window of days is the same whatever order the days were added in.
type dayRing[T uint8 | uint16 | uint32] struct {
	Top int32 `json:"top"`
	C   []T   `json:"c"`
}

func newDayRing[T uint8 | uint16 | uint32](days int) dayRing[T] {
	return dayRing[T]{Top: -1 << 30, C: make([]T, days)}
}

func (r *dayRing[T]) slot(day int32) int {
	n := int32(len(r.C))
	return int(((day % n) + n) % n)
}

// advance moves Top to day, clearing the days it passes over.
func (r *dayRing[T]) advance(day int32) {
	if day <= r.Top {
		return
	}
	n := int32(len(r.C))
	if day-r.Top >= n {
		clear(r.C)
	} else {
		for d := r.Top + 1; d <= day; d++ {
			r.C[r.slot(d)] = 0
		}
	}
	r.Top = day
}

// add adds v to day, saturating. A day that has already left the ring is
// ignored: the lateness window is much shorter than any ring.
func (r *dayRing[T]) add(day int32, v uint64) {
	r.advance(day)
	if day <= r.Top-int32(len(r.C)) {
		return
	}
	i := r.slot(day)
	sum := uint64(r.C[i]) + v
	if maxT := uint64(^T(0)); sum > maxT {
		sum = maxT
	}
	r.C[i] = T(sum)
}

// max keeps the largest value seen on day.
func (r *dayRing[T]) max(day int32, v uint64) {
	r.advance(day)
	if day <= r.Top-int32(len(r.C)) {
		return
	}
	if maxT := uint64(^T(0)); v > maxT {
		v = maxT
	}
	if i := r.slot(day); T(v) > r.C[i] {
		r.C[i] = T(v)
	}
}

func (r *dayRing[T]) get(day int32) uint64 {
	if day > r.Top || day <= r.Top-int32(len(r.C)) {
		return 0
	}
	return uint64(r.C[r.slot(day)])
}

// sum adds the days from..to inclusive.
func (r *dayRing[T]) sum(from, to int32) uint64 {
	var s uint64
	for d := from; d <= to; d++ {
		s += r.get(d)
	}
	return s
}

// leaving reports the latest non-zero day that advancing to day would
// clear.
func (r *dayRing[T]) leaving(day int32) (int32, bool) {
	n := int32(len(r.C))
	if day <= r.Top || n == 0 {
		return 0, false
	}
	oldest := r.Top - n + 1
	for d := min(r.Top, day-n); d >= oldest; d-- {
		if r.C[r.slot(d)] != 0 {
			return d, true
		}
	}
	return 0, false
}

// resize changes the ring to n days ending at Top, keeping the days that
// fit, and reports the latest non-zero day that did not.
func (r *dayRing[T]) resize(n int) (int32, bool) {
	old := *r
	*r = newDayRing[T](n)
	if len(old.C) == 0 || old.Top == -1<<30 {
		return 0, false
	}
	r.Top = old.Top
	var lost int32
	ok := false
	for d := old.Top - int32(len(old.C)) + 1; d <= old.Top; d++ {
		v := old.get(d)
		switch {
		case v == 0:
		case d > r.Top-int32(n):
			r.C[r.slot(d)] = T(v)
		default:
			lost, ok = d, true
		}
	}
	return lost, ok
}

// UsageDays calls f with every day of the usage ring that counted events.
func (st *State) UsageDays(f func(day int32, events uint64)) {
	r := &st.Usage
	for d := r.Top - int32(len(r.C)) + 1; d <= r.Top; d++ {
		if v := r.get(d); v > 0 {
			f(d, v)
		}
	}
}
