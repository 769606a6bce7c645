package scorer

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"unique"

	"github.com/riskwatch/riskwatch/rules"
)

// The binary checkpoint format of a State. JSON costs microseconds per
// customer to write and tens to read back, which dominates checkpoints and
// restarts; this format takes a fraction of that and under half the
// bytes. Layout (varint: zig-zag, uvarint: unsigned, both encoding/binary;
// fixed-size numbers little-endian; string: uvarint length then bytes):
//
//	version byte (binaryVersion)
//	Customer string, First varint, Watermark varint, Seq uvarint
//	Usage: Top varint, n uvarint, n × uvarint
//	ActiveUsers: Top varint, n uvarint, n × uvarint
//	Opened: Top varint, n uvarint, n bytes
//	FirstUsage varint, LastUsage varint, LastUsageID string, UsageBefore varint
//	Events: n uvarint, idBytes uvarint, the n ids concatenated (idBytes
//	  bytes), then per event: Code byte, Flags byte, a byte of which of
//	  Key, V, W follow, T minus the previous event's T varint, len(ID)
//	  uvarint, Key fixed 8, V fixed 8, W fixed 4
//	Before: 0, or 1 then Contact, ChampionLeft, ChampionAdded varints and
//	  NPS[0], NPS[1], Rating, Renewal as T varint, V varint, ID string
//	Churned varint, Seen 16 × fixed 8, SeenPos byte
//	Committed varint, Fired: n uvarint, n × (Rule string, At-Committed varint)
//	Score fixed 8, Tier byte, Evaluated varint, History 90 bytes, HistoryTop varint
//
// The event ids are one block so that a restored customer costs one
// allocation for all of them rather than one each. The ids then share one
// array, which lives until the last of those events leaves the list: at
// most the ids the customer had at the restart, until those events age
// out of the event window.
//
// A decoded state equals what a JSON round trip and Restore give, and the
// encoder refuses what JSON refuses (an unknown event code or tier, a NaN
// or infinite number), so a state that cannot be read back is never
// written. Decoding bounds every length by the limits below and by the
// bytes left, so hostile input cannot make it allocate more than a small
// multiple of its own size.

// binaryVersion starts every binary state. It is not '{', so a reader can
// tell a binary checkpoint from a JSON one by its first byte.
const binaryVersion = 1

// Limits of the binary format, far above what the model keeps (rings of
// about 60 days, 64 events, one firing per rule).
const (
	maxBinaryDays   = 4096
	maxBinaryEvents = 4096
	maxBinaryFired  = 4096
	maxBinaryString = 64 << 10
)

// Bits of an encoded event's field mask.
const (
	evHasKey = 1 << iota
	evHasV
	evHasW
	evFieldsMask = evHasKey | evHasV | evHasW
)

var (
	_ encoding.BinaryAppender    = (*State)(nil)
	_ encoding.BinaryMarshaler   = (*State)(nil)
	_ encoding.BinaryUnmarshaler = (*State)(nil)
)

// MarshalBinary encodes st in the binary checkpoint format, in a slice of
// its exact size.
func (st *State) MarshalBinary() ([]byte, error) {
	b, err := st.AppendBinary(make([]byte, 0, st.binarySize()))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendBinary appends st in the binary checkpoint format to b, growing
// it as append does: the daemon appends to buffers with room for many
// records, where sizing first would cost a third of the encoding. On error
// it returns b as it was.
func (st *State) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b, err := st.appendBinary(b)
	if err != nil {
		return b[:start], fmt.Errorf("scorer: encode state of %q: %w", st.Customer, err)
	}
	return b, nil
}

// binarySize is the length of st's encoding, field by field as
// appendBinary writes them. Sizing first costs a tenth of the encoding;
// a bound for the worst case would be twice the size, and reallocate a
// reused buffer that is large enough.
func (st *State) binarySize() int {
	n := 1 + sizeString(st.Customer) + sizeVarint(st.First) + sizeVarint(st.Watermark) + sizeUvarint(st.Seq)
	n += sizeVarint(int64(st.Usage.Top)) + sizeUvarint(uint64(len(st.Usage.C)))
	for _, v := range st.Usage.C {
		n += sizeUvarint(uint64(v))
	}
	n += sizeVarint(int64(st.ActiveUsers.Top)) + sizeUvarint(uint64(len(st.ActiveUsers.C)))
	for _, v := range st.ActiveUsers.C {
		n += sizeUvarint(uint64(v))
	}
	n += sizeVarint(int64(st.Opened.Top)) + sizeUvarint(uint64(len(st.Opened.C))) + len(st.Opened.C)
	n += sizeVarint(st.FirstUsage) + sizeVarint(st.LastUsage) + sizeString(st.LastUsageID) + sizeVarint(int64(st.UsageBefore))

	ids, prev := 0, int64(0)
	for i := range st.Events {
		ev := &st.Events[i]
		ids += len(ev.ID)
		n += 3 + sizeVarint(ev.T-prev) + sizeUvarint(uint64(len(ev.ID)))
		prev = ev.T
		if ev.Key != 0 {
			n += 8
		}
		if math.Float64bits(ev.V) != 0 {
			n += 8
		}
		if math.Float32bits(ev.W) != 0 {
			n += 4
		}
	}
	n += sizeUvarint(uint64(len(st.Events))) + sizeUvarint(uint64(ids)) + ids

	n++
	if bf := st.Before; bf != nil {
		n += sizeVarint(bf.Contact) + sizeVarint(bf.ChampionLeft) + sizeVarint(bf.ChampionAdded)
		for _, a := range [...]*Answer{&bf.NPS[0], &bf.NPS[1], &bf.Rating, &bf.Renewal} {
			n += sizeVarint(a.T) + sizeVarint(a.V) + sizeString(a.ID)
		}
	}

	n += sizeVarint(st.Churned) + 8*seenIDs + 1 + sizeVarint(st.Committed) + sizeUvarint(uint64(len(st.Fired)))
	for i := range st.Fired {
		n += sizeString(st.Fired[i].Rule) + sizeVarint(st.Fired[i].At-st.Committed)
	}
	return n + 8 + 1 + sizeVarint(st.Evaluated) + historyDays + sizeVarint(int64(st.HistoryTop))
}

func sizeUvarint(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func sizeVarint(x int64) int { return sizeUvarint(uint64(x<<1) ^ uint64(x>>63)) }

func sizeString(s string) int { return sizeUvarint(uint64(len(s))) + len(s) }

func (st *State) appendBinary(b []byte) ([]byte, error) {
	var err error
	b = append(b, binaryVersion)
	if b, err = appendString(b, "Customer", st.Customer); err != nil {
		return b, err
	}
	b = binary.AppendVarint(b, st.First)
	b = binary.AppendVarint(b, st.Watermark)
	b = binary.AppendUvarint(b, st.Seq)

	if b, err = appendCounts(b, "Usage", st.Usage); err != nil {
		return b, err
	}
	if b, err = appendCounts(b, "ActiveUsers", st.ActiveUsers); err != nil {
		return b, err
	}
	if len(st.Opened.C) > maxBinaryDays {
		return b, fmt.Errorf("opened: %d days, over the limit of %d", len(st.Opened.C), maxBinaryDays)
	}
	b = binary.AppendVarint(b, int64(st.Opened.Top))
	b = binary.AppendUvarint(b, uint64(len(st.Opened.C)))
	b = append(b, st.Opened.C...)

	b = binary.AppendVarint(b, st.FirstUsage)
	b = binary.AppendVarint(b, st.LastUsage)
	if b, err = appendString(b, "LastUsageID", st.LastUsageID); err != nil {
		return b, err
	}
	b = binary.AppendVarint(b, int64(st.UsageBefore))

	if b, err = st.appendEvents(b); err != nil {
		return b, err
	}

	if st.Before == nil {
		b = append(b, 0)
	} else {
		bf := st.Before
		b = append(b, 1)
		b = binary.AppendVarint(b, bf.Contact)
		b = binary.AppendVarint(b, bf.ChampionLeft)
		b = binary.AppendVarint(b, bf.ChampionAdded)
		for _, a := range [...]*Answer{&bf.NPS[0], &bf.NPS[1], &bf.Rating, &bf.Renewal} {
			b = binary.AppendVarint(b, a.T)
			b = binary.AppendVarint(b, a.V)
			if b, err = appendString(b, "Before answer ID", a.ID); err != nil {
				return b, err
			}
		}
	}

	b = binary.AppendVarint(b, st.Churned)
	for _, h := range st.Seen {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	b = append(b, st.SeenPos)

	b = binary.AppendVarint(b, st.Committed)
	if len(st.Fired) > maxBinaryFired {
		return b, fmt.Errorf("fired: %d firings, over the limit of %d", len(st.Fired), maxBinaryFired)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Fired)))
	for i := range st.Fired {
		f := &st.Fired[i]
		if b, err = appendString(b, "Fired Rule", f.Rule); err != nil {
			return b, err
		}
		// Firings are days shortly before Committed: a small difference.
		b = binary.AppendVarint(b, f.At-st.Committed)
	}

	if !finite(st.Score) {
		return b, fmt.Errorf("score: %w", errNotFinite(st.Score))
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Score))
	if err := checkTier(st.Tier); err != nil {
		return b, fmt.Errorf("tier: %w", err)
	}
	b = append(b, uint8(st.Tier))
	b = binary.AppendVarint(b, st.Evaluated)
	b = append(b, st.History[:]...)
	b = binary.AppendVarint(b, int64(st.HistoryTop))
	return b, nil
}

func (st *State) appendEvents(b []byte) ([]byte, error) {
	if len(st.Events) > maxBinaryEvents {
		return b, fmt.Errorf("events: %d events, over the limit of %d", len(st.Events), maxBinaryEvents)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Events)))
	ids := 0
	for i := range st.Events {
		ids += len(st.Events[i].ID)
	}
	b = binary.AppendUvarint(b, uint64(ids))
	for i := range st.Events {
		if len(st.Events[i].ID) > maxBinaryString {
			return b, fmt.Errorf("Events[%d].ID: %d bytes, over the limit of %d", i, len(st.Events[i].ID), maxBinaryString)
		}
		b = append(b, st.Events[i].ID...)
	}
	prev := int64(0)
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.Code == codeNone || ev.Code >= numCodes {
			return b, fmt.Errorf("Events[%d].Code: invalid event code %d", i, uint8(ev.Code))
		}
		if !finite(ev.V) {
			return b, fmt.Errorf("Events[%d].V: %w", i, errNotFinite(ev.V))
		}
		if !finite(float64(ev.W)) {
			return b, fmt.Errorf("Events[%d].W: %w", i, errNotFinite(float64(ev.W)))
		}
		var has uint8
		if ev.Key != 0 {
			has |= evHasKey
		}
		// By bits, so that -0 survives as it does in memory.
		if math.Float64bits(ev.V) != 0 {
			has |= evHasV
		}
		if math.Float32bits(ev.W) != 0 {
			has |= evHasW
		}
		b = append(b, uint8(ev.Code), ev.Flags, has)
		// Events are sorted by time: the difference to the previous one
		// is a few bytes shorter than the time. Overflow wraps both ways.
		b = binary.AppendVarint(b, ev.T-prev)
		prev = ev.T
		b = binary.AppendUvarint(b, uint64(len(ev.ID)))
		if has&evHasKey != 0 {
			b = binary.LittleEndian.AppendUint64(b, ev.Key)
		}
		if has&evHasV != 0 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(ev.V))
		}
		if has&evHasW != 0 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(ev.W))
		}
	}
	return b, nil
}

func appendCounts[T uint16 | uint32](b []byte, field string, r dayRing[T]) ([]byte, error) {
	if len(r.C) > maxBinaryDays {
		return b, fmt.Errorf("%s: %d days, over the limit of %d", field, len(r.C), maxBinaryDays)
	}
	b = binary.AppendVarint(b, int64(r.Top))
	b = binary.AppendUvarint(b, uint64(len(r.C)))
	for _, v := range r.C {
		b = binary.AppendUvarint(b, uint64(v))
	}
	return b, nil
}

func appendString(b []byte, field, s string) ([]byte, error) {
	if len(s) > maxBinaryString {
		return b, fmt.Errorf("%s: %d bytes, over the limit of %d", field, len(s), maxBinaryString)
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

// finite is what encoding/json accepts, so that the two formats hold the
// same states.
// NaN and ±Inf minus themselves are NaN.
func finite(f float64) bool { return f-f == 0 }

func errNotFinite(f float64) error { return fmt.Errorf("%v cannot be checkpointed", f) }

// checkTier accepts the tiers a JSON checkpoint can be read back with.
func checkTier(t rules.Tier) error {
	_, err := rules.ParseTier(t.String())
	return err
}

// UnmarshalBinary replaces st with the state encoded in data by
// AppendBinary, then restores it like a JSON checkpoint (see Restore). On
// error st is unchanged.
func (st *State) UnmarshalBinary(data []byte) error {
	var d State
	if err := d.decodeBinary(data); err != nil {
		return fmt.Errorf("scorer: decode binary state: %w", err)
	}
	// Restore repairs what JSON decoding cannot rule out either (missing
	// rings, events out of order); calling it keeps the two paths equal
	// when it learns more.
	d.Restore()
	*st = d
	return nil
}

func (st *State) decodeBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("version: %w", io.ErrUnexpectedEOF)
	}
	if data[0] != binaryVersion {
		return fmt.Errorf("unsupported format version %d (want %d)", data[0], binaryVersion)
	}
	r := binReader{data: data, off: 1}
	st.Customer = r.string("Customer")
	st.First = r.varint("First")
	st.Watermark = r.varint("Watermark")
	st.Seq = r.uvarint("Seq")

	st.Usage.Top = r.int32("Usage.Top")
	st.Usage.C = readCounts[uint32](&r, "Usage.C")
	st.ActiveUsers.Top = r.int32("ActiveUsers.Top")
	st.ActiveUsers.C = readCounts[uint16](&r, "ActiveUsers.C")
	st.Opened.Top = r.int32("Opened.Top")
	if n := r.length("Opened.C", maxBinaryDays, 1); n > 0 {
		st.Opened.C = slices.Clone(r.bytes("Opened.C", n))
	}

	st.FirstUsage = r.varint("FirstUsage")
	st.LastUsage = r.varint("LastUsage")
	st.LastUsageID = r.string("LastUsageID")
	st.UsageBefore = r.int32("UsageBefore")
	if r.err != nil {
		return r.err
	}

	if err := st.decodeEvents(&r); err != nil {
		return err
	}

	switch r.byte("Before") {
	case 0:
	case 1:
		bf := &Before{}
		bf.Contact = r.varint("Before.Contact")
		bf.ChampionLeft = r.varint("Before.ChampionLeft")
		bf.ChampionAdded = r.varint("Before.ChampionAdded")
		for _, a := range [...]struct {
			name string
			a    *Answer
		}{{"NPS[0]", &bf.NPS[0]}, {"NPS[1]", &bf.NPS[1]}, {"Rating", &bf.Rating}, {"Renewal", &bf.Renewal}} {
			a.a.T, a.a.V, a.a.ID = r.varint("T"), r.varint("V"), r.string("ID")
			if r.err != nil {
				return fmt.Errorf("Before.%s.%w", a.name, r.err)
			}
		}
		st.Before = bf
	default:
		r.off--
		r.failf("Before", "presence byte %d, want 0 or 1", r.data[r.off])
	}

	st.Churned = r.varint("Churned")
	if seen := r.bytes("Seen", 8*seenIDs); seen != nil {
		for i := range st.Seen {
			st.Seen[i] = binary.LittleEndian.Uint64(seen[8*i:])
		}
	}
	st.SeenPos = r.byte("SeenPos")
	st.Committed = r.varint("Committed")
	if r.err != nil {
		return r.err
	}

	if n := r.length("Fired", maxBinaryFired, 2); n > 0 {
		st.Fired = make([]Firing, n)
		for i := range st.Fired {
			f := &st.Fired[i]
			// Every customer fires the same few rules: one copy of each
			// name serves them all.
			if name := r.bytesOf("Rule"); len(name) > 0 {
				f.Rule = unique.Make(string(name)).Value()
			}
			f.At = st.Committed + r.varint("At")
			if r.err != nil {
				return fmt.Errorf("Fired[%d].%w", i, r.err)
			}
		}
	}

	st.Score = r.float64("Score")
	if t := r.byte("Tier"); r.err == nil {
		st.Tier = rules.Tier(t)
		if err := checkTier(st.Tier); err != nil {
			r.off--
			r.fail("Tier", err)
		}
	}
	st.Evaluated = r.varint("Evaluated")
	if h := r.bytes("History", historyDays); h != nil {
		copy(st.History[:], h)
	}
	st.HistoryTop = r.int32("HistoryTop")
	if r.err != nil {
		return r.err
	}
	if rest := len(data) - r.off; rest > 0 {
		return fmt.Errorf("%d trailing bytes after the state at byte %d", rest, r.off)
	}
	return nil
}

func (st *State) decodeEvents(r *binReader) error {
	// An event takes at least 5 bytes: code, flags, fields, time, id length.
	n := r.length("Events", maxBinaryEvents, 5)
	ids := r.length("Events ids", maxBinaryEvents*maxBinaryString, 1)
	block := string(r.bytes("Events ids", ids))
	if r.err != nil || n == 0 {
		if r.err == nil && ids > 0 {
			r.failf("Events ids", "%d bytes of ids for no event", ids)
		}
		return r.err
	}
	st.Events = make([]Event, n)
	prev, pos := int64(0), 0
	for i := range st.Events {
		ev := &st.Events[i]
		code, flags, has := r.byte("Code"), r.byte("Flags"), r.byte("fields")
		switch {
		case r.err != nil:
		case code == uint8(codeNone) || code >= uint8(numCodes):
			// The same refusal as Code.UnmarshalText on a JSON checkpoint.
			r.off -= 3
			r.failf("Code", "unknown event code %d in checkpoint", code)
		case has&^evFieldsMask != 0:
			r.off--
			r.failf("fields", "unknown field bits %#x", has&^evFieldsMask)
		}
		ev.Code, ev.Flags = Code(code), flags
		ev.T = prev + r.varint("T")
		prev = ev.T
		start := r.off
		if l := r.length("ID", maxBinaryString, 0); r.err == nil {
			if l > len(block)-pos {
				r.off = start
				r.failf("ID", "%d bytes, past the %d bytes of ids left", l, len(block)-pos)
			} else {
				ev.ID = block[pos : pos+l]
				pos += l
			}
		}
		if has&evHasKey != 0 {
			ev.Key = r.uint64("Key")
		}
		if has&evHasV != 0 {
			ev.V = r.float64("V")
		}
		if has&evHasW != 0 {
			ev.W = r.float32("W")
		}
		if r.err != nil {
			return fmt.Errorf("Events[%d].%w", i, r.err)
		}
	}
	if pos != len(block) {
		return fmt.Errorf("events: %d bytes of ids not used by any event", len(block)-pos)
	}
	return nil
}

func readCounts[T uint16 | uint32](r *binReader, field string) []T {
	n := r.length(field, maxBinaryDays, 1)
	if n == 0 {
		return nil
	}
	c := make([]T, n)
	limit := uint64(^T(0))
	data, off := r.data, r.off
	for i := range c {
		// uvarint by hand: the call costs more than a one-byte value.
		v, k := uint64(0), 1
		if off < len(data) && data[off] < 0x80 {
			v = uint64(data[off])
		} else {
			v, k = uvarintSlow(data, off)
		}
		if k <= 0 {
			r.off = off
			r.failVarint(field, k)
			return c
		}
		if v > limit {
			r.off = off
			r.failf(field, "day %d holds %d, over the maximum of %d", i, v, limit)
			return c
		}
		c[i] = T(v)
		off += k
	}
	r.off = off
	return c
}

// binReader reads the fields of a binary state in order. The first
// failure sticks: later reads return zero values and are not reported, so
// that a decoder can check once per group of fields. No read allocates
// more than the input holds.
type binReader struct {
	data []byte
	off  int
	err  error
}

var errVarint = errors.New("malformed varint")

func (r *binReader) fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %w", field, r.off, err)
	}
	r.off = len(r.data)
}

func (r *binReader) failf(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %s", field, r.off, fmt.Sprintf(format, args...))
	}
	r.off = len(r.data)
}

func (r *binReader) byte(field string) uint8 {
	if r.off < len(r.data) {
		v := r.data[r.off]
		r.off++
		return v
	}
	r.fail(field, io.ErrUnexpectedEOF)
	return 0
}

func (r *binReader) uvarint(field string) uint64 {
	v, n := uvarint(r.data, r.off)
	if n <= 0 {
		r.failVarint(field, n)
		return 0
	}
	r.off += n
	return v
}

// uvarint decodes the uvarint at data[off:] like binary.Uvarint, with a
// fast path for the one-byte values that most fields hold.
func uvarint(data []byte, off int) (uint64, int) {
	if off < len(data) && data[off] < 0x80 {
		return uint64(data[off]), 1
	}
	return uvarintSlow(data, off)
}

func uvarintSlow(data []byte, off int) (uint64, int) { return binary.Uvarint(data[off:]) }

// failVarint reports what binary.Uvarint's n says went wrong.
func (r *binReader) failVarint(field string, n int) {
	if n == 0 {
		r.fail(field, io.ErrUnexpectedEOF)
	} else {
		r.fail(field, errVarint)
	}
}

func (r *binReader) varint(field string) int64 {
	u := r.uvarint(field)
	return int64(u>>1) ^ -int64(u&1)
}

func (r *binReader) int32(field string) int32 {
	start := r.off
	v := r.varint(field)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.off = start
		r.failf(field, "%d is out of the int32 range", v)
		return 0
	}
	return int32(v)
}

// length reads a count of items of at least minSize bytes each, bounded
// by limit and by what the input still holds.
func (r *binReader) length(field string, limit, minSize int) int {
	start := r.off
	v := r.uvarint(field)
	if r.err != nil {
		return 0
	}
	if v > uint64(limit) {
		r.off = start
		r.failf(field, "length %d is over the limit of %d", v, limit)
		return 0
	}
	if rest := len(r.data) - r.off; v*uint64(minSize) > uint64(rest) {
		r.off = start
		r.fail(field, fmt.Errorf("length %d needs more than the %d bytes left: %w", v, rest, io.ErrUnexpectedEOF))
		return 0
	}
	return int(v)
}

// bytes returns the next n bytes of the input, nil after a failure.
func (r *binReader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.data)-r.off {
		r.fail(field, io.ErrUnexpectedEOF)
		return nil
	}
	b := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// bytesOf reads a length-prefixed string without copying it.
func (r *binReader) bytesOf(field string) []byte {
	return r.bytes(field, r.length(field, maxBinaryString, 1))
}

func (r *binReader) string(field string) string {
	b := r.bytesOf(field)
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

func (r *binReader) uint64(field string) uint64 {
	if b := r.bytes(field, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *binReader) float64(field string) float64 {
	f := math.Float64frombits(r.uint64(field))
	if !finite(f) {
		r.off -= 8
		r.fail(field, errNotFinite(f))
		return 0
	}
	return f
}

func (r *binReader) float32(field string) float32 {
	b := r.bytes(field, 4)
	if b == nil {
		return 0
	}
	f := math.Float32frombits(binary.LittleEndian.Uint32(b))
	if !finite(float64(f)) {
		r.off -= 4
		r.fail(field, errNotFinite(float64(f)))
		return 0
	}
	return f
}
