package alerting

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/riskwatch/riskwatch/binrec"

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
//	version 2 adds: a second field byte (the stateHas2 bits), then those
//	of Announced (varint), Unclaimed (string), Deferred, Inhibited
//	(varints), Charge (Day varint, Pos uvarint), Marks (uvarint n, then
//	each Pos uvarint, From byte, Day varint, Charged byte)
//
// Times come back in UTC, as from a JSON checkpoint of the UTC times the
// engine records. Seconds and nanoseconds rather than Unix nanoseconds
// keep any time, such as a snooze until the year 3000, and are shorter.
// The encoder refuses what JSON would not read back (an unknown tier, a
// NaN or infinite score); the decoder bounds every length by the limits
// below and by the bytes left.

// binaryVersion starts every binary state. It is not '{', so a reader can
// tell a binary checkpoint from a JSON one by its first byte. Version 1,
// without the hygiene fields, is still read.
const (
	binaryVersion1 = 1
	binaryVersion  = 2
)

// Limits of the binary format, far above what the policy keeps.
const (
	maxBinaryLog   = 4096
	maxBinaryMarks = 64
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

// Bits of the second field byte (version 2).
const (
	hasAnnounced = 1 << iota
	hasUnclaimed
	hasDeferred
	hasInhibited
	hasCharge
	hasMarks
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
			n += binrec.SizeVarint(v)
		}
	}
	if st.LastID != "" {
		n += binrec.SizeString(st.LastID)
	}
	for _, a := range [...]*Action{st.Ack, st.Snooze} {
		if a != nil {
			n += actionSize(a)
		}
	}
	if len(st.Log) > 0 {
		n += binrec.SizeUvarint(uint64(len(st.Log)))
		for i := range st.Log {
			n += actionSize(&st.Log[i])
		}
	}
	n++ // the second field byte
	for _, v := range [...]int64{st.Announced, st.Deferred, st.Inhibited} {
		if v != 0 {
			n += binrec.SizeVarint(v)
		}
	}
	if st.Unclaimed != "" {
		n += binrec.SizeString(st.Unclaimed)
	}
	if st.Charge != (Charge{}) {
		n += binrec.SizeVarint(int64(st.Charge.Day)) + binrec.SizeUvarint(st.Charge.Pos)
	}
	if len(st.Marks) > 0 {
		n += binrec.SizeUvarint(uint64(len(st.Marks)))
		for _, m := range st.Marks {
			n += binrec.SizeUvarint(m.Pos) + 1 + binrec.SizeVarint(int64(m.Day)) + 1
		}
	}
	return n
}

func actionSize(a *Action) int {
	return binrec.SizeString(a.Kind) + binrec.SizeString(a.By) + binrec.SizeString(a.Note) + timeSize(a.At) + timeSize(a.Until) + binrec.SizeString(a.AlertID)
}

func timeSize(t time.Time) int {
	if t.IsZero() {
		return 1
	}
	return 1 + binrec.SizeVarint(t.Unix()) + binrec.SizeUvarint(uint64(t.Nanosecond()))
}

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
	if len(st.Marks) > maxBinaryMarks {
		return b, fmt.Errorf("marks: %d, over the limit of %d", len(st.Marks), maxBinaryMarks)
	}
	for i, m := range st.Marks {
		if _, err := rules.ParseTier(m.From.String()); err != nil {
			return b, fmt.Errorf("marks[%d].from: %w", i, err)
		}
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
		if b, err = binrec.AppendString(b, "LastID", st.LastID); err != nil {
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
	var has2 uint8
	for bit, set := range [...]bool{st.Announced != 0, st.Unclaimed != "", st.Deferred != 0, st.Inhibited != 0,
		st.Charge != (Charge{}), len(st.Marks) > 0} {
		if set {
			has2 |= 1 << bit
		}
	}
	b = append(b, has2)
	if has2&hasAnnounced != 0 {
		b = binary.AppendVarint(b, st.Announced)
	}
	if has2&hasUnclaimed != 0 {
		if b, err = binrec.AppendString(b, "Unclaimed", st.Unclaimed); err != nil {
			return b, err
		}
	}
	if has2&hasDeferred != 0 {
		b = binary.AppendVarint(b, st.Deferred)
	}
	if has2&hasInhibited != 0 {
		b = binary.AppendVarint(b, st.Inhibited)
	}
	if has2&hasCharge != 0 {
		b = binary.AppendVarint(b, int64(st.Charge.Day))
		b = binary.AppendUvarint(b, st.Charge.Pos)
	}
	if has2&hasMarks != 0 {
		b = binary.AppendUvarint(b, uint64(len(st.Marks)))
		for _, m := range st.Marks {
			b = binary.AppendUvarint(b, m.Pos)
			b = append(b, uint8(m.From))
			b = binary.AppendVarint(b, int64(m.Day))
			var charged uint8
			if m.Charged {
				charged = 1
			}
			b = append(b, charged)
		}
	}
	return b, nil
}

func appendAction(b []byte, a *Action) ([]byte, error) {
	var err error
	for _, f := range [...]struct{ name, s string }{{"Kind", a.Kind}, {"By", a.By}, {"Note", a.Note}} {
		if b, err = binrec.AppendString(b, f.name, f.s); err != nil {
			return b, err
		}
	}
	b = appendTime(b, a.At)
	b = appendTime(b, a.Until)
	return binrec.AppendString(b, "AlertID", a.AlertID)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
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
	if data[0] != binaryVersion && data[0] != binaryVersion1 {
		return fmt.Errorf("unsupported format version %d (want %d or %d)", data[0], binaryVersion1, binaryVersion)
	}
	r := binrec.Reader{Data: data, Off: 1}
	if t := r.Byte("Tier"); r.Err() == nil {
		st.Tier = rules.Tier(t)
		if _, err := rules.ParseTier(st.Tier.String()); err != nil {
			r.Off--
			r.Fail("Tier", err)
		}
	}
	has := r.Byte("fields")
	if has&hasScore != 0 {
		st.Score = r.Float64("Score")
	}
	if has&hasOpened != 0 {
		st.Opened = r.Varint("Opened")
	}
	if has&hasLastSent != 0 {
		st.LastSent = r.Varint("LastSent")
	}
	if has&hasResolved != 0 {
		st.Resolved = r.Varint("Resolved")
	}
	if has&hasLastID != 0 {
		st.LastID = r.String("LastID")
	}
	if r.Err() != nil {
		return r.Err()
	}
	if has&hasAck != 0 {
		st.Ack = &Action{}
		if err := readAction(&r, st.Ack); err != nil {
			return fmt.Errorf("Ack.%w", err)
		}
	}
	if has&hasSnooze != 0 {
		st.Snooze = &Action{}
		if err := readAction(&r, st.Snooze); err != nil {
			return fmt.Errorf("Snooze.%w", err)
		}
	}
	if has&hasLog != 0 {
		// An action takes at least 6 bytes: four empty strings, two zero
		// times.
		n := r.Length("Log", maxBinaryLog, 6)
		if r.Err() != nil {
			return r.Err()
		}
		if n > 0 {
			st.Log = make([]Action, n)
		}
		for i := range st.Log {
			if err := readAction(&r, &st.Log[i]); err != nil {
				return fmt.Errorf("Log[%d].%w", i, err)
			}
		}
	}
	if data[0] >= binaryVersion {
		if err := st.decodeHygiene(&r); err != nil {
			return err
		}
	}
	if rest := len(data) - r.Off; rest > 0 {
		return fmt.Errorf("%d trailing bytes after the state at byte %d", rest, r.Off)
	}
	return nil
}

// decodeHygiene reads the fields version 2 added.
func (st *State) decodeHygiene(r *binrec.Reader) error {
	has := r.Byte("fields2")
	if has&^(hasAnnounced|hasUnclaimed|hasDeferred|hasInhibited|hasCharge|hasMarks) != 0 {
		r.Off--
		r.Failf("fields2", "unknown field bits 0x%02x", has)
	}
	if has&hasAnnounced != 0 {
		st.Announced = r.Varint("Announced")
	}
	if has&hasUnclaimed != 0 {
		st.Unclaimed = r.String("Unclaimed")
	}
	if has&hasDeferred != 0 {
		st.Deferred = r.Varint("Deferred")
	}
	if has&hasInhibited != 0 {
		st.Inhibited = r.Varint("Inhibited")
	}
	if has&hasCharge != 0 {
		st.Charge.Day = r.Int32("Charge.Day")
		st.Charge.Pos = r.Uvarint("Charge.Pos")
	}
	if r.Err() != nil {
		return r.Err()
	}
	if has&hasMarks != 0 {
		// A mark takes at least 4 bytes.
		n := r.Length("Marks", maxBinaryMarks, 4)
		if r.Err() != nil {
			return r.Err()
		}
		if n > 0 {
			st.Marks = make([]Mark, n)
		}
		for i := range st.Marks {
			m := &st.Marks[i]
			m.Pos = r.Uvarint("Pos")
			m.From = rules.Tier(r.Byte("From"))
			if r.Err() == nil {
				if _, err := rules.ParseTier(m.From.String()); err != nil {
					r.Off--
					r.Fail("From", err)
				}
			}
			m.Day = r.Int32("Day")
			switch c := r.Byte("Charged"); {
			case r.Err() != nil:
			case c > 1:
				r.Off--
				r.Failf("Charged", "%d, want 0 or 1", c)
			default:
				m.Charged = c == 1
			}
			if r.Err() != nil {
				return fmt.Errorf("Marks[%d].%w", i, r.Err())
			}
		}
	}
	return r.Err()
}

// action reads one Action; its error names the field that failed.
func readAction(r *binrec.Reader, a *Action) error {
	a.Kind = readKind(r)
	a.By = r.String("By")
	a.Note = r.String("Note")
	a.At = readTime(r, "At")
	a.Until = readTime(r, "Until")
	a.AlertID = r.String("AlertID")
	return r.Err()
}

// kind reads an action kind, without an allocation for the known ones.
func readKind(r *binrec.Reader) string {
	b := r.BytesOf("Kind")
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

func readTime(r *binrec.Reader, field string) time.Time {
	switch r.Byte(field) {
	case 0:
		return time.Time{}
	case 1:
	default:
		r.Off--
		r.Failf(field, "time tag %d, want 0 or 1", r.Data[r.Off])
		return time.Time{}
	}
	sec := r.Varint(field)
	start := r.Off
	nsec := r.Uvarint(field)
	if nsec >= uint64(time.Second) {
		r.Off = start
		r.Failf(field, "%d nanoseconds is not under a second", nsec)
	}
	if r.Err() != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
