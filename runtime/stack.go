package runtime

import (
	"crypto/rand"
	"fmt"
)

// Auxiliary vector keys (<linux/auxvec.h>, <asm/auxvec.h>).
const (
	atNull          = 0
	atPhdr          = 3
	atPhent         = 4
	atPhnum         = 5
	atPagesz        = 6
	atBase          = 7
	atFlags         = 8
	atEntry         = 9
	atUID           = 11
	atEUID          = 12
	atGID           = 13
	atEGID          = 14
	atPlatform      = 15
	atHWCap         = 16
	atClkTck        = 17
	atSecure        = 23
	atRandom        = 25
	atHWCap2        = 26
	atExecFn        = 31
	atSysinfoEhdr   = 33
	atMinSigStkSz   = 51
	hwcap2FSGSBase  = 1 << 1
	minSigStackSize = 2048 // what the kernel reports for a non-AVX-512 signal frame is larger; glibc takes the max
)

// startInfo is what the initial stack describes to the program.
type startInfo struct {
	args, env     []string
	execFn        string
	phdr, phnum   uint64
	entry         uint64 // the program's entry (AT_ENTRY)
	interpBase    uint64 // AT_BASE: where the interpreter was loaded, or 0
	uid, gid      uint64
	euid, egid    uint64
	hwcap, hwcap2 uint64
	vdso          uint64 // AT_SYSINFO_EHDR, or 0: none
}

// buildStack writes argc/argv/envp/auxv below top and returns the initial
// stack pointer (16-byte aligned, pointing at argc), as the kernel's
// create_elf_tables does.
func buildStack(mem *guestMemory, top uint64, si *startInfo) (uint64, error) {
	sp := top
	push := func(b []byte) (uint64, error) {
		if uint64(len(b)) > sp-(top-stackMax/2) {
			return 0, fmt.Errorf("arguments and environment exceed %d KiB", stackMax/2>>10)
		}
		sp -= uint64(len(b))
		return sp, mem.write(sp, b)
	}
	pushString := func(s string) (uint64, error) { return push(append([]byte(s), 0)) }

	execFn, err := pushString(si.execFn)
	if err != nil {
		return 0, err
	}
	strs := func(list []string) ([]uint64, error) {
		out := make([]uint64, len(list))
		for i := len(list) - 1; i >= 0; i-- {
			if out[i], err = pushString(list[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	envp, err := strs(si.env)
	if err != nil {
		return 0, err
	}
	argv, err := strs(si.args)
	if err != nil {
		return 0, err
	}
	platform, err := pushString("x86_64")
	if err != nil {
		return 0, err
	}
	var random [16]byte
	rand.Read(random[:])
	sp &^= 15
	randAddr, err := push(random[:])
	if err != nil {
		return 0, err
	}

	auxv := []uint64{
		atPhdr, si.phdr, atPhent, 56, atPhnum, si.phnum, atPagesz, pageSize,
		atBase, si.interpBase, atFlags, 0, atEntry, si.entry,
		atUID, si.uid, atEUID, si.euid, atGID, si.gid, atEGID, si.egid,
		atPlatform, platform, atHWCap, si.hwcap, atHWCap2, si.hwcap2, atClkTck, 100,
		atSecure, 0, atRandom, randAddr, atExecFn, execFn, atMinSigStkSz, minSigStackSize,
	}
	if si.vdso != 0 {
		auxv = append(auxv, atSysinfoEhdr, si.vdso)
	}
	auxv = append(auxv, atNull, 0)
	words := make([]uint64, 0, 1+len(argv)+1+len(envp)+1+len(auxv))
	words = append(words, uint64(len(argv)))
	words = append(words, argv...)
	words = append(words, 0)
	words = append(words, envp...)
	words = append(words, 0)
	words = append(words, auxv...)

	sp = (sp - uint64(len(words))*8) &^ 15
	if sp < top-stackMax/2 {
		return 0, fmt.Errorf("arguments and environment exceed %d KiB", stackMax/2>>10)
	}
	buf := make([]byte, len(words)*8)
	for i, w := range words {
		le.PutUint64(buf[i*8:], w)
	}
	return sp, mem.write(sp, buf)
}
