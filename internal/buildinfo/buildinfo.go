// Package buildinfo reports what binary is running.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time: -X github.com/flow-auditor/flow-auditor/internal/buildinfo.version=v0.1.0
var version = "dev"

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get reads the version set at link time and the VCS data Go embeds.
func Get() Info {
	info := Info{Version: version, Commit: "unknown", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}
