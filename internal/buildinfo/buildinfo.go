// Package buildinfo says which Riskwatch a binary is, from what the Go
// toolchain recorded in it: the module version (a tag, for go install
// ...@vX.Y.Z), the VCS revision and time of a build from a checkout, and
// the Go version. riskd and riskctl print it for --version; riskd
// exports it as the riskwatch_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Base is the version of a build that has no module version of its own
// (go build or go run in a checkout): the next release, marked dev.
const Base = "0.2.0-dev"

// Info is what is known of a build.
type Info struct {
	Version   string // semver, without the leading v
	Revision  string // VCS revision, "" when unknown
	Time      string // VCS commit time, RFC 3339
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string
}

// Get reads the build information of the running binary.
func Get() Info {
	i := Info{Version: Base}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: Base, GoVersion: bi.GoVersion}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the one line --version prints for program.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", i.Version)
	var extra []string
	if i.Revision != "" {
		rev := i.Revision[:min(len(i.Revision), 12)]
		if i.Modified {
			rev += "+modified"
		}
		extra = append(extra, "revision "+rev)
	}
	if i.Time != "" {
		extra = append(extra, "built from "+i.Time)
	}
	if i.GoVersion != "" {
		extra = append(extra, i.GoVersion)
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
	}
	return b.String()
}
