package rules

import (
	"fmt"
	"strconv"
	"strings"

	"cel.dev/cel-go/common/types"
)

// detail is a parsed detail template: literal text and placeholders.
type detail struct {
	parts []part
}

// part is literal text when l is nil, else a placeholder for feature l
// printed with prec decimals (-1: the type's default format).
type part struct {
	lit  string
	l    *leaf
	prec int
	// one and many, when set, follow an int with its noun: "1 day", "3 days".
	one, many string
}

// parseDetail parses "{tickets.opened_7d} tickets, {tickets.spike_ratio:.1f}x".
// "{{" and "}}" stand for literal braces. Every placeholder must name a
// feature, so a typo fails the load instead of showing up in an alert.
func parseDetail(s string) (detail, error) {
	var d detail
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '}':
			return detail{}, fmt.Errorf("unmatched } at offset %d (write }} for a literal brace)", i)
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return detail{}, fmt.Errorf("unclosed { at offset %d (write {{ for a literal brace)", i)
			}
			p, err := parsePlaceholder(s[i+1 : i+end])
			if err != nil {
				return detail{}, err
			}
			if lit.Len() > 0 {
				d.parts = append(d.parts, part{lit: lit.String()})
				lit.Reset()
			}
			d.parts = append(d.parts, p)
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		d.parts = append(d.parts, part{lit: lit.String()})
	}
	return d, nil
}

// parsePlaceholder parses "name", "name:.1f", "name|day" (1 day, 3 days)
// or "name|inquiry|inquiries" for a noun with an irregular plural.
func parsePlaceholder(body string) (part, error) {
	body, nouns, hasNoun := strings.Cut(body, "|")
	name, spec, hasSpec := strings.Cut(body, ":")
	name = strings.TrimSpace(name)
	l, ok := byName[name]
	if !ok {
		return part{}, fmt.Errorf("unknown feature %q in {%s}", name, body)
	}
	p := part{l: l, prec: -1}
	if hasNoun {
		one, many, irregular := strings.Cut(nouns, "|")
		if !irregular {
			many = one + "s"
		}
		switch {
		case l.Type != "int":
			return part{}, fmt.Errorf("{%s|%s}: %s is a %s, only ints take a noun", body, nouns, name, l.Type)
		case hasSpec:
			return part{}, fmt.Errorf("{%s|%s}: a noun and a format do not go together", body, nouns)
		case one == "" || many == "" || strings.Contains(many, "|"):
			return part{}, fmt.Errorf("{%s|%s}: want {feature|noun} or {feature|noun|plural}", body, nouns)
		}
		p.one, p.many = one, many
		return p, nil
	}
	if !hasSpec {
		return p, nil
	}
	if len(spec) != 3 || spec[0] != '.' || spec[1] < '0' || spec[1] > '6' || spec[2] != 'f' {
		return part{}, fmt.Errorf("format %q in {%s}: want .Nf with N from 0 to 6, e.g. .1f", spec, body)
	}
	if l.Type != "int" && l.Type != "double" {
		return part{}, fmt.Errorf("format %q in {%s}: %s is a %s, only numbers take a format", spec, body, name, l.Type)
	}
	p.prec = int(spec[1] - '0')
	return p, nil
}

// render writes the template for f. Doubles without a format get at most
// two decimals, trailing zeros dropped: 63.333 → 63.33, 4.10 → 4.1.
func (d detail) render(f *Features) string {
	var b strings.Builder
	for _, p := range d.parts {
		if p.l == nil {
			b.WriteString(p.lit)
			continue
		}
		switch v := p.l.get(f).(type) {
		case types.Int:
			if p.prec >= 0 {
				b.WriteString(strconv.FormatFloat(float64(v), 'f', p.prec, 64))
			} else {
				b.WriteString(strconv.FormatInt(int64(v), 10))
			}
			if p.one != "" {
				b.WriteByte(' ')
				if v == 1 {
					b.WriteString(p.one)
				} else {
					b.WriteString(p.many)
				}
			}
		case types.Double:
			if p.prec >= 0 {
				b.WriteString(strconv.FormatFloat(float64(v), 'f', p.prec, 64))
			} else {
				s := strconv.FormatFloat(float64(v), 'f', 2, 64)
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
				if s == "-0" {
					s = "0"
				}
				b.WriteString(s)
			}
		case types.String:
			b.WriteString(string(v))
		case types.Bool:
			b.WriteString(strconv.FormatBool(bool(v)))
		}
	}
	return b.String()
}
