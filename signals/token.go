package signals

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// MaxRawToken is the longest customer ID used verbatim as a subject token.
const MaxRawToken = 64

// encodedPrefix marks an encoded token. '=' can never appear in a verbatim
// token, is legal in NATS subjects and in JetStream KV keys, and is not a
// wildcard, so the two forms never collide.
const encodedPrefix = '='

var b64 = base64.RawURLEncoding

// SubjectToken turns any customer (or owner) ID into exactly one NATS
// subject token. IDs made only of [A-Za-z0-9_-] and at most 64 bytes long
// are used as they are, so subjects stay readable; anything else becomes
// '=' followed by the unpadded base64url of its bytes. The result is also a
// valid JetStream KV key. An empty ID gives "=" so that it still occupies
// exactly one token.
func SubjectToken(id string) string {
	if isRawToken(id) {
		return id
	}
	buf := make([]byte, 1+b64.EncodedLen(len(id)))
	buf[0] = encodedPrefix
	b64.Encode(buf[1:], []byte(id))
	return string(buf)
}

// ParseSubjectToken is the inverse of SubjectToken.
func ParseSubjectToken(tok string) (string, error) {
	if tok == "" {
		return "", errors.New("empty subject token")
	}
	if tok[0] != encodedPrefix {
		if !isRawToken(tok) {
			return "", fmt.Errorf("subject token %q: want [A-Za-z0-9_-]{1,64} or '=' and base64url", truncate(tok, 80))
		}
		return tok, nil
	}
	id, err := b64.DecodeString(tok[1:])
	if err != nil {
		return "", fmt.Errorf("subject token %q: %w", truncate(tok, 80), err)
	}
	// Only the canonical form is accepted, so one ID has one token.
	if SubjectToken(string(id)) != tok {
		return "", fmt.Errorf("subject token %q is not in canonical form", truncate(tok, 80))
	}
	return string(id), nil
}

func isRawToken(s string) bool {
	if len(s) == 0 || len(s) > MaxRawToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
