package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxPathParts bounds a configured path, and so every walk over input.
const maxPathParts = 32

// checkPath reports a path that cannot be walked: empty parts ("a..b").
func checkPath(p string) error {
	parts := strings.Split(p, ".")
	if len(parts) > maxPathParts {
		return fmt.Errorf("%q has %d parts, the limit is %d", p, len(parts), maxPathParts)
	}
	for _, s := range parts {
		if s == "" {
			return fmt.Errorf("%q: want keys separated by single dots, e.g. data.object.metadata.account_id", p)
		}
	}
	return nil
}

// lookup walks doc (as decoded by decodeAny) along a dotted path: keys of
// objects, decimal indexes of arrays.
func lookup(doc any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	cur := doc
	for part := range strings.SplitSeq(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[part]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// decodeAny decodes a JSON document keeping numbers exact.
func decodeAny(body []byte) (any, error) {
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON document")
	}
	return v, nil
}

// scalarString is a string or a number as text: ids come as either.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}
