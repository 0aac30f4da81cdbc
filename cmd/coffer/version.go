package main

import (
	"runtime/debug"
	"sync"
)

// Version, when set at build time with -ldflags "-X main.Version=v1.2.3",
// is the version printed; otherwise the build information says what was
// built (see buildVersion).
var Version string

// version is the version string of this binary.
var version = sync.OnceValue(func() string {
	if Version != "" {
		return Version
	}
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(bi)
})

// buildVersion names what was built from the build information: the
// module version (a tag or a pseudo-version, which the go command stamps
// from the VCS), else the VCS revision, else "unversioned". It never says
// "dev" or "(devel)".
func buildVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "unversioned"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "unversioned"
	}
	v := "rev " + rev[:min(12, len(rev))]
	if modified {
		v += "+modified"
	}
	return v
}
