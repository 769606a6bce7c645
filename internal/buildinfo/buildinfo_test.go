package buildinfo

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
		line string
	}{
		{"checkout", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "9f53388a1b2c3d4e5f60718293a4b5c6d7e8f901"},
				{Key: "vcs.time", Value: "2026-12-02T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			Info{Version: Base, Revision: "9f53388a1b2c3d4e5f60718293a4b5c6d7e8f901", Time: "2026-12-02T10:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			Base + " (revision 9f53388a1b2c+modified, built from 2026-12-02T10:00:00Z, go1.26.8)"},
		{"go install of a tag", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
			Info{Version: "0.2.0", GoVersion: "go1.26.8"}, "0.2.0 (go1.26.8)"},
		{"nothing recorded", debug.BuildInfo{}, Info{Version: Base}, Base},
	} {
		got := fromBuildInfo(&tc.bi)
		assert.Equal(t, tc.want, got, tc.name)
		assert.Equal(t, tc.line, got.String(), tc.name)
	}
}

func TestGetHasAVersion(t *testing.T) {
	i := Get()
	assert.NotEmpty(t, i.Version)
	assert.NotEmpty(t, i.GoVersion, "a test binary records its Go version")
}
