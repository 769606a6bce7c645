package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

func TestFit(t *testing.T) {
	path := historyFile(t)
	out := filepath.Join(t.TempDir(), "fitted.yaml")
	res := riskctl(t, "", "fit", "--horizon", "30d", "--every", "7d", "--split-at", "2026-04-20", "--force", "--out", out, path)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "validated on 2026-04-23") // the first date from the split
	assert.Contains(t, res.stdout, "wrote "+out)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), "# Fitted by riskctl fit from history.ndjson"), string(data))
	set, err := rules.Parse(out, data)
	require.NoError(t, err)
	assert.True(t, set.Calibrated)

	check := riskctl(t, "", "rules", "check", out)
	assert.Equal(t, exitOK, check.code, check.stderr)
}

func TestFitUsage(t *testing.T) {
	path := historyFile(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fit", path}, "--out is required"},
		{[]string{"fit", "--out", "x.yaml", "--split-at", "2026-04-01", "--holdout", "0.2", path}, "not both"},
		{[]string{"fit", "--out", "x.yaml", "--holdout", "1.5", path}, "--holdout 1.5"},
		{[]string{"fit", "--out", "x.yaml", "--split-at", "April", path}, "want a date as YYYY-MM-DD"},
		{[]string{"fit", "--out", "x.yaml"}, "name one history file"},
	} {
		res := riskctl(t, "", tc.args...)
		assert.Equal(t, exitUsage, res.code, "%v: %s", tc.args, res.stderr)
		assert.Contains(t, res.stderr, tc.want, tc.args)
	}
	// A split no fitting date's horizon ends by is a clear error.
	res := riskctl(t, "", "fit", "--out", filepath.Join(t.TempDir(), "x.yaml"), "--split-at", "2026-02-20", path)
	assert.Equal(t, exitFail, res.code)
	assert.Contains(t, res.stderr, "horizon")
}
