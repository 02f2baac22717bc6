package shim

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

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

// TestAllowDevices: after a spec's deny-all rule come /dev/kvm and the
// devices km binds into /dev; resources without device rules stay without.
func TestAllowDevices(t *testing.T) {
	if got := allowDevices(&specs.LinuxResources{}, "/dev/kvm"); len(got.Devices) != 0 {
		t.Errorf("no device rules became %+v", got.Devices)
	}
	spec := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	got := allowDevices(spec, "/dev/null") // a character device on every host: 1:3
	if len(spec.Devices) != 1 {
		t.Errorf("the spec's own rules changed: %+v", spec.Devices)
	}
	var rules []string
	for _, d := range got.Devices {
		if !d.Allow {
			rules = append(rules, "deny "+d.Access)
			continue
		}
		rules = append(rules, fmt.Sprintf("%s %d:%d %s", d.Type, *d.Major, *d.Minor, d.Access))
	}
	want := "deny rwm,c 1:3 rw,c 1:3 rw,c 1:5 rw,c 1:7 rw,c 1:8 rw,c 1:9 rw,c 5:0 rw"
	if strings.Join(rules, ",") != want {
		t.Errorf("rules %v, want %s", rules, want)
	}
}
