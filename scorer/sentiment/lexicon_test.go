package sentiment

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestLoad(t *testing.T) {
	lex, err := load(mapFS(map[string]string{
		"en.txt": "# comment\n\nslow\t-0.4\nnot\tNEG\nvery\tINT  # trailing comment\ndon't\tNEG\n",
		"it.txt": "lento\t-0.5\nslow\t-0.6\n",
		"ro.txt": "dezamăgit\t-0.7\nŞtiu\t0.1\n",
	}))
	require.NoError(t, err)
	assert.Equal(t, []string{"en", "it", "ro"}, lex.languages)
	assert.Equal(t, map[string]entry{
		"slow":      {weight: -0.5, kind: kindWord}, // mean of en and it
		"not":       {kind: kindNegator},
		"very":      {kind: kindIntensifier},
		"dont":      {kind: kindNegator},
		"lento":     {weight: -0.5, kind: kindWord},
		"dezamagit": {weight: -0.7, kind: kindWord},
		"stiu":      {weight: 0.1, kind: kindWord},
	}, lex.entries)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no files", map[string]string{"README": "x"}, "no lexicon files"},
		{"no tab", map[string]string{"en.txt": "slow -0.5\n"}, `lexicon en.txt: line 1: "slow -0.5": want word<TAB>weight`},
		{"bad weight", map[string]string{"en.txt": "#\nslow\tbad\n"}, `line 2: "slow": weight: strconv.ParseFloat`},
		{"weight above 1", map[string]string{"en.txt": "slow\t1.5\n"}, "weight 1.5 is not in [-1, 1]"},
		{"weight below -1", map[string]string{"en.txt": "slow\t-2\n"}, "weight -2 is not in [-1, 1]"},
		{"zero weight", map[string]string{"en.txt": "slow\t0\n"}, "weight 0 is not in [-1, 1]"},
		{"NaN weight", map[string]string{"en.txt": "slow\tNaN\n"}, "weight NaN is not in [-1, 1]"},
		{"two words", map[string]string{"en.txt": "switch to\t-0.5\n"}, `word "switch to": ' ' would split it`},
		{"digit", map[string]string{"en.txt": "mp3\t0.5\n"}, `word "mp3": '3' would split it`},
		{"trailing apostrophe", map[string]string{"it.txt": "po'\t0.5\n"}, `word "po'": '\'' would split it`},
		{"no word", map[string]string{"en.txt": "\t0.5\n"}, `line 1: "0.5": want word<TAB>weight`},
		{"mark only", map[string]string{"ro.txt": "\u0306\t0.5\n"}, "would split it"},
		{"too long", map[string]string{"en.txt": "supercalifragilisticexpialidocioussupercalifragilistic\t0.5\n"}, "longer than 48 bytes"},
		{"duplicate after folding", map[string]string{"ro.txt": "dezamăgit\t-0.7\ndezamagit\t-0.7\n"}, `line 2: "dezamagit" listed twice`},
		{
			"kind conflict across languages",
			map[string]string{"en.txt": "no\tNEG\n", "pl.txt": "no\t0.2\n"},
			`lexicon pl.txt: "no" is a word of weight 0.2 but a negator of weight 0 in en`,
		},
		{
			"sign conflict across languages",
			map[string]string{"en.txt": "male\t0.1\n", "it.txt": "male\t-0.5\n"},
			`lexicon it.txt: "male" is a word of weight -0.5 but a word of weight 0.1 in en`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(mapFS(tt.files))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestEmbeddedLexicon(t *testing.T) {
	for w, e := range active.entries {
		if e.kind != kindWord {
			continue
		}
		assert.True(t, e.weight >= -1 && e.weight <= 1 && e.weight != 0, "%q weight %v", w, e.weight)
	}
	// Each language brings its own negator and intensifier.
	for _, w := range []string{"not", "non", "nu", "nie"} {
		assert.Equal(t, kindNegator, active.entries[w].kind, w)
	}
	for _, w := range []string{"very", "molto", "foarte", "bardzo"} {
		assert.Equal(t, kindIntensifier, active.entries[w].kind, w)
	}
	// "mai" would turn Romanian superlatives and "non ... mai" around.
	assert.NotContains(t, active.entries, "mai")
	assert.NotContains(t, active.entries, "ani", `Polish "ani" is Romanian "years"`)
	assert.Greater(t, len(active.entries), 400)
}
