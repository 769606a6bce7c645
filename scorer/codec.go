package scorer

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"unique"

	"github.com/riskwatch/riskwatch/binrec"
	"github.com/riskwatch/riskwatch/signals"

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
//	Committed varint, Fired: n uvarint, n × (Rule string, At-Committed
//	  varint, Mask uvarint, Prior varint)
//	Score fixed 8, Tier byte, Evaluated varint, History 90 bytes, HistoryTop varint
//	ClosedTiers fixed 8, Kinds: 10 × uvarint (0: none, else Watermark-t+1)
//	ActiveDays uvarint (version 3)
//	Outcomes (version 4): n uvarint, n × (T varint, ID string, Type byte,
//	  ARR fixed 8, Prior fixed 8, Alert varint), OutcomesFloor varint,
//	  AtRisk varint
//	Raw fixed 8 (version 5)
//
// Version 4 ends at AtRisk; it is still read, with Raw = Score: the raw
// sum was not kept, and the score is the closest honest figure (exact
// within [0, 100], the cap above it) until the customer's next
// evaluation. Version 3 ends at ActiveDays, version 2 at Kinds; they are
// still read, with no outcome and no warning: what came before the
// upgrade is not known.
//
// Version 1 (riskd 0.1) had no Mask, Prior, ClosedTiers or Kinds; it is
// still read: each firing as its last day only, the closed tier as the
// last evaluation's, the kinds' latest times from the events the state
// holds.
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
const binaryVersion = 5

// Limits of the binary format, far above what the model keeps (rings of
// about 60 days, 64 events, one firing per rule).
const (
	maxBinaryDays   = 4096
	maxBinaryEvents = 4096
	maxBinaryFired  = 4096
	maxBinaryOut    = 256
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
	n := 1 + binrec.SizeString(st.Customer) + binrec.SizeVarint(st.First) + binrec.SizeVarint(st.Watermark) + binrec.SizeUvarint(st.Seq)
	n += binrec.SizeVarint(int64(st.Usage.Top)) + binrec.SizeUvarint(uint64(len(st.Usage.C)))
	for _, v := range st.Usage.C {
		n += binrec.SizeUvarint(uint64(v))
	}
	n += binrec.SizeVarint(int64(st.ActiveUsers.Top)) + binrec.SizeUvarint(uint64(len(st.ActiveUsers.C)))
	for _, v := range st.ActiveUsers.C {
		n += binrec.SizeUvarint(uint64(v))
	}
	n += binrec.SizeVarint(int64(st.Opened.Top)) + binrec.SizeUvarint(uint64(len(st.Opened.C))) + len(st.Opened.C)
	n += binrec.SizeVarint(st.FirstUsage) + binrec.SizeVarint(st.LastUsage) + binrec.SizeString(st.LastUsageID) + binrec.SizeVarint(int64(st.UsageBefore))

	ids, prev := 0, int64(0)
	for i := range st.Events {
		ev := &st.Events[i]
		ids += len(ev.ID)
		n += 3 + binrec.SizeVarint(ev.T-prev) + binrec.SizeUvarint(uint64(len(ev.ID)))
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
	n += binrec.SizeUvarint(uint64(len(st.Events))) + binrec.SizeUvarint(uint64(ids)) + ids

	n++
	if bf := st.Before; bf != nil {
		n += binrec.SizeVarint(bf.Contact) + binrec.SizeVarint(bf.ChampionLeft) + binrec.SizeVarint(bf.ChampionAdded)
		for _, a := range [...]*Answer{&bf.NPS[0], &bf.NPS[1], &bf.Rating, &bf.Renewal} {
			n += binrec.SizeVarint(a.T) + binrec.SizeVarint(a.V) + binrec.SizeString(a.ID)
		}
	}

	n += binrec.SizeVarint(st.Churned) + 8*seenIDs + 1 + binrec.SizeVarint(st.Committed) + binrec.SizeUvarint(uint64(len(st.Fired)))
	for i := range st.Fired {
		f := &st.Fired[i]
		n += binrec.SizeString(f.Rule) + binrec.SizeVarint(f.At-st.Committed) + binrec.SizeUvarint(f.Mask) + binrec.SizeVarint(f.Prior)
	}
	n += 8 + 1 + binrec.SizeVarint(st.Evaluated) + historyDays + binrec.SizeVarint(int64(st.HistoryTop)) + 8
	for _, t := range st.Kinds {
		if t == 0 {
			n++
		} else {
			n += binrec.SizeUvarint(uint64(st.Watermark-t) + 1)
		}
	}
	n += binrec.SizeUvarint(uint64(st.ActiveDays)) + binrec.SizeUvarint(uint64(len(st.Outcomes)))
	for i := range st.Outcomes {
		o := &st.Outcomes[i]
		n += binrec.SizeVarint(o.T) + binrec.SizeString(o.ID) + 1 + 16 + binrec.SizeVarint(o.Alert)
	}
	return n + binrec.SizeVarint(st.OutcomesFloor) + binrec.SizeVarint(st.AtRisk) + 8
}

// appendBinary writes the whole state, section by section in the order
// of the layout above.
func (st *State) appendBinary(b []byte) ([]byte, error) {
	var err error
	b = append(b, binaryVersion)
	if b, err = binrec.AppendString(b, "Customer", st.Customer); err != nil {
		return b, err
	}
	b = binary.AppendVarint(b, st.First)
	b = binary.AppendVarint(b, st.Watermark)
	b = binary.AppendUvarint(b, st.Seq)

	if b, err = st.appendDays(b); err != nil {
		return b, err
	}
	if b, err = st.appendEvents(b); err != nil {
		return b, err
	}
	if b, err = st.appendBefore(b); err != nil {
		return b, err
	}

	b = binary.AppendVarint(b, st.Churned)
	for _, h := range st.Seen {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	b = append(b, st.SeenPos)

	if b, err = st.appendFired(b); err != nil {
		return b, err
	}
	if b, err = st.appendScore(b); err != nil {
		return b, err
	}
	if b, err = st.appendOutcomes(b); err != nil {
		return b, err
	}
	if !binrec.Finite(st.Raw) {
		return b, fmt.Errorf("raw score: %w", binrec.ErrNotFinite(st.Raw))
	}
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Raw)), nil
}

// appendOutcomes writes the outcomes and the current episode's warning.
func (st *State) appendOutcomes(b []byte) ([]byte, error) {
	if len(st.Outcomes) > maxBinaryOut {
		return b, fmt.Errorf("outcomes: %d outcomes, over the limit of %d", len(st.Outcomes), maxBinaryOut)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Outcomes)))
	for i := range st.Outcomes {
		o := &st.Outcomes[i]
		b = binary.AppendVarint(b, o.T)
		var err error
		if b, err = binrec.AppendString(b, "Outcome ID", o.ID); err != nil {
			return b, err
		}
		if !o.Type.valid() {
			return b, fmt.Errorf("outcome type %d: %w", uint8(o.Type), errBadOutcome)
		}
		if !binrec.Finite(o.ARR) || !binrec.Finite(o.Prior) {
			return b, fmt.Errorf("outcome ARR: %w", binrec.ErrNotFinite(o.ARR+o.Prior))
		}
		b = append(b, uint8(o.Type))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.ARR))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.Prior))
		b = binary.AppendVarint(b, o.Alert)
	}
	b = binary.AppendVarint(b, st.OutcomesFloor)
	return binary.AppendVarint(b, st.AtRisk), nil
}

// decodeOutcomes reads what appendOutcomes writes. A failure stays in r.
func (st *State) decodeOutcomes(r *binrec.Reader) {
	n := r.Length("Outcomes", maxBinaryOut, 20)
	if n > 0 {
		st.Outcomes = make([]Outcome, n)
	}
	for i := 0; i < n && r.Err() == nil; i++ {
		o := &st.Outcomes[i]
		o.T = r.Varint("Outcome.T")
		o.ID = r.String("Outcome.ID")
		if t := r.Byte("Outcome.Type"); r.Err() == nil {
			o.Type = OutcomeType(t)
			if !o.Type.valid() {
				r.Off--
				r.Failf("Outcome.Type", "%d: %v", t, errBadOutcome)
			}
		}
		o.ARR = r.Float64("Outcome.ARR")
		o.Prior = r.Float64("Outcome.Prior")
		o.Alert = r.Varint("Outcome.Alert")
	}
	st.OutcomesFloor = r.Varint("OutcomesFloor")
	st.AtRisk = r.Varint("AtRisk")
}

// appendDays writes the daily rings and the usage fields that follow
// them, from Usage to UsageBefore.
func (st *State) appendDays(b []byte) ([]byte, error) {
	var err error
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
	if b, err = binrec.AppendString(b, "LastUsageID", st.LastUsageID); err != nil {
		return b, err
	}
	b = binary.AppendVarint(b, int64(st.UsageBefore))
	return b, nil
}

// appendBefore writes the presence byte of Before and, when there is
// one, its fields.
func (st *State) appendBefore(b []byte) ([]byte, error) {
	if st.Before == nil {
		return append(b, 0), nil
	}
	var err error
	bf := st.Before
	b = append(b, 1)
	b = binary.AppendVarint(b, bf.Contact)
	b = binary.AppendVarint(b, bf.ChampionLeft)
	b = binary.AppendVarint(b, bf.ChampionAdded)
	for _, a := range [...]*Answer{&bf.NPS[0], &bf.NPS[1], &bf.Rating, &bf.Renewal} {
		b = binary.AppendVarint(b, a.T)
		b = binary.AppendVarint(b, a.V)
		if b, err = binrec.AppendString(b, "Before answer ID", a.ID); err != nil {
			return b, err
		}
	}
	return b, nil
}

// appendFired writes Committed and the firings, each relative to it.
func (st *State) appendFired(b []byte) ([]byte, error) {
	var err error
	b = binary.AppendVarint(b, st.Committed)
	if len(st.Fired) > maxBinaryFired {
		return b, fmt.Errorf("fired: %d firings, over the limit of %d", len(st.Fired), maxBinaryFired)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Fired)))
	for i := range st.Fired {
		f := &st.Fired[i]
		if b, err = binrec.AppendString(b, "Fired Rule", f.Rule); err != nil {
			return b, err
		}
		// Firings are days shortly before Committed: a small difference.
		b = binary.AppendVarint(b, f.At-st.Committed)
		b = binary.AppendUvarint(b, f.Mask)
		b = binary.AppendVarint(b, f.Prior)
	}
	return b, nil
}

// appendScore writes the last evaluation: Score, Tier, Evaluated and the
// score history.
func (st *State) appendScore(b []byte) ([]byte, error) {
	if !binrec.Finite(st.Score) {
		return b, fmt.Errorf("score: %w", binrec.ErrNotFinite(st.Score))
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.Score))
	if err := checkTier(st.Tier); err != nil {
		return b, fmt.Errorf("tier: %w", err)
	}
	b = append(b, uint8(st.Tier))
	b = binary.AppendVarint(b, st.Evaluated)
	b = append(b, st.History[:]...)
	b = binary.AppendVarint(b, int64(st.HistoryTop))
	b = binary.LittleEndian.AppendUint64(b, st.ClosedTiers)
	for _, t := range st.Kinds {
		var v uint64
		if t != 0 {
			v = uint64(st.Watermark-t) + 1
		}
		b = binary.AppendUvarint(b, v)
	}
	return binary.AppendUvarint(b, uint64(st.ActiveDays)), nil
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
		if len(st.Events[i].ID) > binrec.MaxString {
			return b, fmt.Errorf("Events[%d].ID: %d bytes, over the limit of %d", i, len(st.Events[i].ID), binrec.MaxString)
		}
		b = append(b, st.Events[i].ID...)
	}
	prev := int64(0)
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.Code == codeNone || ev.Code >= numCodes {
			return b, fmt.Errorf("Events[%d].Code: invalid event code %d", i, uint8(ev.Code))
		}
		if !binrec.Finite(ev.V) {
			return b, fmt.Errorf("Events[%d].V: %w", i, binrec.ErrNotFinite(ev.V))
		}
		if !binrec.Finite(float64(ev.W)) {
			return b, fmt.Errorf("Events[%d].W: %w", i, binrec.ErrNotFinite(float64(ev.W)))
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

// decodeBinary reads the whole state, section by section in the order of
// the layout above, into a zero st.
func (st *State) decodeBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("version: %w", io.ErrUnexpectedEOF)
	}
	version := data[0]
	if version < 1 || version > binaryVersion {
		return fmt.Errorf("unsupported format version %d (want 1 to %d)", data[0], binaryVersion)
	}
	r := binrec.Reader{Data: data, Off: 1}
	st.Customer = r.String("Customer")
	st.First = r.Varint("First")
	st.Watermark = r.Varint("Watermark")
	st.Seq = r.Uvarint("Seq")

	st.decodeDays(&r)
	if r.Err() != nil {
		return r.Err()
	}

	if err := st.decodeEvents(&r); err != nil {
		return err
	}
	if err := st.decodeBefore(&r); err != nil {
		return err
	}

	st.Churned = r.Varint("Churned")
	if seen := r.Bytes("Seen", 8*seenIDs); seen != nil {
		for i := range st.Seen {
			st.Seen[i] = binary.LittleEndian.Uint64(seen[8*i:])
		}
	}
	st.SeenPos = r.Byte("SeenPos")
	st.Committed = r.Varint("Committed")
	if r.Err() != nil {
		return r.Err()
	}

	if err := st.decodeFired(&r, version); err != nil {
		return err
	}
	st.decodeScore(&r)
	if version == 1 {
		st.upgradeV1()
	} else {
		st.decodeClocks(&r)
	}
	if version >= 3 {
		st.ActiveDays = uint32(min(r.Uvarint("ActiveDays"), math.MaxUint32))
	} else {
		// Before version 3 only the ring knew: the days it still holds.
		st.UsageDays(func(int32, uint64) { st.ActiveDays++ })
	}
	if version >= 4 {
		st.decodeOutcomes(&r)
	}
	if version >= 5 {
		st.Raw = r.Float64("Raw")
	} else {
		// Not kept before version 5: the score stands in (see the layout).
		st.Raw = st.Score
	}
	if r.Err() != nil {
		return r.Err()
	}
	if rest := len(data) - r.Off; rest > 0 {
		return fmt.Errorf("%d trailing bytes after the state at byte %d", rest, r.Off)
	}
	return nil
}

// decodeDays reads what appendDays writes. A failure stays in r.
func (st *State) decodeDays(r *binrec.Reader) {
	st.Usage.Top = r.Int32("Usage.Top")
	st.Usage.C = readCounts[uint32](r, "Usage.C")
	st.ActiveUsers.Top = r.Int32("ActiveUsers.Top")
	st.ActiveUsers.C = readCounts[uint16](r, "ActiveUsers.C")
	st.Opened.Top = r.Int32("Opened.Top")
	if n := r.Length("Opened.C", maxBinaryDays, 1); n > 0 {
		st.Opened.C = slices.Clone(r.Bytes("Opened.C", n))
	}

	st.FirstUsage = r.Varint("FirstUsage")
	st.LastUsage = r.Varint("LastUsage")
	st.LastUsageID = r.String("LastUsageID")
	st.UsageBefore = r.Int32("UsageBefore")
}

// decodeBefore reads what appendBefore writes and returns the first
// failure.
func (st *State) decodeBefore(r *binrec.Reader) error {
	switch r.Byte("Before") {
	case 0:
	case 1:
		bf := &Before{}
		bf.Contact = r.Varint("Before.Contact")
		bf.ChampionLeft = r.Varint("Before.ChampionLeft")
		bf.ChampionAdded = r.Varint("Before.ChampionAdded")
		for _, a := range [...]struct {
			name string
			a    *Answer
		}{{"NPS[0]", &bf.NPS[0]}, {"NPS[1]", &bf.NPS[1]}, {"Rating", &bf.Rating}, {"Renewal", &bf.Renewal}} {
			a.a.T, a.a.V, a.a.ID = r.Varint("T"), r.Varint("V"), r.String("ID")
			if r.Err() != nil {
				return fmt.Errorf("Before.%s.%w", a.name, r.Err())
			}
		}
		st.Before = bf
	default:
		r.Off--
		r.Failf("Before", "presence byte %d, want 0 or 1", r.Data[r.Off])
	}
	return r.Err()
}

// decodeFired reads the firings that appendFired writes after Committed,
// which st already holds, and returns the first failure.
func (st *State) decodeFired(r *binrec.Reader, version byte) error {
	if n := r.Length("Fired", maxBinaryFired, 2); n > 0 {
		st.Fired = make([]Firing, n)
		for i := range st.Fired {
			f := &st.Fired[i]
			// Every customer fires the same few rules: one copy of each
			// name serves them all.
			if name := r.BytesOf("Rule"); len(name) > 0 {
				f.Rule = unique.Make(string(name)).Value()
			}
			f.At = st.Committed + r.Varint("At")
			f.Mask, f.Prior = 1, 0
			if version > 1 {
				f.Mask, f.Prior = r.Uvarint("Mask"), r.Varint("Prior")
			}
			if r.Err() != nil {
				return fmt.Errorf("Fired[%d].%w", i, r.Err())
			}
		}
	}
	return r.Err()
}

// decodeScore reads what appendScore writes. A failure stays in r.
func (st *State) decodeScore(r *binrec.Reader) {
	st.Score = r.Float64("Score")
	if t := r.Byte("Tier"); r.Err() == nil {
		st.Tier = rules.Tier(t)
		if err := checkTier(st.Tier); err != nil {
			r.Off--
			r.Fail("Tier", err)
		}
	}
	st.Evaluated = r.Varint("Evaluated")
	if h := r.Bytes("History", historyDays); h != nil {
		copy(st.History[:], h)
	}
	st.HistoryTop = r.Int32("HistoryTop")
}

// decodeClocks reads ClosedTiers and Kinds. A failure stays in r.
func (st *State) decodeClocks(r *binrec.Reader) {
	st.ClosedTiers = r.Uint64("ClosedTiers")
	for k := range st.Kinds {
		if v := r.Uvarint("Kinds"); v > 0 {
			st.Kinds[k] = st.Watermark - int64(v-1)
		}
	}
}

// upgradeV1 fills what a version 1 state did not hold: the tier of the
// last closed day is taken to be the last evaluation's, and the latest
// event of each kind is the latest the state still holds.
func (st *State) upgradeV1() {
	st.ClosedTiers = uint64(st.Tier)
	see := func(k signals.Kind, t int64) {
		if i := k.Index(); i >= 0 && t > st.Kinds[i] {
			st.Kinds[i] = t
		}
	}
	see(signals.KindUsage, st.LastUsage)
	for i := range st.Events {
		see(st.Events[i].Code.Kind(), st.Events[i].T)
	}
	if bf := st.Before; bf != nil {
		see(signals.KindContact, bf.Contact)
		see(signals.KindChampion, max(bf.ChampionLeft, bf.ChampionAdded))
		see(signals.KindNPS, bf.NPS[0].T)
		see(signals.KindRating, bf.Rating.T)
		see(signals.KindOutcome, bf.Renewal.T)
	}
	see(signals.KindOutcome, st.Churned)
}

func (st *State) decodeEvents(r *binrec.Reader) error {
	// An event takes at least 5 bytes: code, flags, fields, time, id length.
	n := r.Length("Events", maxBinaryEvents, 5)
	ids := r.Length("Events ids", maxBinaryEvents*binrec.MaxString, 1)
	block := string(r.Bytes("Events ids", ids))
	if r.Err() != nil || n == 0 {
		if r.Err() == nil && ids > 0 {
			r.Failf("Events ids", "%d bytes of ids for no event", ids)
		}
		return r.Err()
	}
	st.Events = make([]Event, n)
	prev, pos := int64(0), 0
	for i := range st.Events {
		ev := &st.Events[i]
		code, flags, has := r.Byte("Code"), r.Byte("Flags"), r.Byte("fields")
		switch {
		case r.Err() != nil:
		case code == uint8(codeNone) || code >= uint8(numCodes):
			// The same refusal as Code.UnmarshalText on a JSON checkpoint.
			r.Off -= 3
			r.Failf("Code", "unknown event code %d in checkpoint", code)
		case has&^evFieldsMask != 0:
			r.Off--
			r.Failf("fields", "unknown field bits %#x", has&^evFieldsMask)
		}
		ev.Code, ev.Flags = Code(code), flags
		ev.T = prev + r.Varint("T")
		prev = ev.T
		start := r.Off
		if l := r.Length("ID", binrec.MaxString, 0); r.Err() == nil {
			if l > len(block)-pos {
				r.Off = start
				r.Failf("ID", "%d bytes, past the %d bytes of ids left", l, len(block)-pos)
			} else {
				ev.ID = block[pos : pos+l]
				pos += l
			}
		}
		if has&evHasKey != 0 {
			ev.Key = r.Uint64("Key")
		}
		if has&evHasV != 0 {
			ev.V = r.Float64("V")
		}
		if has&evHasW != 0 {
			ev.W = r.Float32("W")
		}
		if r.Err() != nil {
			return fmt.Errorf("Events[%d].%w", i, r.Err())
		}
	}
	if pos != len(block) {
		return fmt.Errorf("events: %d bytes of ids not used by any event", len(block)-pos)
	}
	return nil
}

func readCounts[T uint16 | uint32](r *binrec.Reader, field string) []T {
	n := r.Length(field, maxBinaryDays, 1)
	if n == 0 {
		return nil
	}
	c := make([]T, n)
	limit := uint64(^T(0))
	data, off := r.Data, r.Off
	for i := range c {
		// uvarint by hand: the call costs more than a one-byte value.
		v, k := uint64(0), 1
		if off < len(data) && data[off] < 0x80 {
			v = uint64(data[off])
		} else {
			v, k = binary.Uvarint(data[off:])
		}
		if k <= 0 {
			r.Off = off
			r.FailVarint(field, k)
			return c
		}
		if v > limit {
			r.Off = off
			r.Failf(field, "day %d holds %d, over the maximum of %d", i, v, limit)
			return c
		}
		c[i] = T(v)
		off += k
	}
	r.Off = off
	return c
}
