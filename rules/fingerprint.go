package rules

import (
	"hash/maphash"
	"io"
	"unsafe"
)

// fingerprintBuf holds a Features value with its string headers zeroed,
// followed by the strings' lengths and bytes: room for the struct and for
// strings as long as the wire contract lets profile fields be.
const fingerprintBuf = 2048

// Fingerprint hashes every feature of f under two seeds. Equal features
// give equal fingerprints; different ones collide under one seed with
// probability 2^-64, under both (independent seeds) 2^-128. Rule outcomes
// are a function of the features alone, so a caller may skip evaluating a
// rule set on features whose fingerprints match those it last evaluated.
//
// Strings are hashed by content, never by address: a string freed and
// another allocated in its place must not look the same. Other fields are
// hashed as their bytes, so floats compare bit for bit (-0 and 0 differ,
// which costs a re-evaluation, never a wrong outcome).
func (f *Features) Fingerprint(a, b maphash.Seed) (uint64, uint64) {
	var buf [fingerprintBuf]byte
	n := copy(buf[:], unsafe.Slice((*byte)(unsafe.Pointer(f)), unsafe.Sizeof(*f)))
	for _, l := range stringLeaves {
		clear(buf[l.offset : l.offset+unsafe.Sizeof("")])
	}
	long := false
	for _, l := range stringLeaves {
		s := *(*string)(unsafe.Add(unsafe.Pointer(f), l.offset))
		if n+8+len(s) > len(buf) {
			long = true
			break
		}
		n = len(appendLen(buf[:n], len(s)))
		n += copy(buf[n:], s)
	}
	if !long {
		return maphash.Bytes(a, buf[:n]), maphash.Bytes(b, buf[:n])
	}
	return f.fingerprintLong(a, b)
}

// fingerprintLong is Fingerprint for strings longer than any profile
// carries: the same bytes, streamed. It is apart so that Fingerprint's
// buffer stays on the stack.
func (f *Features) fingerprintLong(a, b maphash.Seed) (uint64, uint64) {
	head := make([]byte, unsafe.Sizeof(*f))
	copy(head, unsafe.Slice((*byte)(unsafe.Pointer(f)), unsafe.Sizeof(*f)))
	for _, l := range stringLeaves {
		clear(head[l.offset : l.offset+unsafe.Sizeof("")])
	}
	var ha, hb maphash.Hash
	ha.SetSeed(a)
	hb.SetSeed(b)
	w := io.MultiWriter(&ha, &hb)
	_, _ = w.Write(head)
	for _, l := range stringLeaves {
		s := *(*string)(unsafe.Add(unsafe.Pointer(f), l.offset))
		_, _ = w.Write(appendLen(nil, len(s)))
		_, _ = io.WriteString(w, s)
	}
	return ha.Sum64(), hb.Sum64()
}

func appendLen(b []byte, n int) []byte {
	for i := range 8 {
		b = append(b, byte(uint64(n)>>(8*i)))
	}
	return b
}
