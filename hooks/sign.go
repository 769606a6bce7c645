package hooks

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxSignatureHeader bounds the header a parser reads.
const maxSignatureHeader = 4 << 10

// HMACScheme describes a signature that is an HMAC of the raw body (or,
// with TimestampHeader, of that header's value, a ".", and the body).
type HMACScheme struct {
	// Header carries the signature; default X-Signature.
	Header string `yaml:"header"`
	// Hash is sha256 (default) or sha1.
	Hash string `yaml:"hash"`
	// Encoding is hex (default) or base64.
	Encoding string `yaml:"encoding"`
	// Prefix is stripped from the header's value first, e.g. "sha256=".
	Prefix string `yaml:"prefix"`
	// TimestampHeader, when set, carries a Unix time that is signed with
	// the body ("<t>.<body>") and must be within the tolerance.
	TimestampHeader string `yaml:"timestamp_header"`
}

func (s HMACScheme) withDefaults() HMACScheme {
	if s.Header == "" {
		s.Header = "X-Signature"
	}
	if s.Hash == "" {
		s.Hash = "sha256"
	}
	if s.Encoding == "" {
		s.Encoding = "hex"
	}
	return s
}

func (s HMACScheme) check() error {
	s = s.withDefaults()
	switch {
	case s.Hash != "sha256" && s.Hash != "sha1":
		return fmt.Errorf("hash %q: want sha256 or sha1", s.Hash)
	case s.Encoding != "hex" && s.Encoding != "base64":
		return fmt.Errorf("encoding %q: want hex or base64", s.Encoding)
	case strings.ContainsAny(s.Header, " :\r\n"), strings.ContainsAny(s.TimestampHeader, " :\r\n"):
		return fmt.Errorf("header names must not contain spaces or colons")
	}
	return nil
}

func (s HMACScheme) newHash() func() hash.Hash {
	if s.Hash == "sha1" {
		return sha1.New
	}
	return sha256.New
}

// verify checks r against the scheme.
func (s HMACScheme) verify(r Request, secret []byte, now time.Time, tolerance time.Duration) error {
	got := r.Header.Get(s.Header)
	if got == "" {
		return fmt.Errorf("%w: no %s header", ErrSignature, s.Header)
	}
	got, ok := strings.CutPrefix(got, s.Prefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrSignature, s.Header, s.Prefix)
	}
	sig, err := decodeSig(got, s.Encoding)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSignature, s.Header, err)
	}
	var signed [][]byte
	if s.TimestampHeader != "" {
		ts := r.Header.Get(s.TimestampHeader)
		if err := checkUnix(ts, now, tolerance); err != nil {
			return err
		}
		signed = append(signed, []byte(ts), []byte("."))
	}
	signed = append(signed, r.Body)
	if !hmacEqual(s.newHash(), secret, sig, signed...) {
		return fmt.Errorf("%w: %s does not match the body", ErrSignature, s.Header)
	}
	return nil
}

func decodeSig(v, encoding string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if len(v) > maxSignatureHeader {
		return nil, fmt.Errorf("%d bytes, too long", len(v))
	}
	if encoding == "base64" {
		return base64.StdEncoding.DecodeString(v)
	}
	return hex.DecodeString(v)
}

// hmacEqual computes the HMAC of the parts and compares it with want in
// constant time.
func hmacEqual(h func() hash.Hash, secret, want []byte, parts ...[]byte) bool {
	m := hmac.New(h, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return hmac.Equal(m.Sum(nil), want)
}

// checkUnix parses a Unix-seconds timestamp and checks it is within
// tolerance of now, either way.
func checkUnix(v string, now time.Time, tolerance time.Duration) error {
	if v == "" {
		return fmt.Errorf("%w: no timestamp", ErrSignature)
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %.20q is not Unix seconds", ErrSignature, v)
	}
	return checkTime(time.Unix(sec, 0), now, tolerance)
}

func checkTime(t, now time.Time, tolerance time.Duration) error {
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now, the tolerance is %s", ErrStale,
			t.UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	return nil
}

// Timestamped signatures, Stripe's scheme, which riskd also uses for its
// outbound webhooks: "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
// Several v1 entries may be given during a secret rotation; one match is
// enough.

// SignTimestamped returns the header value signing body at t.
func SignTimestamped(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ParseTimestamped splits a timestamped signature header into its time
// and v1 signatures. Unknown keys (v0, a future scheme) are skipped.
func ParseTimestamped(header string) (ts string, sigs [][]byte, err error) {
	if header == "" {
		return "", nil, fmt.Errorf("%w: no signature header", ErrSignature)
	}
	if len(header) > maxSignatureHeader {
		return "", nil, fmt.Errorf("%w: signature header is %d bytes", ErrSignature, len(header))
	}
	for item := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: %.40q is not key=value", ErrSignature, item)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				continue
			}
			if len(sigs) < 8 {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" {
		return "", nil, fmt.Errorf("%w: no t= in the signature header", ErrSignature)
	}
	if len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: no v1= signature", ErrSignature)
	}
	return ts, sigs, nil
}

// VerifyTimestamped checks a timestamped signature header over body: one
// v1 must match and t must be within tolerance of now.
func VerifyTimestamped(header string, body, secret []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := ParseTimestamped(header)
	if err != nil {
		return err
	}
	if err := checkUnix(ts, now, tolerance); err != nil {
		return err
	}
	// Every candidate is compared, so the time taken does not say which
	// one matched.
	ok := false
	for _, s := range sigs {
		if hmacEqual(sha256.New, secret, s, []byte(ts), []byte("."), body) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature matches the body", ErrSignature)
	}
	return nil
}

// header is h's value for k, or "" with a nil h.
func header(h http.Header, k string) string {
	if h == nil {
		return ""
	}
	return h.Get(k)
}
