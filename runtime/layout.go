// Package runtime is the km monitor: it builds a VM for one Linux x86-64
// program (guest memory, page tables, descriptor tables, vCPUs), loads the
// program's ELF image, and serves its system calls on the host.
//
// The guest address space is an identity map: guest-virtual address A is
// guest-physical address A is byte A of one host mapping. Page tables are
// written once, before the first vCPU runs, because PVM's shadow paging does
// not see page-table edits the monitor makes later (REFERENCE.md section 1).
//
//	0                 page 0, never mapped: NULL dereferences fault
//	4 KiB ..          ELF image, then the brk heap growing up
//	        ..        mmap area, allocated top down
//	top-8M-2M         2 MiB hole, never mapped: stack overflows fault
//	top-8M .. top     the initial thread's stack (RLIMIT_STACK)
//	sysVirt ..        monitor-owned, supervisor-only: GDT, IDT, TSS, stubs,
//	                  page tables, exception stacks (guest CPL3 cannot touch it)
package runtime

const (
	pageSize  = 4 << 10
	hugeSize  = 2 << 20 // a 2 MiB page-directory mapping
	gigSize   = 1 << 30
	pageMask  = pageSize - 1
	chunkSize = 64 << 20 // guest memory is registered with KVM in chunks of this size, on demand

	// DefaultMemory is the guest memory size when none is configured.
	DefaultMemory = 1 << 30
	// MinMemory and MaxMemory bound the configurable guest memory size. The
	// upper bound is what one PML4 entry (512 GiB) maps, less the sys area.
	MinMemory = 32 << 20
	MaxMemory = 256 << 30

	stackMax   = 8 << 20 // reserved for the initial stack, like RLIMIT_STACK
	stackGuard = hugeSize

	// sysPhys is where the monitor's own structures live in guest-physical
	// memory, above any guest memory; sysVirt is where the page tables map
	// them, supervisor-only.
	sysPhys = 300 << 30
	sysVirt = 300 << 30
)

// System-area layout (offsets from sysPhys).
const (
	sysGDT      = 0x0000
	sysIDT      = 0x1000
	sysCode     = 0x2000 // syscall entry and exception stubs
	sysMMIO     = 0x3000 // virtual only: the syscall stub's doorbell page
	sysPerVCPU  = 0x10000
	perVCPUSize = 0x2000 // one page TSS, one page exception stack
	maxVCPUs    = (sysTables - sysPerVCPU) / perVCPUSize
	sysTables   = 0x200000 // page tables from here
	sysSize     = 0x400000
)

func alignUp(x, a uint64) uint64   { return (x + a - 1) &^ (a - 1) }
func alignDown(x, a uint64) uint64 { return x &^ (a - 1) }
