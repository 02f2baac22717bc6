package runtime

import (
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// mapping is one guest memory area, as mmap created it.
type mapping struct {
	start, end uint64
	prot       int
	flags      int
	name       string // file path, "[heap]", "[stack]", or "" for anonymous
	offset     uint64
	fileBacked bool // the host range is a file mapping, not the anonymous base
}

// addressSpace allocates guest virtual (= physical) memory: the brk heap
// above the image, mmaps top down below the stack.
type addressSpace struct {
	mu       sync.Mutex
	mem      *guestMemory
	maps     []mapping // sorted, non-overlapping
	brkStart uint64
	brk      uint64
	mmapTop  uint64 // allocations stay below this (the stack guard)
}

func newAddressSpace(mem *guestMemory) *addressSpace {
	as := &addressSpace{mem: mem, mmapTop: mem.size - stackMax - stackGuard}
	as.maps = []mapping{{start: mem.size - stackMax, end: mem.size, prot: unix.PROT_READ | unix.PROT_WRITE, name: "[stack]"}}
	return as
}

// setImage records the executable's span and starts the heap after it.
func (as *addressSpace) setImage(lo, hi uint64, name string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.insert(mapping{start: lo, end: hi, prot: unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, name: name})
	as.brkStart, as.brk = hi, hi
}

func (as *addressSpace) insert(m mapping) {
	i := sort.Search(len(as.maps), func(i int) bool { return as.maps[i].start >= m.start })
	as.maps = append(as.maps, mapping{})
	copy(as.maps[i+1:], as.maps[i:])
	as.maps[i] = m
}

// overlaps reports whether any mapping intersects [lo, hi).
func (as *addressSpace) overlaps(lo, hi uint64) bool {
	for _, m := range as.maps {
		if m.start < hi && lo < m.end {
			return true
		}
	}
	return false
}

// findFree returns the highest free range of n bytes below mmapTop and above
// the heap, or 0.
func (as *addressSpace) findFree(n uint64, below uint64) uint64 {
	top := min(as.mmapTop, below)
	floor := alignUp(as.brk, pageSize) + hugeSize // leave the heap room to grow
	for i := len(as.maps) - 1; i >= -1; i-- {
		gapLo := floor
		if i >= 0 {
			gapLo = max(floor, as.maps[i].end)
		}
		if i >= 0 && as.maps[i].start >= top {
			continue
		}
		if top >= gapLo+n {
			return alignDown(top-n, pageSize)
		}
		if i >= 0 {
			top = min(top, as.maps[i].start)
		}
	}
	return 0
}

// reserve allocates n bytes of anonymous memory anywhere; used for loading
// the interpreter.
func (as *addressSpace) reserve(n uint64, name string) (uint64, unix.Errno) {
	as.mu.Lock()
	defer as.mu.Unlock()
	n = alignUp(n, pageSize)
	addr := as.findFree(n, as.mmapTop)
	if addr == 0 {
		return 0, unix.ENOMEM
	}
	if err := as.mem.commit(addr, n); err != nil {
		return 0, unix.ENOMEM
	}
	as.insert(mapping{start: addr, end: addr + n, prot: unix.PROT_READ | unix.PROT_WRITE | unix.PROT_EXEC, name: name})
	return addr, 0
}

// unmap removes [lo, hi) from the map and gives the host pages back, so the
// range reads as zeros when it is mapped again.
func (as *addressSpace) unmap(lo, hi uint64) unix.Errno {
	var kept []mapping
	touched := false
	for _, m := range as.maps {
		if m.end <= lo || m.start >= hi {
			kept = append(kept, m)
			continue
		}
		touched = true
		if m.start < lo {
			left := m
			left.end = lo
			kept = append(kept, left)
		}
		if m.end > hi {
			right := m
			right.offset += hi - m.start
			right.start = hi
			kept = append(kept, right)
		}
	}
	as.maps = kept
	if !touched {
		return 0
	}
	return as.resetHost(lo, hi)
}

// resetHost replaces the host pages behind [lo, hi) with fresh anonymous
// memory: zero-filled, and no longer tied to any file.
func (as *addressSpace) resetHost(lo, hi uint64) unix.Errno {
	_, err := unix.MmapPtr(-1, 0, hostPtr(as.mem, lo), uintptr(hi-lo), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED)
	if err != nil {
		return err.(unix.Errno)
	}
	return 0
}

// find returns the index of the mapping containing addr, or -1.
func (as *addressSpace) find(addr uint64) int {
	i := sort.Search(len(as.maps), func(i int) bool { return as.maps[i].end > addr })
	if i < len(as.maps) && as.maps[i].start <= addr {
		return i
	}
	return -1
}

// covered reports whether [lo, hi) is entirely mapped.
func (as *addressSpace) covered(lo, hi uint64) bool {
	for lo < hi {
		i := as.find(lo)
		if i < 0 {
			return false
		}
		lo = as.maps[i].end
	}
	return true
}

// shareAnon backs [lo, lo+n) with a fresh memfd mapped MAP_SHARED (zeros).
func (as *addressSpace) shareAnon(lo, n uint64) unix.Errno {
	fd, err := unix.MemfdCreate("km-shared-anon", unix.MFD_CLOEXEC)
	if err != nil {
		return err.(unix.Errno)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(n)); err != nil {
		return err.(unix.Errno)
	}
	if _, err := unix.MmapPtr(fd, 0, hostPtr(as.mem, lo), uintptr(n), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		return err.(unix.Errno)
	}
	return 0
}
