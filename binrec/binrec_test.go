package binrec

import (
	"encoding/binary"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -12345)
	b = binary.AppendVarint(b, math.MinInt32)
	b, err := AppendString(b, "name", "acme.corp")
	require.NoError(t, err)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(-0.5))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(2.25))

	r := Reader{Data: b}
	assert.Equal(t, uint8(7), r.Byte("byte"))
	assert.Equal(t, uint64(300), r.Uvarint("uvarint"))
	assert.Equal(t, int64(-12345), r.Varint("varint"))
	assert.Equal(t, int32(math.MinInt32), r.Int32("int32"))
	assert.Equal(t, "acme.corp", r.String("name"))
	assert.Equal(t, -0.5, r.Float64("f64"))
	assert.Equal(t, float32(2.25), r.Float32("f32"))
	require.NoError(t, r.Err())
	assert.Equal(t, len(b), r.Off)
}

func TestSizes(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 1 << 20, math.MaxUint64} {
		assert.Equal(t, len(binary.AppendUvarint(nil, x)), SizeUvarint(x), x)
	}
	for _, x := range []int64{0, -1, 63, -64, 64, math.MinInt64, math.MaxInt64} {
		assert.Equal(t, len(binary.AppendVarint(nil, x)), SizeVarint(x), x)
	}
	s := strings.Repeat("x", 200)
	b, err := AppendString(nil, "s", s)
	require.NoError(t, err)
	assert.Equal(t, len(b), SizeString(s))
	_, err = AppendString(nil, "big", strings.Repeat("x", MaxString+1))
	assert.ErrorContains(t, err, "big")
}

// Every failure names the field and the byte, and the first one sticks.
func TestReaderFailures(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		read func(r *Reader)
		want string
		is   error
	}{
		{"byte past the end", nil, func(r *Reader) { r.Byte("tag") }, "tag at byte 0", io.ErrUnexpectedEOF},
		{"truncated uvarint", []byte{0x80}, func(r *Reader) { r.Uvarint("n") }, "n at byte 0", io.ErrUnexpectedEOF},
		{"overflowing uvarint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, func(r *Reader) { r.Uvarint("n") }, "n at byte 0", ErrVarint},
		{"int32 out of range", binary.AppendVarint(nil, math.MaxInt32+1), func(r *Reader) { r.Int32("day") }, "day at byte 0: 2147483648 is out of the int32 range", nil},
		{"length over the limit", binary.AppendUvarint(nil, 5), func(r *Reader) { r.Length("events", 4, 1) }, "events at byte 0: length 5 is over the limit of 4", nil},
		{"length past the input", append(binary.AppendUvarint(nil, 3), 1, 2), func(r *Reader) { r.Length("ids", 10, 1) }, "needs more than the 2 bytes left", io.ErrUnexpectedEOF},
		{"string past the input", append([]byte{1, 'a'}, 5, 'b'), func(r *Reader) { r.String("a"); r.String("b") }, "b at byte 2", io.ErrUnexpectedEOF},
		{"NaN", binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN())), func(r *Reader) { r.Float64("score") }, "score at byte 0: NaN cannot be checkpointed", nil},
		{"Inf float32", binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(math.Inf(1)))), func(r *Reader) { r.Float32("w") }, "w at byte 0: +Inf", nil},
		{"first failure sticks", nil, func(r *Reader) { r.Byte("first"); r.Uvarint("second") }, "first at byte 0", io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Reader{Data: tc.data}
			tc.read(&r)
			require.Error(t, r.Err())
			assert.Contains(t, r.Err().Error(), tc.want)
			if tc.is != nil {
				assert.ErrorIs(t, r.Err(), tc.is)
			}
			assert.Equal(t, len(tc.data), r.Off, "a failure consumes the rest")
			assert.Zero(t, r.Uvarint("after"), "reads after a failure return zero")
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{1, 'a', 0x80, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Reader{Data: data}
		for r.Err() == nil && r.Off < len(r.Data) {
			_ = r.String("s")
			_ = r.Varint("v")
			_ = r.Float32("f")
		}
		require.LessOrEqual(t, r.Off, len(data))
	})
}
