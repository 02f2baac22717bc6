package kvm

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// The monitor edits the sync registers after an exit and may then be kicked
// (immediate_exit) before the vCPU runs again. It relies on KVM applying the
// dirty sync registers even when KVM_RUN returns EINTR at once; otherwise a
// syscall's result would be lost to a signal.
func TestImmediateExitAppliesSyncRegs(t *testing.T) {
	s, err := Open(DefaultDevice)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vm, err := s.CreateVM()
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	c, err := vm.CreateVCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.Run()
	r.ValidRegs = SyncRegs
	if err := c.GetRegs(&r.S.Regs); err != nil {
		t.Fatal(err)
	}
	r.S.Regs.RAX, r.S.Regs.RIP = 0x1234, 0x5678
	r.DirtyRegs |= SyncRegs
	c.RequestExit()
	if err := c.RunOnce(); !errors.Is(err, unix.EINTR) {
		t.Fatalf("KVM_RUN with immediate_exit: %v, want EINTR", err)
	}
	var regs Regs
	if err := c.GetRegs(&regs); err != nil {
		t.Fatal(err)
	}
	if regs.RAX != 0x1234 || regs.RIP != 0x5678 || r.S.Regs.RAX != 0x1234 {
		t.Fatalf("dirty sync regs not applied: vcpu rax=%#x rip=%#x, sync rax=%#x", regs.RAX, regs.RIP, r.S.Regs.RAX)
	}
}
