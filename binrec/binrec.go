// Package binrec is the binary encoding of riskd's checkpoint records:
// uvarints, zig-zag varints, little-endian fixed-size numbers and
// length-prefixed strings, written with append and read back from
// untrusted bytes by a Reader whose errors name the field and the byte.
// The scorer's and the alert policy's states are encoded with it.
package binrec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// MaxString bounds every string and byte field.
const MaxString = 64 << 10

// ErrVarint is a uvarint that overflows 64 bits.
var ErrVarint = errors.New("malformed varint")

// SizeUvarint is the length of x as a uvarint.
func SizeUvarint(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// SizeVarint is the length of x as a zig-zag varint.
func SizeVarint(x int64) int { return SizeUvarint(uint64(x<<1) ^ uint64(x>>63)) }

// SizeString is the length of s, length-prefixed.
func SizeString(s string) int { return SizeUvarint(uint64(len(s))) + len(s) }

// AppendString appends s, length-prefixed; field names it in the error
// when s is over MaxString.
func AppendString(b []byte, field, s string) ([]byte, error) {
	if len(s) > MaxString {
		return b, fmt.Errorf("%s: %d bytes, over the limit of %d", field, len(s), MaxString)
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...), nil
}

// Finite reports whether f is neither NaN nor infinite: what
// encoding/json accepts, so that a binary and a JSON record hold the same
// states. NaN and ±Inf minus themselves are NaN.
func Finite(f float64) bool { return f-f == 0 }

// ErrNotFinite is the error for a float that cannot be checkpointed.
func ErrNotFinite(f float64) error { return fmt.Errorf("%v cannot be checkpointed", f) }

// Uvarint decodes the uvarint at data[off:] like binary.Uvarint, with a
// fast path for the one-byte values that most fields hold.
func Uvarint(data []byte, off int) (uint64, int) {
	if off < len(data) && data[off] < 0x80 {
		return uint64(data[off]), 1
	}
	return binary.Uvarint(data[off:])
}

// Reader reads the fields of a record in order from Data, at Off. The
// first failure sticks: later reads return zero values and are not
// reported, so that a decoder can check once per group of fields. No read
// allocates more than the input holds.
type Reader struct {
	Data []byte
	Off  int
	err  error
}

// Err is the first failure.
func (r *Reader) Err() error { return r.err }

// Fail records err as the failure of field at the current byte.
func (r *Reader) Fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %w", field, r.Off, err)
	}
	r.Off = len(r.Data)
}

// Failf is Fail with a message.
func (r *Reader) Failf(field, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %s", field, r.Off, fmt.Sprintf(format, args...))
	}
	r.Off = len(r.Data)
}

// Byte reads one byte.
func (r *Reader) Byte(field string) uint8 {
	if r.Off < len(r.Data) {
		v := r.Data[r.Off]
		r.Off++
		return v
	}
	r.Fail(field, io.ErrUnexpectedEOF)
	return 0
}

// Uvarint reads a uvarint.
func (r *Reader) Uvarint(field string) uint64 {
	v, n := Uvarint(r.Data, r.Off)
	if n <= 0 {
		r.FailVarint(field, n)
		return 0
	}
	r.Off += n
	return v
}

// FailVarint reports what binary.Uvarint's n says went wrong.
func (r *Reader) FailVarint(field string, n int) {
	if n == 0 {
		r.Fail(field, io.ErrUnexpectedEOF)
	} else {
		r.Fail(field, ErrVarint)
	}
}

// Varint reads a zig-zag varint.
func (r *Reader) Varint(field string) int64 {
	u := r.Uvarint(field)
	return int64(u>>1) ^ -int64(u&1)
}

// Int32 reads a zig-zag varint that must fit an int32.
func (r *Reader) Int32(field string) int32 {
	start := r.Off
	v := r.Varint(field)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.Off = start
		r.Failf(field, "%d is out of the int32 range", v)
		return 0
	}
	return int32(v)
}

// Length reads a count of items of at least minSize bytes each, bounded
// by limit and by what the input still holds.
func (r *Reader) Length(field string, limit, minSize int) int {
	start := r.Off
	v := r.Uvarint(field)
	if r.err != nil {
		return 0
	}
	if v > uint64(limit) {
		r.Off = start
		r.Failf(field, "length %d is over the limit of %d", v, limit)
		return 0
	}
	if rest := len(r.Data) - r.Off; v*uint64(minSize) > uint64(rest) {
		r.Off = start
		r.Fail(field, fmt.Errorf("length %d needs more than the %d bytes left: %w", v, rest, io.ErrUnexpectedEOF))
		return 0
	}
	return int(v)
}

// Bytes returns the next n bytes of the input, nil after a failure.
func (r *Reader) Bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.Data)-r.Off {
		r.Fail(field, io.ErrUnexpectedEOF)
		return nil
	}
	b := r.Data[r.Off : r.Off+n : r.Off+n]
	r.Off += n
	return b
}

// BytesOf reads a length-prefixed string without copying it.
func (r *Reader) BytesOf(field string) []byte {
	return r.Bytes(field, r.Length(field, MaxString, 1))
}

// String reads a length-prefixed string.
func (r *Reader) String(field string) string {
	b := r.BytesOf(field)
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// Uint64 reads 8 bytes, little-endian.
func (r *Reader) Uint64(field string) uint64 {
	if b := r.Bytes(field, 8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// Float64 reads a finite float64.
func (r *Reader) Float64(field string) float64 {
	f := math.Float64frombits(r.Uint64(field))
	if !Finite(f) {
		r.Off -= 8
		r.Fail(field, ErrNotFinite(f))
		return 0
	}
	return f
}

// Float32 reads a finite float32.
func (r *Reader) Float32(field string) float32 {
	b := r.Bytes(field, 4)
	if b == nil {
		return 0
	}
	f := math.Float32frombits(binary.LittleEndian.Uint32(b))
	if !Finite(float64(f)) {
		r.Off -= 4
		r.Fail(field, ErrNotFinite(float64(f)))
		return 0
	}
	return f
}
