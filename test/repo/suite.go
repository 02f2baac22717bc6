package repo

import (
	"fmt"
	"os"
	"os/exec"
)

// Suite prepares a test suite's TestMain: it keeps the caller's inherited
// descriptors from the programs the suite starts (KeepFDsToSelf), finds the
// repository root and makes a work directory /tmp/PREFIX* (short: unix
// socket paths under it are limited to 108 bytes). cleanup removes the work
// directory unless the environment variable keep is set, in which case it
// says where it stays.
func Suite(prefix, keep string) (root, work string, cleanup func(), err error) {
	if err = KeepFDsToSelf(); err != nil {
		return "", "", nil, err
	}
	if root, err = Root(); err != nil {
		return "", "", nil, err
	}
	if work, err = os.MkdirTemp("/tmp", prefix); err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(work) }
	if os.Getenv(keep) != "" {
		fmt.Fprintf(os.Stderr, "%s: keeping %s (%s is set)\n", prefix, work, keep)
		cleanup = func() {}
	}
	return root, work, cleanup, nil
}

// GoBuild builds Go packages of the repository at root without cgo, into
// out (a file for one package, a directory ending in / for several), with
// env added to the environment.
func GoBuild(root, out string, pkgs []string, env ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", out}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %v\n%s", pkgs, err, b)
	}
	return nil
}
