// Package buildinfo reports what binary is running.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time (hack/build-static.sh):
// -X github.com/flow-auditor/flow-auditor/internal/buildinfo.version=v0.1.0
var (
	version = "dev"
	commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get reads the version set at link time and the VCS data Go embeds.
func Get() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if bi, ok := debug.ReadBuildInfo(); ok && commit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}
