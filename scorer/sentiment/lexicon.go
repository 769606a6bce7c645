package sentiment

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lexiconFiles holds one file per language, named <code>.txt. Each line is
// "word<TAB>weight" with weight in [-1, 1] and not zero, "word<TAB>NEG" for
// a negator or "word<TAB>INT" for an intensifier; "#" starts a comment.
// Words are normalised as Score normalises text, so a Romanian word may be
// written with its diacritics and "don't" is stored as "dont".
//
//go:embed lexicon/*.txt
var lexiconFiles embed.FS

// active is loaded once; the files are embedded and checked by the tests,
// so a load error is a build defect.
var active = mustLoad()

type kind uint8

const (
	kindWord kind = iota
	kindNegator
	kindIntensifier
)

func (k kind) String() string {
	switch k {
	case kindNegator:
		return "negator"
	case kindIntensifier:
		return "intensifier"
	}
	return "word"
}

type entry struct {
	weight float64
	kind   kind
}

type lexicon struct {
	entries   map[string]entry
	languages []string
}

func mustLoad() *lexicon {
	sub, err := fs.Sub(lexiconFiles, "lexicon")
	if err != nil {
		panic(fmt.Sprintf("sentiment: %v", err))
	}
	lex, err := load(sub)
	if err != nil {
		panic(fmt.Sprintf("sentiment: %v", err))
	}
	return lex
}

// merged is a word met in one or more languages while loading.
type merged struct {
	entry
	lang string // first language that listed it
	n    int
}

// load reads every *.txt file of fsys into one lexicon. A word listed by
// several languages must have the same kind and sign in all of them, and
// gets the mean of their weights: the scorer does not detect the language.
func load(fsys fs.FS) (*lexicon, error) {
	names, err := fs.Glob(fsys, "*.txt")
	if err != nil {
		return nil, fmt.Errorf("list lexicon files: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("no lexicon files")
	}
	words := make(map[string]*merged)
	lex := &lexicon{}
	for _, name := range names {
		lang := strings.TrimSuffix(path.Base(name), ".txt")
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read lexicon %s: %w", name, err)
		}
		entries, err := parse(string(data))
		if err != nil {
			return nil, fmt.Errorf("lexicon %s: %w", name, err)
		}
		for w, e := range entries {
			m, seen := words[w]
			if !seen {
				words[w] = &merged{entry: e, lang: lang, n: 1}
				continue
			}
			if m.kind != e.kind || (m.weight < 0) != (e.weight < 0) {
				return nil, fmt.Errorf("lexicon %s: %q is a %s of weight %g but a %s of weight %g in %s",
					name, w, e.kind, e.weight, m.kind, m.weight/float64(m.n), m.lang)
			}
			m.weight += e.weight
			m.n++
		}
		lex.languages = append(lex.languages, lang)
	}
	lex.entries = make(map[string]entry, len(words))
	for w, m := range words {
		lex.entries[w] = entry{weight: m.weight / float64(m.n), kind: m.kind}
	}
	return lex, nil
}

// parse reads one language file.
func parse(data string) (map[string]entry, error) {
	entries := make(map[string]entry)
	for i, line := range strings.Split(data, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		e, w, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if _, dup := entries[w]; dup {
			return nil, fmt.Errorf("line %d: %q listed twice (after normalisation)", i+1, w)
		}
		entries[w] = e
	}
	return entries, nil
}

func parseLine(line string) (entry, string, error) {
	raw, val, ok := strings.Cut(line, "\t")
	if !ok {
		return entry{}, "", fmt.Errorf("%q: want word<TAB>weight", line)
	}
	w, err := normalizeWord(strings.TrimSpace(raw))
	if err != nil {
		return entry{}, "", err
	}
	switch val = strings.TrimSpace(val); val {
	case "NEG":
		return entry{kind: kindNegator}, w, nil
	case "INT":
		return entry{kind: kindIntensifier}, w, nil
	}
	f, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return entry{}, "", fmt.Errorf("%q: weight: %w", raw, err)
	}
	if math.IsNaN(f) || f < -1 || f > 1 || f == 0 {
		return entry{}, "", fmt.Errorf("%q: weight %g is not in [-1, 1] \\ {0}", raw, f)
	}
	return entry{weight: f, kind: kindWord}, w, nil
}

// normalizeWord applies Score's normalisation to a lexicon word and rejects
// words that Score's tokeniser would split or never produce.
func normalizeWord(raw string) (string, error) {
	var b strings.Builder
	prevLetter := false
	for i, r := range raw {
		switch {
		case unicode.IsLetter(r):
			b.WriteRune(fold(r))
			prevLetter = true
		case prevLetter && unicode.Is(unicode.Mn, r):
		case prevLetter && isApostrophe(r) && letterAt(raw, i+utf8.RuneLen(r)):
		default:
			return "", fmt.Errorf("word %q: %q would split it", raw, r)
		}
	}
	w := b.String()
	if w == "" {
		return "", errors.New("empty word")
	}
	if len(w) > maxWordBytes {
		return "", fmt.Errorf("word %q: longer than %d bytes", raw, maxWordBytes)
	}
	return w, nil
}
