package shim_test

import "testing"

// BenchmarkColdStart: `ctr run --rm` of a static hello, from the ctr
// command to its exit, km against runc on the same daemon and rootfs.
//
//	go test -run XXX -bench ColdStart -benchtime 20x ./test/shim
func BenchmarkColdStart(b *testing.B) {
	for _, d := range daemons {
		for _, rt := range []string{kmRuntime, runcRuntime} {
			b.Run(d.name+"/"+rt, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					r := d.ctr(nil, "run", "--rm", "--runtime", rt, "--rootfs", rootfs, cidB("bench"), "/hello")
					if r.code != 0 || r.stdout != "hello, world\n" {
						b.Fatalf("%s: %v", rt, r)
					}
				}
			})
		}
	}
}
