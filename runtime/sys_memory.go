package runtime

// Memory syscalls: all emulated on the guest's address space. Page tables are
// fixed (identity, read-write-execute), so protections are recorded but not
// enforced by the MMU; see docs/syscalls.md.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_BRK, sysBrk)
	register(unix.SYS_MMAP, sysMmap)
	register(unix.SYS_MUNMAP, sysMunmap)
	register(unix.SYS_MPROTECT, sysMprotect)
	register(unix.SYS_MREMAP, sysMremap)
	register(unix.SYS_MADVISE, sysMadvise)
	register(unix.SYS_MINCORE, sysMincore)
	register(unix.SYS_MLOCK, sysNop)
	register(unix.SYS_MUNLOCK, sysNop)
	register(unix.SYS_MLOCKALL, sysNop)
	register(unix.SYS_MUNLOCKALL, sysNop)
	register(unix.SYS_MSYNC, sysMsync)
}

func hostPtr(mem *guestMemory, addr uint64) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(mem.host)), addr)
}

func sysNop(t *thread, a args) uint64 { return 0 }

func sysBrk(t *thread, a args) uint64 {
	as := t.p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	want := a[0]
	if want < as.brkStart || want >= as.mmapTop {
		return as.brk
	}
	oldEnd, newEnd := alignUp(as.brk, pageSize), alignUp(want, pageSize)
	switch {
	case newEnd > oldEnd:
		if as.overlaps(oldEnd, newEnd) || as.mem.commit(oldEnd, newEnd-oldEnd) != nil {
			return as.brk
		}
	case newEnd < oldEnd:
		as.resetHost(newEnd, oldEnd) // freed heap reads as zeros when it grows back
	}
	as.brk = want
	return want
}

// Flags the guest may pass to mmap that km understands.
const (
	mapShared         = unix.MAP_SHARED
	mapPrivate        = unix.MAP_PRIVATE
	mapSharedValidate = 0x3
	mapFixed          = unix.MAP_FIXED
	mapAnonymous      = unix.MAP_ANONYMOUS
	map32Bit          = unix.MAP_32BIT
	mapFixedNoreplace = 0x100000
	mapTypeMask       = 0xf

	// copyPrivateMax bounds the private file mappings sysMmap copies
	// instead of mapping: a program mapping a huge file to read a little of
	// it gets a real mapping.
	copyPrivateMax = 64 << 20
)

func sysMmap(t *thread, a args) uint64 {
	addr, length, prot, flags, fd, off := a[0], a[1], int(a[2]), int(a[3]), int32(a[4]), a[5]
	if length == 0 || off&pageMask != 0 || addr&pageMask != 0 && flags&(mapFixed|mapFixedNoreplace) != 0 {
		return neg(unix.EINVAL)
	}
	switch flags & mapTypeMask {
	case mapShared, mapPrivate, mapSharedValidate:
	default:
		return neg(unix.EINVAL)
	}
	n := alignUp(length, pageSize)
	if n < length || n > t.p.mem.size {
		return neg(unix.ENOMEM)
	}
	as := t.p.as
	as.mu.Lock()
	defer as.mu.Unlock()

	var start uint64
	switch {
	case flags&(mapFixed|mapFixedNoreplace) != 0:
		if addr < pageSize || addr+n > t.p.mem.size || addr+n < addr {
			return neg(unix.ENOMEM)
		}
		if flags&mapFixed == 0 && as.overlaps(addr, addr+n) {
			return neg(unix.EEXIST)
		}
		start = addr
	default:
		hint := alignDown(addr, pageSize)
		if hint >= pageSize && hint+n <= as.mmapTop && hint+n > hint && hint >= alignUp(as.brk, pageSize) && !as.overlaps(hint, hint+n) {
			start = hint
		} else {
			below := as.mmapTop
			if flags&map32Bit != 0 {
				below = min(below, 2<<30)
			}
			if start = as.findFree(n, below); start == 0 {
				return neg(unix.ENOMEM)
			}
		}
	}

	m := mapping{start: start, end: start + n, prot: prot, flags: flags}
	if flags&mapAnonymous == 0 {
		hostFD, err := t.p.files.host(fd)
		if err != nil {
			return neg(unix.EBADF)
		}
		// The host mapping must never fault when the monitor itself touches
		// guest memory (a syscall writing a result there): shared mappings
		// the guest may not write are mapped private (same contents, writes
		// stay in the copy), and only whole pages inside the file are mapped;
		// the rest of the range stays anonymous zeros.
		hostFlags := unix.MAP_PRIVATE
		if flags&mapTypeMask != mapPrivate && prot&unix.PROT_WRITE != 0 {
			hostFlags = unix.MAP_SHARED
		}
		var st unix.Stat_t
		if err := unix.Fstat(hostFD, &st); err != nil {
			return errno(err)
		}
		fileLen := n
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			fileLen = 0
			if uint64(st.Size) > off {
				fileLen = min(n, alignDown(uint64(st.Size)-off, pageSize))
			}
		}
		if flags&mapFixed != 0 {
			as.unmap(start, start+n)
		}
		regular, copied := st.Mode&unix.S_IFMT == unix.S_IFREG, false
		if regular && flags&mapTypeMask == mapPrivate && fileLen <= copyPrivateMax {
			// Private mappings of regular files (shared libraries, python's
			// modules) are copied into the guest's anonymous memory rather
			// than mapped: that memory is backed by huge pages, so the
			// shadow MMU maps it 2 MiB at a time, where a file mapping costs
			// one ~10 us shadow fault per 4 KiB page the guest touches (in
			// python3 -c pass: 1077 instead of 2623 faults, -25% run time).
			// The range is fresh (unmapped above or never used), so what is
			// past EOF already reads as zeros; a copy also never faults the
			// monitor when the file shrinks.
			if b, err := t.p.mem.slice(start, n); err == nil && uint64(st.Size) > off {
				b = b[:min(n, uint64(st.Size)-off)]
				for done := 0; done < len(b); {
					r, err := unix.Pread(hostFD, b[done:], int64(off)+int64(done))
					if err == unix.EINTR {
						continue
					}
					if err != nil || r == 0 {
						break
					}
					done += r
				}
			}
			fileLen, copied = 0, true
		} else if fileLen > 0 {
			if _, err := unix.MmapPtr(hostFD, int64(off), hostPtr(t.p.mem, start), uintptr(fileLen), unix.PROT_READ|unix.PROT_WRITE,
				hostFlags|unix.MAP_FIXED); err != nil {
				as.resetHost(start, start+n)
				return errno(err)
			}
			// Fill the host page tables now: a guest's first touch of a page
			// the host has not faulted in costs ~10 us under shadow paging,
			// ~1 us when it has. Read-only population shares the page cache
			// (no copies); it is advisory, so errors are ignored.
			unix.Syscall(unix.SYS_MADVISE, uintptr(hostPtr(t.p.mem, start)), uintptr(fileLen), unix.MADV_POPULATE_READ)
		}
		if tail := (uint64(st.Size) - off) % pageSize; regular && !copied && uint64(st.Size) > off && fileLen < n && tail != 0 {
			// The page holding EOF: copy its bytes, the rest reads as zeros.
			if b, err := t.p.mem.slice(start+fileLen, tail); err == nil {
				unix.Pread(hostFD, b, int64(off+fileLen))
			}
		}
		m.fileBacked, m.offset, m.name = true, off, t.p.files.name(fd)
	} else {
		if flags&mapFixed != 0 {
			as.unmap(start, start+n)
		}
		if flags&mapTypeMask != mapPrivate {
			// Shared anonymous memory is a memfd mapped shared, so that a
			// forked child maps the same pages (fork.go finds it by its
			// host mapping; the descriptor is not kept).
			if e := as.shareAnon(start, n); e != 0 {
				return neg(e)
			}
		}
	}
	if err := t.p.mem.commit(start, n); err != nil {
		as.resetHost(start, start+n)
		return neg(unix.ENOMEM)
	}
	as.insert(m)
	return start
}

func sysMunmap(t *thread, a args) uint64 {
	addr, length := a[0], alignUp(a[1], pageSize)
	if addr&pageMask != 0 || length == 0 || addr+length < addr {
		return neg(unix.EINVAL)
	}
	if addr >= t.p.mem.size {
		return 0
	}
	as := t.p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	return neg(as.unmap(addr, min(addr+length, t.p.mem.size)))
}

func sysMprotect(t *thread, a args) uint64 {
	addr, length, prot := a[0], alignUp(a[1], pageSize), int(a[2])
	if addr&pageMask != 0 || addr+length < addr {
		return neg(unix.EINVAL)
	}
	if length == 0 {
		return 0 // Linux: nothing to change
	}
	as := t.p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	if !as.covered(addr, addr+length) {
		if addr >= as.brkStart && addr+length <= alignUp(as.brk, pageSize) {
			return 0
		}
		return neg(unix.ENOMEM)
	}
	as.setProt(addr, addr+length, prot)
	return 0
}

// setProt records prot for [addr, end), splitting the mappings at its ends
// so /proc/self/maps shows exactly what changed (ld.so protects part of a
// segment: RELRO). The caller holds as.mu.
func (as *addressSpace) setProt(addr, end uint64, prot int) {
	var out []mapping
	for _, m := range as.maps {
		if m.end <= addr || m.start >= end {
			out = append(out, m)
			continue
		}
		if m.start < addr {
			left := m
			left.end = addr
			out = append(out, left)
			m.offset += addr - m.start
			m.start = addr
		}
		if m.end > end {
			right := m
			right.offset += end - m.start
			right.start = end
			m.end = end
			m.prot = prot
			out = append(out, m, right)
			continue
		}
		m.prot = prot
		out = append(out, m)
	}
	as.maps = out
}

func sysMremap(t *thread, a args) uint64 {
	old, oldLen, newLen, flags, newAddr := a[0], alignUp(a[1], pageSize), alignUp(a[2], pageSize), int(a[3]), a[4]
	size := t.p.mem.size
	if oldLen > size || newLen > size || old > size-oldLen || a[1] > size || a[2] > size {
		return neg(unix.EINVAL) // also rejects lengths that wrap around
	}
	if old&pageMask != 0 || newLen == 0 || flags&^(unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED) != 0 {
		return neg(unix.EINVAL)
	}
	if flags&unix.MREMAP_FIXED != 0 && (flags&unix.MREMAP_MAYMOVE == 0 || newAddr&pageMask != 0) {
		return neg(unix.EINVAL)
	}
	as := t.p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	i := as.find(old)
	if i < 0 || old+oldLen > as.maps[i].end || oldLen == 0 {
		return neg(unix.EFAULT)
	}
	m := as.maps[i]
	if flags&unix.MREMAP_FIXED == 0 {
		if newLen <= oldLen {
			as.unmap(old+newLen, old+oldLen)
			return old
		}
		// Grow in place when it is the mapping's tail and the pages after it are free.
		if old+oldLen == m.end && old+newLen <= as.mmapTop && old+newLen > old && !as.overlaps(old+oldLen, old+newLen) &&
			t.p.mem.commit(old, newLen) == nil {
			as.maps[i].end = old + newLen
			return old
		}
		if flags&unix.MREMAP_MAYMOVE == 0 {
			return neg(unix.ENOMEM)
		}
		if newAddr = as.findFree(newLen, as.mmapTop); newAddr == 0 {
			return neg(unix.ENOMEM)
		}
	} else {
		if newAddr < pageSize || newAddr > size-newLen || newAddr < old+oldLen && old < newAddr+newLen {
			return neg(unix.EINVAL)
		}
		as.unmap(newAddr, newAddr+newLen)
	}
	if err := t.p.mem.commit(newAddr, newLen); err != nil {
		return neg(unix.ENOMEM)
	}
	// Move the host pages (no copy), then refill the hole the move left.
	moved := min(oldLen, newLen)
	if _, _, e := unix.Syscall6(unix.SYS_MREMAP, uintptr(hostPtr(t.p.mem, old)), uintptr(moved), uintptr(moved),
		unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, uintptr(hostPtr(t.p.mem, newAddr)), 0); e != 0 {
		return neg(e)
	}
	as.resetHost(old, old+moved)
	nm := m
	nm.start, nm.end = newAddr, newAddr+newLen
	nm.offset += old - m.start
	as.unmap(old, old+oldLen) // the host range is already fresh; this fixes the bookkeeping
	if newLen > moved {
		as.resetHost(newAddr+moved, newAddr+newLen)
	}
	as.insert(nm)
	return newAddr
}

func sysMadvise(t *thread, a args) uint64 {
	addr, length, advice := a[0], alignUp(a[1], pageSize), int(a[2])
	if addr&pageMask != 0 || addr+length < addr {
		return neg(unix.EINVAL)
	}
	if length == 0 {
		return 0
	}
	if _, err := t.p.mem.slice(addr, length); err != nil {
		return neg(unix.ENOMEM)
	}
	switch advice {
	case unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE, unix.MADV_WILLNEED, unix.MADV_COLD, unix.MADV_PAGEOUT,
		unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE, unix.MADV_SEQUENTIAL, unix.MADV_RANDOM, unix.MADV_NORMAL:
		// These act on the host pages exactly as they would on the guest's.
		_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(hostPtr(t.p.mem, addr)), uintptr(length), uintptr(advice))
		if e == unix.EINVAL && advice != unix.MADV_DONTNEED {
			return 0 // advisory only
		}
		return result(0, e)
	case unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_DONTDUMP, unix.MADV_DODUMP, unix.MADV_MERGEABLE, unix.MADV_UNMERGEABLE:
		return 0
	}
	return neg(unix.EINVAL)
}

func sysMincore(t *thread, a args) uint64 {
	addr, length, vec := a[0], alignUp(a[1], pageSize), a[2]
	if addr&pageMask != 0 {
		return neg(unix.EINVAL)
	}
	if _, err := t.p.mem.slice(addr, length); err != nil {
		return neg(unix.ENOMEM)
	}
	out, err := t.p.mem.slice(vec, length/pageSize)
	if err != nil {
		return neg(unix.EFAULT)
	}
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(hostPtr(t.p.mem, addr)), uintptr(length), uintptr(unsafe.Pointer(unsafe.SliceData(out))))
	return result(0, e)
}

func sysMsync(t *thread, a args) uint64 {
	addr, length := a[0], alignUp(a[1], pageSize)
	if _, err := t.p.mem.slice(addr, length); err != nil {
		return neg(unix.ENOMEM)
	}
	_, _, e := unix.Syscall(unix.SYS_MSYNC, uintptr(hostPtr(t.p.mem, addr)), uintptr(length), uintptr(a[2]))
	return result(0, e)
}
