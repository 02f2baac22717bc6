package main

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
)

func runtimeVersion() string { return goruntime.Version() }

// findKMForInfo mirrors the shim's lookup: next to this binary, then PATH.
func findKMForInfo() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "km")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("km")
}
