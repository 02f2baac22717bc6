// Package kvm is a typed, cgo-free layer over the /dev/kvm ioctl interface for
// x86-64. It knows nothing about programs or guests: it opens the device,
// creates VMs and vCPUs, moves register state in and out, and runs a vCPU.
//
// Every number here comes from <linux/kvm.h> and <asm/kvm.h>; abi_test.go
// compiles a small C program against the installed kernel headers and checks
// each ioctl number, struct size and field offset against these definitions.
package kvm

import "unsafe"

// ioctl number encoding (<asm-generic/ioctl.h>): dir<<30 | size<<16 | type<<8 | nr.
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	kvmIO = 0xAE // the ioctl "type" byte every KVM ioctl uses
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | kvmIO<<8 | nr }
func ion(nr uintptr) uintptr            { return ioc(iocNone, nr, 0) }
func ior(nr, size uintptr) uintptr      { return ioc(iocRead, nr, size) }
func iow(nr, size uintptr) uintptr      { return ioc(iocWrite, nr, size) }
func iowr(nr, size uintptr) uintptr     { return ioc(iocRead|iocWrite, nr, size) }

// The ioctls km uses. The size operand is the C struct the ioctl names, which
// for the variable-length ones (kvm_msrs, kvm_cpuid2) is just the 8-byte header.
var (
	ioctlGetAPIVersion       = ion(0x00)
	ioctlCreateVM            = ion(0x01)
	ioctlCheckExtension      = ion(0x03)
	ioctlGetVCPUMmapSize     = ion(0x04)
	ioctlGetSupportedCPUID   = iowr(0x05, 8)
	ioctlCreateVCPU          = ion(0x41)
	ioctlSetUserMemoryRegion = iow(0x46, unsafe.Sizeof(UserspaceMemoryRegion{}))
	ioctlRun                 = ion(0x80)
	ioctlGetRegs             = ior(0x81, unsafe.Sizeof(Regs{}))
	ioctlSetRegs             = iow(0x82, unsafe.Sizeof(Regs{}))
	ioctlGetSregs            = ior(0x83, unsafe.Sizeof(Sregs{}))
	ioctlSetSregs            = iow(0x84, unsafe.Sizeof(Sregs{}))
	ioctlGetMSRs             = iowr(0x88, 8)
	ioctlSetMSRs             = iow(0x89, 8)
	ioctlSetSignalMask       = iow(0x8b, 4)
	ioctlGetFPU              = ior(0x8c, unsafe.Sizeof(FPU{}))
	ioctlSetFPU              = iow(0x8d, unsafe.Sizeof(FPU{}))
	ioctlSetCPUID2           = iow(0x90, 8)
	ioctlGetXsave            = ior(0xa4, unsafe.Sizeof(Xsave{}))
	ioctlSetXsave            = iow(0xa5, unsafe.Sizeof(Xsave{}))
	ioctlGetXCRs             = ior(0xa6, unsafe.Sizeof(XCRs{}))
	ioctlSetXCRs             = iow(0xa7, unsafe.Sizeof(XCRs{}))
	ioctlGetTSCKHz           = ion(0xa3)
)

// APIVersion is the only KVM API version that has ever existed (KVM_API_VERSION).
const APIVersion = 12

// Capability numbers for KVM_CHECK_EXTENSION.
type Cap uintptr

const (
	CapUserMemory    Cap = 3   // KVM_CAP_USER_MEMORY
	CapNrVCPUs       Cap = 9   // KVM_CAP_NR_VCPUS: recommended maximum
	CapNrMemslots    Cap = 10  // KVM_CAP_NR_MEMSLOTS
	CapXCRs          Cap = 56  // KVM_CAP_XCRS
	CapMaxVCPUs      Cap = 66  // KVM_CAP_MAX_VCPUS
	CapSyncRegs      Cap = 74  // KVM_CAP_SYNC_REGS: returns the supported KVM_SYNC_X86_* mask
	CapImmediateExit Cap = 136 // KVM_CAP_IMMEDIATE_EXIT
	CapXsave2        Cap = 208 // KVM_CAP_XSAVE2: returns the kvm_xsave size needed
)

// Exit reasons (kvm_run.exit_reason).
const (
	ExitUnknown       = 0
	ExitException     = 1
	ExitIO            = 2
	ExitHypercall     = 3
	ExitDebug         = 4
	ExitHlt           = 5
	ExitMMIO          = 6
	ExitShutdown      = 8
	ExitFailEntry     = 9
	ExitIntr          = 10
	ExitInternalError = 17
	ExitSystemEvent   = 24
)

// Sync-register sets (kvm_run.kvm_valid_regs / kvm_dirty_regs).
const (
	SyncRegs   = 1 << 0 // KVM_SYNC_X86_REGS
	SyncSregs  = 1 << 1 // KVM_SYNC_X86_SREGS
	SyncEvents = 1 << 2 // KVM_SYNC_X86_EVENTS
)

// I/O directions in kvm_run.io.direction.
const (
	IOIn  = 0
	IOOut = 1
)

// Regs is struct kvm_regs.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment is struct kvm_segment: a segment register's hidden (cached) part.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	_        uint8
}

// DTable is struct kvm_dtable (GDTR/IDTR).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs is struct kvm_sregs.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	InterruptBitmap        [4]uint64
}

// FPU is struct kvm_fpu (legacy x87/SSE state).
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// Xsave is struct kvm_xsave: the XSAVE area in the CPU's standard format.
type Xsave struct {
	Region [1024]uint32
}

// XCR is struct kvm_xcr.
type XCR struct {
	XCR   uint32
	_     uint32
	Value uint64
}

// XCRs is struct kvm_xcrs.
type XCRs struct {
	NrXCRs uint32
	Flags  uint32
	XCRs   [16]XCR
	_      [16]uint64
}

// MSREntry is struct kvm_msr_entry.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// CPUIDEntry is struct kvm_cpuid_entry2.
type CPUIDEntry struct {
	Function uint32
	Index    uint32
	Flags    uint32
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// UserspaceMemoryRegion is struct kvm_userspace_memory_region.
type UserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

// SyncRegisters is struct kvm_sync_regs, the register block shared through
// the kvm_run page so a vCPU exit and re-entry need no GET/SET ioctls.
type SyncRegisters struct {
	Regs   Regs
	Sregs  Sregs
	Events [64]byte // struct kvm_vcpu_events, unused by km
}

// RunIO is the kvm_run exit union for KVM_EXIT_IO.
type RunIO struct {
	Direction  uint8
	Size       uint8
	Port       uint16
	Count      uint32
	DataOffset uint64
}

// RunMMIO is the kvm_run exit union for KVM_EXIT_MMIO.
type RunMMIO struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
}

// Run is the fixed part of struct kvm_run, the page shared with the kernel.
type Run struct {
	RequestInterruptWindow     uint8
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IfFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
	exit                       [256]byte // the exit-reason union
	ValidRegs                  uint64
	DirtyRegs                  uint64
	S                          SyncRegisters
	_                          [2048 - unsafe.Sizeof(SyncRegisters{})]byte
}

// IO views the exit union as KVM_EXIT_IO data.
func (r *Run) IO() *RunIO { return (*RunIO)(unsafe.Pointer(&r.exit[0])) }

// MMIO views the exit union as KVM_EXIT_MMIO data.
func (r *Run) MMIO() *RunMMIO { return (*RunMMIO)(unsafe.Pointer(&r.exit[0])) }

// Suberror returns internal.suberror for KVM_EXIT_INTERNAL_ERROR and
// hardware_entry_failure_reason's low half for KVM_EXIT_FAIL_ENTRY.
func (r *Run) Suberror() uint32 { return *(*uint32)(unsafe.Pointer(&r.exit[0])) }
