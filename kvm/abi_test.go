//go:build linux && amd64

package kvm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// abiEntry is one number the Go definitions must share with <linux/kvm.h>:
// name is how the C program labels it (no spaces), expr is the C expression
// that computes it, and goVal is what this package computes.
type abiEntry struct {
	name  string
	expr  string
	goVal uint64
}

// abiMacro checks a macro (ioctl number or constant) whose C spelling is its name.
func abiMacro(name string, goVal uint64) abiEntry {
	return abiEntry{name: name, expr: name, goVal: goVal}
}

// abiSizeof checks sizeof(struct ctype).
func abiSizeof(ctype string, goVal uintptr) abiEntry {
	return abiEntry{
		name:  "sizeof:" + ctype,
		expr:  "sizeof(struct " + ctype + ")",
		goVal: uint64(goVal),
	}
}

// abiMemberSizeof checks the size of a (possibly nested) member of struct ctype.
func abiMemberSizeof(ctype, member string, goVal uintptr) abiEntry {
	return abiEntry{
		name:  "sizeof:" + ctype + "." + member,
		expr:  "sizeof(((struct " + ctype + " *)0)->" + member + ")",
		goVal: uint64(goVal),
	}
}

// abiOffsetof checks offsetof(struct ctype, member); member may be a nested
// designator such as "io.port" or "s.regs.sregs".
func abiOffsetof(ctype, member string, goVal uintptr) abiEntry {
	return abiEntry{
		name:  "offsetof:" + ctype + "." + member,
		expr:  "offsetof(struct " + ctype + ", " + member + ")",
		goVal: uint64(goVal),
	}
}

// abiTable lists every ioctl number, constant, struct size and named field
// offset that abi.go mirrors from the kernel headers.
func abiTable() []abiEntry {
	var (
		regs   Regs
		seg    Segment
		dt     DTable
		sregs  Sregs
		fpu    FPU
		xsave  Xsave
		xcr    XCR
		xcrs   XCRs
		msr    MSREntry
		cpuid  CPUIDEntry
		region UserspaceMemoryRegion
		sync   SyncRegisters
		io     RunIO
		mmio   RunMMIO
		run    Run
	)
	exit := unsafe.Offsetof(run.exit)
	s := unsafe.Offsetof(run.S)

	return []abiEntry{
		// ioctl numbers.
		abiMacro("KVM_GET_API_VERSION", uint64(ioctlGetAPIVersion)),
		abiMacro("KVM_CREATE_VM", uint64(ioctlCreateVM)),
		abiMacro("KVM_CHECK_EXTENSION", uint64(ioctlCheckExtension)),
		abiMacro("KVM_GET_VCPU_MMAP_SIZE", uint64(ioctlGetVCPUMmapSize)),
		abiMacro("KVM_GET_SUPPORTED_CPUID", uint64(ioctlGetSupportedCPUID)),
		abiMacro("KVM_CREATE_VCPU", uint64(ioctlCreateVCPU)),
		abiMacro("KVM_SET_USER_MEMORY_REGION", uint64(ioctlSetUserMemoryRegion)),
		abiMacro("KVM_RUN", uint64(ioctlRun)),
		abiMacro("KVM_GET_REGS", uint64(ioctlGetRegs)),
		abiMacro("KVM_SET_REGS", uint64(ioctlSetRegs)),
		abiMacro("KVM_GET_SREGS", uint64(ioctlGetSregs)),
		abiMacro("KVM_SET_SREGS", uint64(ioctlSetSregs)),
		abiMacro("KVM_GET_MSRS", uint64(ioctlGetMSRs)),
		abiMacro("KVM_SET_MSRS", uint64(ioctlSetMSRs)),
		abiMacro("KVM_SET_SIGNAL_MASK", uint64(ioctlSetSignalMask)),
		abiMacro("KVM_GET_FPU", uint64(ioctlGetFPU)),
		abiMacro("KVM_SET_FPU", uint64(ioctlSetFPU)),
		abiMacro("KVM_SET_CPUID2", uint64(ioctlSetCPUID2)),
		abiMacro("KVM_GET_XSAVE", uint64(ioctlGetXsave)),
		abiMacro("KVM_SET_XSAVE", uint64(ioctlSetXsave)),
		abiMacro("KVM_GET_XCRS", uint64(ioctlGetXCRs)),
		abiMacro("KVM_SET_XCRS", uint64(ioctlSetXCRs)),

		// The variable-length ioctl arguments whose 8-byte (4-byte) header
		// size abi.go hard-codes.
		abiSizeof("kvm_cpuid2", 8),
		abiSizeof("kvm_msrs", 8),
		abiSizeof("kvm_signal_mask", 4),

		// Constants.
		abiMacro("KVM_API_VERSION", APIVersion),
		abiMacro("KVM_CAP_USER_MEMORY", uint64(CapUserMemory)),
		abiMacro("KVM_CAP_NR_VCPUS", uint64(CapNrVCPUs)),
		abiMacro("KVM_CAP_NR_MEMSLOTS", uint64(CapNrMemslots)),
		abiMacro("KVM_CAP_XCRS", uint64(CapXCRs)),
		abiMacro("KVM_CAP_MAX_VCPUS", uint64(CapMaxVCPUs)),
		abiMacro("KVM_CAP_SYNC_REGS", uint64(CapSyncRegs)),
		abiMacro("KVM_CAP_IMMEDIATE_EXIT", uint64(CapImmediateExit)),
		abiMacro("KVM_CAP_XSAVE2", uint64(CapXsave2)),
		abiMacro("KVM_EXIT_UNKNOWN", ExitUnknown),
		abiMacro("KVM_EXIT_EXCEPTION", ExitException),
		abiMacro("KVM_EXIT_IO", ExitIO),
		abiMacro("KVM_EXIT_HYPERCALL", ExitHypercall),
		abiMacro("KVM_EXIT_DEBUG", ExitDebug),
		abiMacro("KVM_EXIT_HLT", ExitHlt),
		abiMacro("KVM_EXIT_MMIO", ExitMMIO),
		abiMacro("KVM_EXIT_SHUTDOWN", ExitShutdown),
		abiMacro("KVM_EXIT_FAIL_ENTRY", ExitFailEntry),
		abiMacro("KVM_EXIT_INTR", ExitIntr),
		abiMacro("KVM_EXIT_INTERNAL_ERROR", ExitInternalError),
		abiMacro("KVM_EXIT_SYSTEM_EVENT", ExitSystemEvent),
		abiMacro("KVM_SYNC_X86_REGS", SyncRegs),
		abiMacro("KVM_SYNC_X86_SREGS", SyncSregs),
		abiMacro("KVM_SYNC_X86_EVENTS", SyncEvents),
		abiMacro("KVM_EXIT_IO_IN", IOIn),
		abiMacro("KVM_EXIT_IO_OUT", IOOut),

		// struct kvm_regs.
		abiSizeof("kvm_regs", unsafe.Sizeof(regs)),
		abiOffsetof("kvm_regs", "rax", unsafe.Offsetof(regs.RAX)),
		abiOffsetof("kvm_regs", "rbx", unsafe.Offsetof(regs.RBX)),
		abiOffsetof("kvm_regs", "rcx", unsafe.Offsetof(regs.RCX)),
		abiOffsetof("kvm_regs", "rdx", unsafe.Offsetof(regs.RDX)),
		abiOffsetof("kvm_regs", "rsi", unsafe.Offsetof(regs.RSI)),
		abiOffsetof("kvm_regs", "rdi", unsafe.Offsetof(regs.RDI)),
		abiOffsetof("kvm_regs", "rsp", unsafe.Offsetof(regs.RSP)),
		abiOffsetof("kvm_regs", "rbp", unsafe.Offsetof(regs.RBP)),
		abiOffsetof("kvm_regs", "r8", unsafe.Offsetof(regs.R8)),
		abiOffsetof("kvm_regs", "r9", unsafe.Offsetof(regs.R9)),
		abiOffsetof("kvm_regs", "r10", unsafe.Offsetof(regs.R10)),
		abiOffsetof("kvm_regs", "r11", unsafe.Offsetof(regs.R11)),
		abiOffsetof("kvm_regs", "r12", unsafe.Offsetof(regs.R12)),
		abiOffsetof("kvm_regs", "r13", unsafe.Offsetof(regs.R13)),
		abiOffsetof("kvm_regs", "r14", unsafe.Offsetof(regs.R14)),
		abiOffsetof("kvm_regs", "r15", unsafe.Offsetof(regs.R15)),
		abiOffsetof("kvm_regs", "rip", unsafe.Offsetof(regs.RIP)),
		abiOffsetof("kvm_regs", "rflags", unsafe.Offsetof(regs.RFLAGS)),

		// struct kvm_segment.
		abiSizeof("kvm_segment", unsafe.Sizeof(seg)),
		abiOffsetof("kvm_segment", "base", unsafe.Offsetof(seg.Base)),
		abiOffsetof("kvm_segment", "limit", unsafe.Offsetof(seg.Limit)),
		abiOffsetof("kvm_segment", "selector", unsafe.Offsetof(seg.Selector)),
		abiOffsetof("kvm_segment", "type", unsafe.Offsetof(seg.Type)),
		abiOffsetof("kvm_segment", "present", unsafe.Offsetof(seg.Present)),
		abiOffsetof("kvm_segment", "dpl", unsafe.Offsetof(seg.DPL)),
		abiOffsetof("kvm_segment", "db", unsafe.Offsetof(seg.DB)),
		abiOffsetof("kvm_segment", "s", unsafe.Offsetof(seg.S)),
		abiOffsetof("kvm_segment", "l", unsafe.Offsetof(seg.L)),
		abiOffsetof("kvm_segment", "g", unsafe.Offsetof(seg.G)),
		abiOffsetof("kvm_segment", "avl", unsafe.Offsetof(seg.AVL)),
		abiOffsetof("kvm_segment", "unusable", unsafe.Offsetof(seg.Unusable)),

		// struct kvm_dtable.
		abiSizeof("kvm_dtable", unsafe.Sizeof(dt)),
		abiOffsetof("kvm_dtable", "base", unsafe.Offsetof(dt.Base)),
		abiOffsetof("kvm_dtable", "limit", unsafe.Offsetof(dt.Limit)),

		// struct kvm_sregs.
		abiSizeof("kvm_sregs", unsafe.Sizeof(sregs)),
		abiOffsetof("kvm_sregs", "cs", unsafe.Offsetof(sregs.CS)),
		abiOffsetof("kvm_sregs", "ds", unsafe.Offsetof(sregs.DS)),
		abiOffsetof("kvm_sregs", "es", unsafe.Offsetof(sregs.ES)),
		abiOffsetof("kvm_sregs", "fs", unsafe.Offsetof(sregs.FS)),
		abiOffsetof("kvm_sregs", "gs", unsafe.Offsetof(sregs.GS)),
		abiOffsetof("kvm_sregs", "ss", unsafe.Offsetof(sregs.SS)),
		abiOffsetof("kvm_sregs", "tr", unsafe.Offsetof(sregs.TR)),
		abiOffsetof("kvm_sregs", "ldt", unsafe.Offsetof(sregs.LDT)),
		abiOffsetof("kvm_sregs", "gdt", unsafe.Offsetof(sregs.GDT)),
		abiOffsetof("kvm_sregs", "idt", unsafe.Offsetof(sregs.IDT)),
		abiOffsetof("kvm_sregs", "cr0", unsafe.Offsetof(sregs.CR0)),
		abiOffsetof("kvm_sregs", "cr2", unsafe.Offsetof(sregs.CR2)),
		abiOffsetof("kvm_sregs", "cr3", unsafe.Offsetof(sregs.CR3)),
		abiOffsetof("kvm_sregs", "cr4", unsafe.Offsetof(sregs.CR4)),
		abiOffsetof("kvm_sregs", "cr8", unsafe.Offsetof(sregs.CR8)),
		abiOffsetof("kvm_sregs", "efer", unsafe.Offsetof(sregs.EFER)),
		abiOffsetof("kvm_sregs", "apic_base", unsafe.Offsetof(sregs.APICBase)),
		abiOffsetof("kvm_sregs", "interrupt_bitmap", unsafe.Offsetof(sregs.InterruptBitmap)),
		abiMemberSizeof("kvm_sregs", "interrupt_bitmap", unsafe.Sizeof(sregs.InterruptBitmap)),

		// struct kvm_fpu.
		abiSizeof("kvm_fpu", unsafe.Sizeof(fpu)),
		abiOffsetof("kvm_fpu", "fpr", unsafe.Offsetof(fpu.FPR)),
		abiOffsetof("kvm_fpu", "fcw", unsafe.Offsetof(fpu.FCW)),
		abiOffsetof("kvm_fpu", "fsw", unsafe.Offsetof(fpu.FSW)),
		abiOffsetof("kvm_fpu", "ftwx", unsafe.Offsetof(fpu.FTWX)),
		abiOffsetof("kvm_fpu", "last_opcode", unsafe.Offsetof(fpu.LastOpcode)),
		abiOffsetof("kvm_fpu", "last_ip", unsafe.Offsetof(fpu.LastIP)),
		abiOffsetof("kvm_fpu", "last_dp", unsafe.Offsetof(fpu.LastDP)),
		abiOffsetof("kvm_fpu", "xmm", unsafe.Offsetof(fpu.XMM)),
		abiOffsetof("kvm_fpu", "mxcsr", unsafe.Offsetof(fpu.MXCSR)),

		// struct kvm_xsave (its flexible extra[] adds nothing to sizeof).
		abiSizeof("kvm_xsave", unsafe.Sizeof(xsave)),
		abiOffsetof("kvm_xsave", "region", unsafe.Offsetof(xsave.Region)),
		abiMemberSizeof("kvm_xsave", "region", unsafe.Sizeof(xsave.Region)),

		// struct kvm_xcr, struct kvm_xcrs.
		abiSizeof("kvm_xcr", unsafe.Sizeof(xcr)),
		abiOffsetof("kvm_xcr", "xcr", unsafe.Offsetof(xcr.XCR)),
		abiOffsetof("kvm_xcr", "value", unsafe.Offsetof(xcr.Value)),
		abiSizeof("kvm_xcrs", unsafe.Sizeof(xcrs)),
		abiOffsetof("kvm_xcrs", "nr_xcrs", unsafe.Offsetof(xcrs.NrXCRs)),
		abiOffsetof("kvm_xcrs", "flags", unsafe.Offsetof(xcrs.Flags)),
		abiOffsetof("kvm_xcrs", "xcrs", unsafe.Offsetof(xcrs.XCRs)),
		abiMemberSizeof("kvm_xcrs", "xcrs", unsafe.Sizeof(xcrs.XCRs)),

		// struct kvm_msr_entry.
		abiSizeof("kvm_msr_entry", unsafe.Sizeof(msr)),
		abiOffsetof("kvm_msr_entry", "index", unsafe.Offsetof(msr.Index)),
		abiOffsetof("kvm_msr_entry", "data", unsafe.Offsetof(msr.Data)),

		// struct kvm_cpuid_entry2.
		abiSizeof("kvm_cpuid_entry2", unsafe.Sizeof(cpuid)),
		abiOffsetof("kvm_cpuid_entry2", "function", unsafe.Offsetof(cpuid.Function)),
		abiOffsetof("kvm_cpuid_entry2", "index", unsafe.Offsetof(cpuid.Index)),
		abiOffsetof("kvm_cpuid_entry2", "flags", unsafe.Offsetof(cpuid.Flags)),
		abiOffsetof("kvm_cpuid_entry2", "eax", unsafe.Offsetof(cpuid.EAX)),
		abiOffsetof("kvm_cpuid_entry2", "ebx", unsafe.Offsetof(cpuid.EBX)),
		abiOffsetof("kvm_cpuid_entry2", "ecx", unsafe.Offsetof(cpuid.ECX)),
		abiOffsetof("kvm_cpuid_entry2", "edx", unsafe.Offsetof(cpuid.EDX)),

		// struct kvm_userspace_memory_region.
		abiSizeof("kvm_userspace_memory_region", unsafe.Sizeof(region)),
		abiOffsetof("kvm_userspace_memory_region", "slot", unsafe.Offsetof(region.Slot)),
		abiOffsetof("kvm_userspace_memory_region", "flags", unsafe.Offsetof(region.Flags)),
		abiOffsetof("kvm_userspace_memory_region", "guest_phys_addr", unsafe.Offsetof(region.GuestPhysAddr)),
		abiOffsetof("kvm_userspace_memory_region", "memory_size", unsafe.Offsetof(region.MemorySize)),
		abiOffsetof("kvm_userspace_memory_region", "userspace_addr", unsafe.Offsetof(region.UserspaceAddr)),

		// struct kvm_sync_regs.
		abiSizeof("kvm_sync_regs", unsafe.Sizeof(sync)),
		abiOffsetof("kvm_sync_regs", "regs", unsafe.Offsetof(sync.Regs)),
		abiOffsetof("kvm_sync_regs", "sregs", unsafe.Offsetof(sync.Sregs)),
		abiOffsetof("kvm_sync_regs", "events", unsafe.Offsetof(sync.Events)),
		abiSizeof("kvm_vcpu_events", unsafe.Sizeof(sync.Events)),

		// struct kvm_run: the fixed header.
		abiOffsetof("kvm_run", "request_interrupt_window", unsafe.Offsetof(run.RequestInterruptWindow)),
		abiOffsetof("kvm_run", "immediate_exit", unsafe.Offsetof(run.ImmediateExit)),
		abiOffsetof("kvm_run", "exit_reason", unsafe.Offsetof(run.ExitReason)),
		abiOffsetof("kvm_run", "ready_for_interrupt_injection", unsafe.Offsetof(run.ReadyForInterruptInjection)),
		abiOffsetof("kvm_run", "if_flag", unsafe.Offsetof(run.IfFlag)),
		abiOffsetof("kvm_run", "flags", unsafe.Offsetof(run.Flags)),
		abiOffsetof("kvm_run", "cr8", unsafe.Offsetof(run.CR8)),
		abiOffsetof("kvm_run", "apic_base", unsafe.Offsetof(run.APICBase)),

		// struct kvm_run: the exit union (Run.exit) and the views of it.
		abiOffsetof("kvm_run", "padding", exit),
		abiMemberSizeof("kvm_run", "padding", unsafe.Sizeof(run.exit)),
		abiOffsetof("kvm_run", "io", exit),
		abiMemberSizeof("kvm_run", "io", unsafe.Sizeof(io)),
		abiOffsetof("kvm_run", "io.direction", exit+unsafe.Offsetof(io.Direction)),
		abiOffsetof("kvm_run", "io.size", exit+unsafe.Offsetof(io.Size)),
		abiOffsetof("kvm_run", "io.port", exit+unsafe.Offsetof(io.Port)),
		abiOffsetof("kvm_run", "io.count", exit+unsafe.Offsetof(io.Count)),
		abiOffsetof("kvm_run", "io.data_offset", exit+unsafe.Offsetof(io.DataOffset)),
		abiOffsetof("kvm_run", "mmio", exit),
		abiMemberSizeof("kvm_run", "mmio", unsafe.Sizeof(mmio)),
		abiOffsetof("kvm_run", "mmio.phys_addr", exit+unsafe.Offsetof(mmio.PhysAddr)),
		abiOffsetof("kvm_run", "mmio.data", exit+unsafe.Offsetof(mmio.Data)),
		abiOffsetof("kvm_run", "mmio.len", exit+unsafe.Offsetof(mmio.Len)),
		abiOffsetof("kvm_run", "mmio.is_write", exit+unsafe.Offsetof(mmio.IsWrite)),
		// Run.Suberror reads a uint32 at the start of the union.
		abiOffsetof("kvm_run", "internal.suberror", exit),
		abiOffsetof("kvm_run", "fail_entry.hardware_entry_failure_reason", exit),

		// struct kvm_run: the sync-register block.
		abiOffsetof("kvm_run", "kvm_valid_regs", unsafe.Offsetof(run.ValidRegs)),
		abiOffsetof("kvm_run", "kvm_dirty_regs", unsafe.Offsetof(run.DirtyRegs)),
		abiOffsetof("kvm_run", "s", s),
		abiOffsetof("kvm_run", "s.regs", s),
		abiOffsetof("kvm_run", "s.regs.regs", s+unsafe.Offsetof(run.S.Regs)),
		abiOffsetof("kvm_run", "s.regs.sregs", s+unsafe.Offsetof(run.S.Sregs)),
		abiOffsetof("kvm_run", "s.regs.events", s+unsafe.Offsetof(run.S.Events)),
		abiMemberSizeof("kvm_run", "s", unsafe.Sizeof(run)-s),
		// Run covers exactly the fixed part: everything up to and including s.
		{
			name:  "end:kvm_run.s",
			expr:  "offsetof(struct kvm_run, s) + sizeof(((struct kvm_run *)0)->s)",
			goVal: uint64(unsafe.Sizeof(run)),
		},
		abiSizeof("kvm_run", unsafe.Sizeof(run)),
	}
}

// abiProgram renders the C program that prints "name value" for each entry.
func abiProgram(table []abiEntry) string {
	var b strings.Builder
	b.WriteString("#include <stddef.h>\n#include <stdio.h>\n#include <linux/kvm.h>\n\n")
	b.WriteString("#ifndef __x86_64__\n#error \"abi.go mirrors the x86-64 KVM ABI\"\n#endif\n\n")
	b.WriteString("int main(void)\n{\n")
	for _, e := range table {
		fmt.Fprintf(&b, "\tprintf(\"%%s %%llu\\n\", %q, (unsigned long long)(%s));\n", e.name, e.expr)
	}
	b.WriteString("\treturn 0;\n}\n")
	return b.String()
}

// cABI compiles and runs the C program for table and returns its values by name.
func cABI(t *testing.T, table []abiEntry) map[string]uint64 {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to check the KVM ABI against <linux/kvm.h>: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "abi.c")
	bin := filepath.Join(dir, "abi")
	if err := os.WriteFile(src, []byte(abiProgram(table)), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := exec.Command(gcc, "-std=gnu11", "-o", bin, src)
	cc.Env = append(os.Environ(), "LC_ALL=C") // untranslated diagnostics, matched below
	out, err := cc.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("linux/kvm.h")) && bytes.Contains(out, []byte("No such file")) {
			t.Fatalf("<linux/kvm.h> not found: install the kernel UAPI headers "+
				"(Debian package linux-libc-dev: apt-get install linux-libc-dev)\n%s", out)
		}
		t.Fatalf("compiling %s: %v\n%s", src, err, out)
	}
	out, err = exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running %s: %v", bin, err)
	}

	got := make(map[string]uint64, len(table))
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("malformed line from C program: %q", sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("malformed value from C program: %q: %v", sc.Text(), err)
		}
		got[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestABI checks every ioctl number, constant, struct size and field offset
// in abi.go against the installed <linux/kvm.h>.
func TestABI(t *testing.T) {
	table := abiTable()
	seen := make(map[string]bool, len(table))
	for _, e := range table {
		if seen[e.name] {
			t.Fatalf("duplicate table entry %s", e.name)
		}
		seen[e.name] = true
	}

	// The fixed part of kvm_run: a 304-byte header plus the 2048-byte s union.
	if got, want := unsafe.Sizeof(Run{}), uintptr(304+2048); got != want {
		t.Errorf("unsafe.Sizeof(Run{}) = %d, want %d (304+2048)", got, want)
	}

	c := cABI(t, table)
	var bad []string
	for _, e := range table {
		cv, ok := c[e.name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: missing from C output (%s)", e.name, e.expr))
		case cv != e.goVal:
			bad = append(bad, fmt.Sprintf("%s: Go %d (%#x), C %d (%#x)  [%s]", e.name, e.goVal, e.goVal, cv, cv, e.expr))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d ABI entries differ from <linux/kvm.h>:\n\t%s", len(bad), len(table), strings.Join(bad, "\n\t"))
	}
	t.Logf("checked %d ABI entries against <linux/kvm.h>", len(table))
}

// TestSystemProbe exercises the system-scope ioctls on the real device.
func TestSystemProbe(t *testing.T) {
	if s, err := Open("/nonexistent"); err == nil {
		s.Close()
		t.Errorf("Open(/nonexistent) succeeded")
	} else if !errors.Is(err, ErrNoDevice) {
		t.Errorf("Open(/nonexistent) = %v, want an error wrapping ErrNoDevice", err)
	}
	// A device that opens but answers no KVM_GET_API_VERSION must be rejected.
	if s, err := Open(os.DevNull); err == nil {
		s.Close()
		t.Errorf("Open(%s) succeeded", os.DevNull)
	} else if !errors.Is(err, ErrNoDevice) {
		t.Errorf("Open(%s) = %v, want an error wrapping ErrNoDevice", os.DevNull, err)
	}

	if err := unix.Access(DefaultDevice, unix.R_OK|unix.W_OK); err != nil {
		t.Skipf("%s not usable here: %v", DefaultDevice, err)
	}
	sys, err := Open(DefaultDevice)
	if err != nil {
		t.Fatalf("Open(%s): %v", DefaultDevice, err)
	}
	defer func() {
		if err := sys.Close(); err != nil {
			t.Errorf("System.Close: %v", err)
		}
	}()

	if v, err := ioctl(sys.fd, ioctlGetAPIVersion, 0); err != nil || v != APIVersion {
		t.Errorf("KVM_GET_API_VERSION = %d, %v; want %d", v, err, APIVersion)
	}

	want := SyncRegs | SyncSregs
	if got := sys.CheckExtension(CapSyncRegs); got&want != want {
		t.Errorf("CheckExtension(CapSyncRegs) = %#x, want it to include %#x (KVM_SYNC_X86_REGS|KVM_SYNC_X86_SREGS)", got, want)
	}
	if sys.CheckExtension(CapImmediateExit) == 0 {
		t.Errorf("CheckExtension(CapImmediateExit) = 0")
	}

	entries, err := sys.SupportedCPUID()
	if err != nil {
		t.Fatalf("SupportedCPUID: %v", err)
	}
	leaves := make(map[uint32]CPUIDEntry)
	for _, e := range entries {
		if _, ok := leaves[e.Function]; !ok {
			leaves[e.Function] = e
		}
	}
	for _, leaf := range []uint32{0x0, 0xD} {
		if _, ok := leaves[leaf]; !ok {
			t.Errorf("SupportedCPUID (%d entries) has no leaf %#x", len(entries), leaf)
		}
	}
	if l0, ok := leaves[0]; ok && l0.EAX < 0xD {
		t.Errorf("CPUID leaf 0 max basic leaf = %#x, want >= 0xd", l0.EAX)
	}

	if got, need := sys.VCPUMmapSize(), int(unsafe.Sizeof(Run{})); got < need {
		t.Errorf("VCPUMmapSize = %d, want >= sizeof(Run) = %d", got, need)
	}

	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	vcpu, err := vm.CreateVCPU(0)
	if err != nil {
		vm.Close()
		t.Fatalf("CreateVCPU(0): %v", err)
	}
	if vcpu.Run() == nil {
		t.Errorf("VCPU.Run() = nil")
	}
	if err := vcpu.Close(); err != nil {
		t.Errorf("VCPU.Close: %v", err)
	}
	if err := vm.Close(); err != nil {
		t.Errorf("VM.Close: %v", err)
	}
	t.Logf("backend %s, mmap size %d, %d CPUID entries, sync regs %#x",
		ProbeBackend(), sys.VCPUMmapSize(), len(entries), sys.CheckExtension(CapSyncRegs))
}
