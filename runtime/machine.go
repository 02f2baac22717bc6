package runtime

import (
	"encoding/binary"
	"fmt"

	"github.com/kmvm/km/kvm"
)

// le is the guest byte order.
var le = binary.LittleEndian

// Segment selectors: the Linux x86-64 GDT layout, so that programs that look
// at %cs or %ss see what they would under Linux.
const (
	selKernelCS = 0x10
	selKernelDS = 0x18
	selUser32CS = 0x23
	selUserDS   = 0x2b
	selUserCS   = 0x33
	selTSS      = 0x40
)

// Control-register, EFER and RFLAGS bits.
const (
	cr0PE = 1 << 0
	cr0MP = 1 << 1
	cr0ET = 1 << 4
	cr0NE = 1 << 5
	cr0WP = 1 << 16
	cr0AM = 1 << 18
	cr0PG = 1 << 31

	cr4PAE        = 1 << 5
	cr4OSFXSR     = 1 << 9
	cr4OSXMMEXCPT = 1 << 10
	cr4FSGSBASE   = 1 << 16
	cr4OSXSAVE    = 1 << 18

	eferSCE = 1 << 0
	eferLME = 1 << 8
	eferLMA = 1 << 10
	eferNXE = 1 << 11

	rflagsReserved = 1 << 1 // always 1
	rflagsTF       = 1 << 8
	rflagsIF       = 1 << 9
	rflagsDF       = 1 << 10
	rflagsIOPL     = 3 << 12
	rflagsNT       = 1 << 14
	rflagsRF       = 1 << 16
	rflagsVM       = 1 << 17
	rflagsAC       = 1 << 18
	// rflagsUser are the bits a CPL3 program may own.
	rflagsUser = 0xcd5 | rflagsTF | rflagsDF | rflagsAC | 1<<21 // CF PF AF ZF SF OF, TF DF AC ID
)

// MSR numbers.
const (
	msrEFER         = 0xc0000080
	msrSTAR         = 0xc0000081
	msrLSTAR        = 0xc0000082
	msrCSTAR        = 0xc0000083
	msrSFMASK       = 0xc0000084
	msrFSBase       = 0xc0000100
	msrGSBase       = 0xc0000101
	msrKernelGSBase = 0xc0000102
)

// star: syscall loads CS=0x10/SS=0x18; sysret loads CS=0x23+16=0x33, SS=0x23+8=0x2b.
const msrSTARValue = uint64(selUser32CS)<<48 | uint64(selKernelCS)<<32

// sfmask: syscall clears TF, DF, IF, NT and AC, as Linux does, but keeps
// IOPL: under PVM, syscall from CPL3 enters the stub still at CPL3, and the
// stub's `out` needs IOPL 3 there.
const msrSFMASKValue = rflagsTF | rflagsDF | rflagsIF | rflagsNT | rflagsAC

// rflagsInitial is a new thread's RFLAGS: IF, and IOPL 3 for the stub's `out`.
const rflagsInitial = rflagsReserved | rflagsIF | rflagsIOPL

// Page-table entry bits.
const (
	ptePresent = 1 << 0
	pteWrite   = 1 << 1
	pteUser    = 1 << 2
	pteHuge    = 1 << 7 // PS: a 2 MiB mapping in a page directory
	pteNX      = 1 << 63
)

// How the stubs exit to the monitor.
//
// Exception stubs run at CPL0 and use `out %al, $imm8` (a KVM_EXIT_IO that
// touches no register or memory). The syscall stub cannot: under PVM the
// syscall instruction enters it still at CPL3, where RFLAGS.IOPL is forced
// to 0 and `out` faults. It writes one byte to a page with no memory slot
// behind it instead, a KVM_EXIT_MMIO that works at any privilege level.
const (
	portException = 0x80 // + vector: exception stubs
)

// Stub code offsets within sysCode.
const (
	stubSyscall    = 0x000 // mov %al, mmio(%rip); sysretq; hlt
	stubSyscallEnd = 0x006 // rip after the mmio write: identifies a syscall exit
	stubSysret     = 0x006 // the sysretq, used on hardware KVM
	stubExceptions = 0x100 // 32 stubs, 16 bytes apart: out %al,$(0x80+v); hlt
	stubStride     = 16
)

const (
	opOutImm8      = 0xe6
	opHlt          = 0xf4
	opMovToRIPRel8 = 0x88 // mov r8, r/m8
	modRMALRIPRel  = 0x05 // mod=00 reg=al r/m=101: disp32(%rip)
)

var opSysretq = []byte{0x48, 0x0f, 0x07}

// GDT descriptors (flat segments; base and limit are ignored in long mode
// except for the TSS).
var gdtEntries = map[int]uint64{
	selKernelCS: 0x00af9b000000ffff, // present, DPL0, code exec/read, L
	selKernelDS: 0x00cf93000000ffff, // present, DPL0, data read/write
	selUser32CS: 0x00cffb000000ffff, // present, DPL3, code exec/read, D (compat mode)
	selUserDS:   0x00cff3000000ffff, // present, DPL3, data read/write
	selUserCS:   0x00affb000000ffff, // present, DPL3, code exec/read, L
}

// vectorHasErrorCode lists the exceptions that push an error code.
var vectorHasErrorCode = [32]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true, 29: true, 30: true}

// Exception vectors km maps to signals.
const (
	vecDivide      = 0
	vecDebug       = 1
	vecBreakpoint  = 3
	vecOverflow    = 4
	vecBound       = 5
	vecInvalidOp   = 6
	vecDevNA       = 7
	vecDoubleFault = 8
	vecInvalidTSS  = 10
	vecSegNP       = 11
	vecStack       = 12
	vecGP          = 13
	vecPageFault   = 14
	vecX87         = 16
	vecAlignment   = 17
	vecMachCheck   = 18
	vecSIMD        = 19
)

// buildSysArea writes the GDT, IDT, stubs and page tables into the system
// area (host view sys, guest-physical sysPhys) for guest memory of memSize.
// It returns the guest-physical address of the PML4.
func buildSysArea(sys []byte, memSize uint64) (uint64, error) {
	for sel, d := range gdtEntries {
		le.PutUint64(sys[sysGDT+sel:], d)
	}

	// Stubs.
	code := sys[sysCode:]
	disp := uint32(sysMMIO - (sysCode + stubSyscallEnd))
	copy(code[stubSyscall:], []byte{opMovToRIPRel8, modRMALRIPRel, byte(disp), byte(disp >> 8), byte(disp >> 16), byte(disp >> 24)})
	copy(code[stubSysret:], opSysretq)
	code[stubSysret+len(opSysretq)] = opHlt
	for v := 0; v < 32; v++ {
		off := stubExceptions + v*stubStride
		copy(code[off:], []byte{opOutImm8, byte(portException + v), opHlt})
		addr := uint64(sysVirt + sysCode + off)
		// 64-bit interrupt gate: present, type 0xE. Breakpoint and overflow
		// get DPL3 so that int3/into from CPL3 reach them.
		attr := uint64(0x8e)
		if v == vecBreakpoint || v == vecOverflow {
			attr = 0xee
		}
		gate := sys[sysIDT+v*16:]
		le.PutUint64(gate, addr&0xffff|uint64(selKernelCS)<<16|attr<<40|(addr>>16&0xffff)<<48)
		le.PutUint64(gate[8:], addr>>32)
	}

	pt := &pageTables{sys: sys, next: sysTables}
	pml4, _ := pt.alloc()
	// The user region, 2 MiB pages, except: page 0 (NULL) and the stack guard.
	guardLo := memSize - stackMax - stackGuard
	for addr := uint64(0); addr < memSize; addr += hugeSize {
		var err error
		switch addr {
		case guardLo:
		case 0:
			for a := uint64(pageSize); a < hugeSize; a += pageSize {
				if err = pt.mapPage(pml4, a, a, pteWrite|pteUser, false); err != nil {
					break
				}
			}
		default:
			err = pt.mapPage(pml4, addr, addr, pteWrite|pteUser, true)
		}
		if err != nil {
			return 0, err
		}
	}
	// The system area, supervisor-only except the stub page, which the
	// guest may execute but not write: PVM runs the syscall stub at CPL3.
	for off := uint64(0); off < sysSize; off += pageSize {
		flags := uint64(pteWrite)
		if off == sysCode {
			flags = pteUser
		}
		if err := pt.mapPage(pml4, sysVirt+off, sysPhys+off, flags, false); err != nil {
			return 0, err
		}
	}
	// The syscall doorbell: a user-writable page whose guest-physical
	// address (just past the system area's slot) has no memory behind it.
	if err := pt.mapPage(pml4, sysVirt+sysMMIO, sysPhys+sysSize, pteUser|pteWrite, false); err != nil {
		return 0, err
	}
	return sysPhys + pml4, nil
}

// pageTables builds 4-level page tables inside the system area.
type pageTables struct {
	sys  []byte
	next uint64 // offset of the next free table page
}

func (pt *pageTables) alloc() (uint64, error) {
	if pt.next+pageSize > sysSize {
		return 0, fmt.Errorf("guest memory too large for the page-table area")
	}
	p := pt.next
	pt.next += pageSize
	return p, nil
}

// mapPage maps virt to phys with a 4 KiB page, or a 2 MiB one if huge.
// Intermediate tables are user-accessible; the leaf decides.
func (pt *pageTables) mapPage(pml4, virt, phys, flags uint64, huge bool) error {
	table := pml4
	levels := []uint{39, 30, 21}
	if huge {
		levels = levels[:2]
	}
	for _, shift := range levels {
		slot := table + (virt>>shift&511)*8
		e := le.Uint64(pt.sys[slot:])
		if e&ptePresent == 0 {
			next, err := pt.alloc()
			if err != nil {
				return err
			}
			e = sysPhys + next | ptePresent | pteWrite | pteUser
			le.PutUint64(pt.sys[slot:], e)
		}
		table = e&^(pageMask|pteNX) - sysPhys
	}
	shift, leaf := uint(12), phys|ptePresent|flags
	if huge {
		shift, leaf = 21, leaf|pteHuge
	}
	le.PutUint64(pt.sys[table+(virt>>shift&511)*8:], leaf)
	return nil
}

// tssFor returns the offset of vCPU id's TSS and the top of its exception stack.
func tssFor(id int) (tss uint64, stackTop uint64) {
	base := uint64(sysPerVCPU + id*perVCPUSize)
	return base, sysVirt + base + perVCPUSize
}

// writeTSS fills vCPU id's 64-bit TSS: RSP0 is where the CPU switches the
// stack on an exception from CPL3.
func writeTSS(sys []byte, id int) {
	off, top := tssFor(id)
	le.PutUint64(sys[off+4:], top)   // rsp0
	le.PutUint16(sys[off+102:], 104) // I/O map base past the limit: no I/O bitmap
}

func userCodeSegment() kvm.Segment {
	return kvm.Segment{Selector: selUserCS, Limit: 0xffffffff, Type: 11, Present: 1, DPL: 3, S: 1, L: 1, G: 1}
}

func userDataSegment(sel uint16) kvm.Segment {
	return kvm.Segment{Selector: sel, Limit: 0xffffffff, Type: 3, Present: 1, DPL: 3, S: 1, DB: 1, G: 1}
}

// initialSregs is the special-register state of a CPL3 long-mode thread.
func initialSregs(cr3 uint64, vcpuID int, fsgsbase bool) kvm.Sregs {
	tss, _ := tssFor(vcpuID)
	s := kvm.Sregs{
		CS:   userCodeSegment(),
		DS:   userDataSegment(selUserDS),
		ES:   userDataSegment(selUserDS),
		SS:   userDataSegment(selUserDS),
		FS:   userDataSegment(0),
		GS:   userDataSegment(0),
		TR:   kvm.Segment{Selector: selTSS, Base: sysVirt + tss, Limit: 103, Type: 11, Present: 1},
		LDT:  kvm.Segment{Type: 2, Unusable: 1},
		GDT:  kvm.DTable{Base: sysVirt + sysGDT, Limit: 0x4f},
		IDT:  kvm.DTable{Base: sysVirt + sysIDT, Limit: 32*16 - 1},
		CR0:  cr0PE | cr0MP | cr0ET | cr0NE | cr0WP | cr0AM | cr0PG,
		CR3:  cr3,
		CR4:  cr4PAE | cr4OSFXSR | cr4OSXMMEXCPT | cr4OSXSAVE,
		EFER: eferSCE | eferLME | eferLMA | eferNXE,
	}
	if fsgsbase {
		s.CR4 |= cr4FSGSBASE
	}
	return s
}
