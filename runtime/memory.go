package runtime

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// errFault is what every failed guest-pointer translation returns; syscall
// handlers turn it into -EFAULT.
var errFault = errors.New("bad guest address")

// guestMemory is the guest's physical (and, identity-mapped, virtual) memory:
// one host mapping, registered with KVM in chunks as the guest first uses them.
//
// Every guest pointer the monitor dereferences goes through slice (and the
// helpers built on it), the one place that checks bounds.
type guestMemory struct {
	host []byte
	size uint64
	vm   *kvm.VM

	mu        sync.Mutex
	committed []bool // per chunk: registered with KVM
}

const sysSlot = 0 // memslot of the system area; chunk i uses slot i+1

func newGuestMemory(vm *kvm.VM, size uint64) (*guestMemory, error) {
	host, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d MiB of guest memory: %w", size>>20, err)
	}
	// Huge host pages let the shadow MMU map 2 MiB of guest memory per
	// fault (the guest's own page tables use 2 MiB pages) instead of
	// taking a ~10 us exit for every 4 KiB page first touched.
	unix.Madvise(host, unix.MADV_HUGEPAGE)
	return &guestMemory{host: host, size: size, vm: vm, committed: make([]bool, (size+chunkSize-1)/chunkSize)}, nil
}

func (m *guestMemory) close() { unix.Munmap(m.host) }

// loadImage replaces the whole guest memory with a private copy-on-write
// mapping of fd (a fork image of the same size). Holes in fd read as zeros.
func (m *guestMemory) loadImage(fd int) error {
	_, err := unix.MmapPtr(fd, 0, unsafe.Pointer(&m.host[0]), uintptr(m.size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("map the fork image: %w", err)
	}
	return nil
}

// reset gives the guest fresh, zero-filled memory (execve). The KVM slots
// keep pointing at the same host range.
func (m *guestMemory) reset() error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&m.host[0]), uintptr(m.size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE)
	if err != nil {
		return err
	}
	unix.Madvise(m.host, unix.MADV_HUGEPAGE)
	return nil
}

// commit makes [addr, addr+n) visible to the vCPUs by registering the chunks
// that cover it. Untouched pages still cost nothing on the host.
func (m *guestMemory) commit(addr, n uint64) error {
	if n == 0 {
		return nil
	}
	if addr >= m.size || n > m.size-addr {
		return errFault
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := addr / chunkSize; c <= (addr+n-1)/chunkSize; c++ {
		if m.committed[c] {
			continue
		}
		lo := c * chunkSize
		sz := min(uint64(chunkSize), m.size-lo)
		if err := m.vm.SetMemoryRegion(uint32(c+1), lo, uintptr(unsafe.Pointer(&m.host[lo])), sz); err != nil {
			return err
		}
		m.committed[c] = true
	}
	return nil
}

// slice returns the host view of guest range [addr, addr+n). It fails for
// anything outside guest memory, including the NULL page.
func (m *guestMemory) slice(addr, n uint64) ([]byte, error) {
	if addr < pageSize || addr > m.size || n > m.size-addr {
		return nil, errFault
	}
	return m.host[addr : addr+n : addr+n], nil
}

// hostAddr translates a guest address for syscalls that take a pointer the
// kernel itself dereferences (futex words, for instance).
func (m *guestMemory) hostAddr(addr, n uint64) (uintptr, error) {
	b, err := m.slice(addr, n)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return uintptr(unsafe.Pointer(unsafe.SliceData(m.host))) + uintptr(addr), nil
	}
	return uintptr(unsafe.Pointer(&b[0])), nil
}

func (m *guestMemory) read(addr uint64, dst []byte) error {
	b, err := m.slice(addr, uint64(len(dst)))
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

func (m *guestMemory) write(addr uint64, src []byte) error {
	b, err := m.slice(addr, uint64(len(src)))
	if err != nil {
		return err
	}
	copy(b, src)
	return nil
}

func (m *guestMemory) readU64(addr uint64) (uint64, error) {
	b, err := m.slice(addr, 8)
	if err != nil {
		return 0, err
	}
	return le.Uint64(b), nil
}

func (m *guestMemory) writeU64(addr, v uint64) error {
	b, err := m.slice(addr, 8)
	if err != nil {
		return err
	}
	le.PutUint64(b, v)
	return nil
}

func (m *guestMemory) writeU32(addr uint64, v uint32) error {
	b, err := m.slice(addr, 4)
	if err != nil {
		return err
	}
	le.PutUint32(b, v)
	return nil
}

// maxPath bounds guest strings, like the kernel's PATH_MAX.
const maxPath = 4096

// readString reads a NUL-terminated guest string of at most max bytes.
func (m *guestMemory) readString(addr uint64, max int) (string, error) {
	if addr < pageSize || addr >= m.size {
		return "", errFault
	}
	end := min(m.size, addr+uint64(max)+1)
	b := m.host[addr:end]
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), nil
		}
	}
	if end == m.size {
		return "", errFault
	}
	return "", unix.ENAMETOOLONG
}

// readStringArray reads a NULL-terminated array of string pointers (argv, envp).
func (m *guestMemory) readStringArray(addr uint64, maxCount int) ([]string, error) {
	var out []string
	if addr == 0 {
		return nil, nil
	}
	for i := 0; ; i++ {
		if i >= maxCount {
			return nil, unix.E2BIG
		}
		p, err := m.readU64(addr + uint64(i)*8)
		if err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := m.readString(p, 128<<10)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

// iovecs translates a guest struct iovec array into host buffers.
func (m *guestMemory) iovecs(addr uint64, count uint64) ([][]byte, error) {
	const iovMax = 1024 // IOV_MAX
	if count > iovMax {
		return nil, unix.EINVAL
	}
	raw, err := m.slice(addr, count*16)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, count)
	for i := range out {
		base := le.Uint64(raw[i*16:])
		n := le.Uint64(raw[i*16+8:])
		if n == 0 {
			continue
		}
		if out[i], err = m.slice(base, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}
