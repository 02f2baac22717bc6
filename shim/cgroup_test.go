package shim

import "testing"

func TestCgroupfsPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"/default/abc":                    "/default/abc",
		"kubepods/pod1/abc":               "/kubepods/pod1/abc",
		"system.slice:cri-containerd:abc": "/system.slice/cri-containerd-abc.scope",
		"kubepods-burstable-pod1.slice:cri-containerd:abc": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope",
		":km:abc": "/system.slice/km-abc.scope",
	} {
		got, err := cgroupfsPath(in)
		if err != nil || got != want {
			t.Errorf("cgroupfsPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := cgroupfsPath("bad:x:y"); err == nil {
		t.Error("a slice without .slice was accepted")
	}
}
