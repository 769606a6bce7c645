package alerting

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
)

// The binary checkpoint format of a State, written next to the scorer's
// and for the same reason: JSON is slow to read back for a million
// customers, most of whom never had an alert. Layout (varint: zig-zag,
// uvarint: unsigned, both encoding/binary; string: uvarint length then
// bytes):
//
//	version byte (binaryVersion), Tier byte
//	a byte of which fields follow (the stateHas bits), then those of
//	Score (fixed 8, little-endian), Opened, LastSent, Resolved (varints),
//	LastID (string), Ack, Snooze (actions), Log (uvarint n, n actions)
//	action: Kind, By, Note strings, At, Until times, AlertID string
//	time: 0 for the zero time, else 1, Unix seconds varint, nanoseconds uvarint
//
// Times come back in UTC, as from a JSON checkpoint of the UTC times the
// engine records. Seconds and nanoseconds rather than Unix nanoseconds
// keep any time, such as a snooze until the year 3000, and are shorter.
// The encoder refuses what JSON would not read back (an unknown tier, a
// NaN or infinite score); the decoder bounds every length by the limits
// below and by the bytes left.

// binaryVersion starts every binary state. It is not '{', so a reader can
// tell a binary checkpoint from a JSON one by its first byte.
const binaryVersion = 1

// Limits of the binary format, far above what the policy keeps.
const (
	maxBinaryLog    = 4096
	maxBinaryString = 64 << 10
)

// Bits of the field byte: which fields of a State are encoded. The others
// are zero.
const (
	hasScore = 1 << iota
	hasOpened
	hasLastSent
	hasResolved
	hasLastID
	hasAck
	hasSnooze
	hasLog
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
// records. On error it returns b as it was.
func (st *State) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b, err := st.appendBinary(b)
	if err != nil {
		return b[:start], fmt.Errorf("alerting: encode state: %w", err)
	}
	return b, nil
}

// binarySize is the length of st's encoding, field by field as
// appendBinary writes them.
func (st *State) binarySize() int {
	n := 3
	if math.Float64bits(st.Score) != 0 {
		n += 8
	}
	for _, v := range [...]int64{st.Opened, st.LastSent, st.Resolved} {
		if v != 0 {
			n += sizeVarint(v)
		}
	}
	if st.LastID != "" {
		n += sizeString(st.LastID)
	}
	for _, a := range [...]*Action{st.Ack, st.Snooze} {
		if a != nil {
			n += actionSize(a)
		}
	}
	if len(st.Log) > 0 {
		n += sizeUvarint(uint64(len(st.Log)))
		for i := range st.Log {
			n += actionSize(&st.Log[i])
		}
	}
	return n
}

func actionSize(a *Action) int {
	return sizeString(a.Kind) + sizeString(a.By) + sizeString(a.Note) + timeSize(a.At) + timeSize(a.Until) + sizeString(a.AlertID)
}

func timeSize(t time.Time) int {
	if t.IsZero() {
		return 1
	}
	return 1 + sizeVarint(t.Unix()) + sizeUvarint(uint64(t.Nanosecond()))
}

func sizeUvarint(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func sizeVarint(x int64) int { return sizeUvarint(uint64(x<<1) ^ uint64(x>>63)) }

func sizeString(s string) int { return sizeUvarint(uint64(len(s))) + len(s) }

func (st *State) appendBinary(b []byte) ([]byte, error) {
	if _, err := rules.ParseTier(st.Tier.String()); err != nil {
		return b, fmt.Errorf("tier: %w", err)
	}
	if math.IsNaN(st.Score) || math.IsInf(st.Score, 0) {
		return b, fmt.Errorf("score: %v cannot be checkpointed", st.Score)
	}
	if len(st.Log) > maxBinaryLog {
		return b, fmt.Errorf("log: %d actions, over the limit of %d", len(st.Log), maxBinaryLog)
	}
	var has uint8
	for bit, set := range [...]bool{math.Float64bits(st.Score) != 0, st.Opened != 0, st.LastSent != 0,
		st.Resolved != 0, st.LastID != "", st.Ack != nil, st.Snooze != nil, len(st.Log) > 0} {
		if set {
			has |= 1 << bit
		}
	}
	b = append(b, binaryVersion, uint8(st.Tier), has)
	if has&hasScore != 0 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Score))
	}
	if has&hasOpened != 0 {
		b = binary.AppendVarint(b, st.Opened)
	}
	if has&hasLastSent != 0 {
		b = binary.AppendVarint(b, st.LastSent)
	}
	if has&hasResolved != 0 {
		b = binary.AppendVarint(b, st.Resolved)
	}
	var err error
	if has&hasLastID != 0 {
		if b, err = appendString(b, "LastID", st.LastID); err != nil {
			return b, err
		}
	}
	if has&hasAck != 0 {
		if b, err = appendAction(b, st.Ack); err != nil {
			return b, fmt.Errorf("Ack.%w", err)
		}
	}
	if has&hasSnooze != 0 {
		if b, err = appendAction(b, st.Snooze); err != nil {
			return b, fmt.Errorf("Snooze.%w", err)
		}
	}
	if has&hasLog != 0 {
		b = binary.AppendUvarint(b, uint64(len(st.Log)))
		for i := range st.Log {
			if b, err = appendAction(b, &st.Log[i]); err != nil {
				return b, fmt.Errorf("Log[%d].%w", i, err)
			}
		}
	}
	return b, nil
}

func appendAction(b []byte, a *Action) ([]byte, error) {
	var err error
	for _, f := range [...]struct{ name, s string }{{"Kind", a.Kind}, {"By", a.By}, {"Note", a.Note}} {
		if b, err = appendString(b, f.name, f.s); err != nil {
			return b, err
		}
	}
	b = appendTime(b, a.At)
	b = appendTime(b, a.Until)
	return appendString(b, "AlertID", a.AlertID)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString(b []byte, field, s string) ([]byte, error) {
	if len(s) > maxBinaryString {
		return b, fmt.Errorf("%s: %d bytes, over the limit of %d", field, len(s), maxBinaryString)
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

// UnmarshalBinary replaces st with the state encoded in data by
// AppendBinary. On error st is unchanged.
func (st *State) UnmarshalBinary(data []byte) error {
	var d State
	if err := d.decodeBinary(data); err != nil {
		return fmt.Errorf("alerting: decode binary state: %w", err)
	}
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
	if t := r.byte("Tier"); r.err == nil {
		st.Tier = rules.Tier(t)
		if _, err := rules.ParseTier(st.Tier.String()); err != nil {
			r.off--
			r.fail("Tier", err)
		}
	}
	has := r.byte("fields")
	if has&hasScore != 0 {
		st.Score = r.float64("Score")
	}
	if has&hasOpened != 0 {
		st.Opened = r.varint("Opened")
	}
	if has&hasLastSent != 0 {
		st.LastSent = r.varint("LastSent")
	}
	if has&hasResolved != 0 {
		st.Resolved = r.varint("Resolved")
	}
	if has&hasLastID != 0 {
		st.LastID = r.string("LastID")
	}
	if r.err != nil {
		return r.err
	}
	if has&hasAck != 0 {
		st.Ack = &Action{}
		if err := r.action(st.Ack); err != nil {
			return fmt.Errorf("Ack.%w", err)
		}
	}
	if has&hasSnooze != 0 {
		st.Snooze = &Action{}
		if err := r.action(st.Snooze); err != nil {
			return fmt.Errorf("Snooze.%w", err)
		}
	}
	if has&hasLog != 0 {
		// An action takes at least 6 bytes: four empty strings, two zero
		// times.
		n := r.length("Log", maxBinaryLog, 6)
		if r.err != nil {
			return r.err
		}
		if n > 0 {
			st.Log = make([]Action, n)
		}
		for i := range st.Log {
			if err := r.action(&st.Log[i]); err != nil {
				return fmt.Errorf("Log[%d].%w", i, err)
			}
		}
	}
	if rest := len(data) - r.off; rest > 0 {
		return fmt.Errorf("%d trailing bytes after the state at byte %d", rest, r.off)
	}
	return nil
}

// action reads one Action; its error names the field that failed.
func (r *binReader) action(a *Action) error {
	a.Kind = r.kind()
	a.By = r.string("By")
	a.Note = r.string("Note")
	a.At = r.time("At")
	a.Until = r.time("Until")
	a.AlertID = r.string("AlertID")
	return r.err
}

// kind reads an action kind, without an allocation for the known ones.
func (r *binReader) kind() string {
	b := r.bytesOf("Kind")
	for _, k := range [...]string{KindAck, KindSnooze, KindUnsnooze} {
		if string(b) == k {
			return k
		}
	}
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

func (r *binReader) time(field string) time.Time {
	switch r.byte(field) {
	case 0:
		return time.Time{}
	case 1:
	default:
		r.off--
		r.failf(field, "time tag %d, want 0 or 1", r.data[r.off])
		return time.Time{}
	}
	sec := r.varint(field)
	start := r.off
	nsec := r.uvarint(field)
	if nsec >= uint64(time.Second) {
		r.off = start
		r.failf(field, "%d nanoseconds is not under a second", nsec)
	}
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// binReader reads the fields of a binary state in order. The first
// failure sticks: later reads return zero values and are not reported.
// No read allocates more than the input holds.
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
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.off:])
	switch {
	case n == 0:
		r.fail(field, io.ErrUnexpectedEOF)
		return 0
	case n < 0:
		r.fail(field, errVarint)
		return 0
	}
	r.off += n
	return v
}

func (r *binReader) varint(field string) int64 {
	u := r.uvarint(field)
	return int64(u>>1) ^ -int64(u&1)
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

// bytesOf reads a length-prefixed string without copying it.
func (r *binReader) bytesOf(field string) []byte {
	n := r.length(field, maxBinaryString, 1)
	if r.err != nil {
		return nil
	}
	b := slices.Clip(r.data[r.off : r.off+n])
	r.off += n
	return b
}

func (r *binReader) string(field string) string {
	b := r.bytesOf(field)
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

func (r *binReader) float64(field string) float64 {
	if len(r.data)-r.off < 8 {
		r.fail(field, io.ErrUnexpectedEOF)
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.data[r.off:]))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.failf(field, "%v cannot be checkpointed", f)
		return 0
	}
	r.off += 8
	return f
}
