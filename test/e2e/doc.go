// Package e2e holds the end-to-end tests of km. They build km and the test
// payloads under test/payloads in several flavours (glibc static, glibc
// static-pie, musl static, Go), run each payload natively and under km, and
// compare the results byte for byte. Other tests cover --root confinement,
// malformed inputs and the command line.
//
// Run them with
//
//	go test -v -timeout 30m ./test/e2e
//
// The tests need gcc with static glibc (Debian packages gcc and libc6-dev),
// musl-gcc (Debian package musl-tools) and a usable /dev/kvm. Set KM_BIN to
// test an already built km instead of building ./cmd/km, and KM_E2E_KEEP=1 to
// keep the build directory.
package e2e
