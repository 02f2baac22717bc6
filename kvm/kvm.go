package kvm

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultDevice is where the KVM device normally lives.
const DefaultDevice = "/dev/kvm"

// ErrNoDevice reports that the KVM device is missing or unusable.
var ErrNoDevice = errors.New("kvm device unavailable")

func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if e != 0 {
		return r, e
	}
	return r, nil
}

// System is an open KVM device (the "system" ioctl scope).
type System struct {
	fd       int
	mmapSize int
}

// Open opens the KVM device at path and checks its API version.
func Open(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %v", ErrNoDevice, path, err)
	}
	s := &System{fd: fd}
	v, err := ioctl(fd, ioctlGetAPIVersion, 0)
	if err != nil || v != APIVersion {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is not a KVM device (API version %d, %v)", ErrNoDevice, path, v, err)
	}
	sz, err := ioctl(fd, ioctlGetVCPUMmapSize, 0)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	s.mmapSize = int(sz)
	return s, nil
}

// Close closes the device.
func (s *System) Close() error { return unix.Close(s.fd) }

// VCPUMmapSize is the size of each vCPU's kvm_run mapping.
func (s *System) VCPUMmapSize() int { return s.mmapSize }

// CheckExtension returns the KVM_CHECK_EXTENSION value of c (0: unsupported).
func (s *System) CheckExtension(c Cap) int {
	r, err := ioctl(s.fd, ioctlCheckExtension, uintptr(c))
	if err != nil {
		return 0
	}
	return int(r)
}

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	for n := 64; n <= 4096; n *= 2 {
		buf := make([]byte, 8+n*int(unsafe.Sizeof(CPUIDEntry{})))
		*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(n)
		_, err := ioctl(s.fd, ioctlGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0])))
		if err == unix.E2BIG {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
		}
		got := int(*(*uint32)(unsafe.Pointer(&buf[0])))
		entries := unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[8])), got)
		return append([]CPUIDEntry(nil), entries...), nil
	}
	return nil, fmt.Errorf("KVM_GET_SUPPORTED_CPUID: too many entries")
}

// Backend names the kind of KVM implementation behind the device.
type Backend string

const (
	BackendHardware Backend = "hardware" // VMX or SVM
	BackendPVM      Backend = "pvm"      // kvm_pvm: shadow paging, guest CPL0 emulated
)

// ProbeBackend tells which KVM backend the host runs. PVM cannot return from
// a CPL0 stub with sysretq (the guest triple-faults) and emulates CPL0 code,
// so the monitor picks its syscall return path from this.
func ProbeBackend() Backend {
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return BackendPVM
	}
	return BackendHardware
}

// VM is a virtual machine.
type VM struct {
	sys *System
	fd  int
}

// CreateVM creates an empty VM.
func (s *System) CreateVM() (*VM, error) {
	for {
		r, err := ioctl(s.fd, ioctlCreateVM, 0)
		if err == unix.EINTR {
			continue // KVM_CREATE_VM is not a run: retrying it hides nothing
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
		}
		return &VM{sys: s, fd: int(r)}, nil
	}
}

// Close closes the VM.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// SetMemoryRegion installs (or, with size 0, deletes) a memory slot that maps
// guest-physical gpa to host memory at host.
func (vm *VM) SetMemoryRegion(slot uint32, gpa uint64, host uintptr, size uint64) error {
	r := UserspaceMemoryRegion{Slot: slot, GuestPhysAddr: gpa, MemorySize: size, UserspaceAddr: uint64(host)}
	if _, err := ioctl(vm.fd, ioctlSetUserMemoryRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION slot %d gpa %#x size %#x: %w", slot, gpa, size, err)
	}
	return nil
}

// VCPU is a virtual CPU with its shared kvm_run page.
type VCPU struct {
	fd   int
	run  *Run
	mem  []byte
	kick atomic.Bool
}

// CreateVCPU creates vCPU id and maps its kvm_run page.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	r, err := ioctl(vm.fd, ioctlCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU: %w", err)
	}
	fd := int(r)
	mem, err := unix.Mmap(fd, 0, vm.sys.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	return &VCPU{fd: fd, run: (*Run)(unsafe.Pointer(&mem[0])), mem: mem}, nil
}

// Close unmaps the kvm_run page and closes the vCPU.
func (c *VCPU) Close() error {
	unix.Munmap(c.mem)
	return unix.Close(c.fd)
}

// Run returns the shared kvm_run page.
func (c *VCPU) Run() *Run { return c.run }

// RunOnce enters the guest until the next exit. An EINTR (a signal arrived,
// or ImmediateExit was set) is returned as unix.EINTR, never retried here: the
// caller decides what the interruption means.
func (c *VCPU) RunOnce() error {
	_, err := ioctl(c.fd, ioctlRun, 0)
	return err
}

func (c *VCPU) get(req uintptr, p unsafe.Pointer, name string) error {
	if _, err := ioctl(c.fd, req, uintptr(p)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// GetRegs reads the general-purpose registers.
func (c *VCPU) GetRegs(r *Regs) error { return c.get(ioctlGetRegs, unsafe.Pointer(r), "KVM_GET_REGS") }

// SetRegs writes the general-purpose registers.
func (c *VCPU) SetRegs(r *Regs) error { return c.get(ioctlSetRegs, unsafe.Pointer(r), "KVM_SET_REGS") }

// GetSregs reads the special registers.
func (c *VCPU) GetSregs(s *Sregs) error {
	return c.get(ioctlGetSregs, unsafe.Pointer(s), "KVM_GET_SREGS")
}

// SetSregs writes the special registers.
func (c *VCPU) SetSregs(s *Sregs) error {
	return c.get(ioctlSetSregs, unsafe.Pointer(s), "KVM_SET_SREGS")
}

// GetFPU reads the legacy FPU state.
func (c *VCPU) GetFPU(f *FPU) error { return c.get(ioctlGetFPU, unsafe.Pointer(f), "KVM_GET_FPU") }

// SetFPU writes the legacy FPU state.
func (c *VCPU) SetFPU(f *FPU) error { return c.get(ioctlSetFPU, unsafe.Pointer(f), "KVM_SET_FPU") }

// GetXsave reads the XSAVE area.
func (c *VCPU) GetXsave(x *Xsave) error {
	return c.get(ioctlGetXsave, unsafe.Pointer(x), "KVM_GET_XSAVE")
}

// SetXsave writes the XSAVE area.
func (c *VCPU) SetXsave(x *Xsave) error {
	return c.get(ioctlSetXsave, unsafe.Pointer(x), "KVM_SET_XSAVE")
}

// GetXCRs reads the extended control registers.
func (c *VCPU) GetXCRs(x *XCRs) error { return c.get(ioctlGetXCRs, unsafe.Pointer(x), "KVM_GET_XCRS") }

// SetXCRs writes the extended control registers.
func (c *VCPU) SetXCRs(x *XCRs) error { return c.get(ioctlSetXCRs, unsafe.Pointer(x), "KVM_SET_XCRS") }

// SetMSRs writes model-specific registers.
func (c *VCPU) SetMSRs(entries []MSREntry) error {
	buf := make([]byte, 8+len(entries)*int(unsafe.Sizeof(MSREntry{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(entries))
	copy(unsafe.Slice((*MSREntry)(unsafe.Pointer(&buf[8])), len(entries)), entries)
	n, err := ioctl(c.fd, ioctlSetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil {
		return fmt.Errorf("KVM_SET_MSRS: %w", err)
	}
	if int(n) != len(entries) {
		return fmt.Errorf("KVM_SET_MSRS: rejected MSR %#x", entries[n].Index)
	}
	return nil
}

// GetMSRs reads the MSRs named by entries[i].Index into entries[i].Data.
func (c *VCPU) GetMSRs(entries []MSREntry) error {
	buf := make([]byte, 8+len(entries)*int(unsafe.Sizeof(MSREntry{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(entries))
	dst := unsafe.Slice((*MSREntry)(unsafe.Pointer(&buf[8])), len(entries))
	copy(dst, entries)
	n, err := ioctl(c.fd, ioctlGetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil {
		return fmt.Errorf("KVM_GET_MSRS: %w", err)
	}
	if int(n) != len(entries) {
		return fmt.Errorf("KVM_GET_MSRS: rejected MSR %#x", entries[n].Index)
	}
	copy(entries, dst)
	return nil
}

// SetCPUID installs the CPUID table the guest sees.
func (c *VCPU) SetCPUID(entries []CPUIDEntry) error {
	buf := make([]byte, 8+len(entries)*int(unsafe.Sizeof(CPUIDEntry{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(entries))
	copy(unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[8])), len(entries)), entries)
	return c.get(ioctlSetCPUID2, unsafe.Pointer(&buf[0]), "KVM_SET_CPUID2")
}

// SetSignalMask sets the signal mask in force while the vCPU runs guest code
// (nil: the thread's own mask).
func (c *VCPU) SetSignalMask(mask *uint64) error {
	if mask == nil {
		_, err := ioctl(c.fd, ioctlSetSignalMask, 0)
		return err
	}
	// struct kvm_signal_mask { __u32 len; __u8 sigset[]; }
	var buf [12]byte
	*(*uint32)(unsafe.Pointer(&buf[0])) = 8
	*(*uint64)(unsafe.Pointer(&buf[4])) = *mask
	return c.get(ioctlSetSignalMask, unsafe.Pointer(&buf[0]), "KVM_SET_SIGNAL_MASK")
}

// RequestExit asks a running (or about to run) vCPU to leave KVM_RUN: it sets
// immediate_exit, which makes the next KVM_RUN return EINTR at once. A vCPU
// already inside KVM_RUN must also be sent a signal by the caller.
func (c *VCPU) RequestExit() {
	c.kick.Store(true)
	c.run.ImmediateExit = 1 // read by the kernel at KVM_RUN entry
}

// ClearExitRequest clears immediate_exit; it reports whether one was pending.
func (c *VCPU) ClearExitRequest() bool {
	if !c.kick.Swap(false) {
		return false
	}
	c.run.ImmediateExit = 0
	return true
}

// TSCKHz is the guest's TSC frequency in kHz (KVM_GET_TSC_KHZ).
func (c *VCPU) TSCKHz() (uint64, error) {
	n, err := ioctl(c.fd, ioctlGetTSCKHz, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_TSC_KHZ: %w", err)
	}
	return uint64(n), nil
}
