package runtime

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzSignalFrames: a hostile guest controls everything a signal frame is
// built from (its stack pointer, alternate stack, handler flags and mask)
// and everything rt_sigreturn reads back (the whole frame, XSAVE image
// included, anywhere in its memory). Neither may crash or hang the monitor;
// a frame that cannot be written or restored ends the guest with SIGSEGV.
func FuzzSignalFrames(f *testing.F) {
	shortMinimize("5s")
	f.Add(uint8(10), uint64(saSigInfo), uint64(fuzzImageBase+0x8000), uint64(0), uint64(0), uint64(0), uint64(0), uint16(0x100), []byte{})
	f.Add(uint8(11), uint64(saSigInfo|saOnStack|saNoDefer), uint64(fuzzImageBase+0x100), uint64(fuzzImageBase+0x1000), uint64(1), uint64(0x4000), ^uint64(0), uint16(0), make([]byte, 4096))
	f.Add(uint8(30), uint64(saOnStack|saResetHand), uint64(1<<63), uint64(fuzzGuestMem-0x100), uint64(ssAutodisarm), uint64(1<<40), uint64(0), uint16(0xfff0), []byte{0xff, 0xff, 0xff})
	h := newSysHarness(f)
	f.Fuzz(func(t *testing.T, sigByte uint8, flags, rsp, altSP, altFlags, altSize, mask uint64, retOff uint16, mem []byte) {
		sig := unix.Signal(1 + int(sigByte)%nSig)
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			sig = unix.SIGUSR1
		}
		h.reset(t, mem)
		h.on(t, "signal frame", func(th *thread) {
			p := h.p
			defer func() {
				// The guest may have been ended: make the harness's process live again.
				p.exitOnce, p.exited = sync.Once{}, make(chan struct{})
				th.exitThread = false
			}()
			p.sig.actions[sig] = sigaction{handler: fuzzImageBase + 0x100, flags: flags | saRestorer,
				restorer: fuzzImageBase + 0x200, mask: mask}
			th.altstack = stackT{sp: altSP, flags: altFlags, size: altSize}
			th.sigmask = 0
			u := *th.regs
			u.RSP = rsp
			p.queueSignal(sig, newSigInfo(sig, siUser), th)
			th.deliverSignals(&u, -1)
			// Return from the frame just built, then from guest-chosen bytes.
			th.exitThread = false
			th.regs.RSP = u.RSP + 8
			sysRtSigreturn(th, args{})
			th.exitThread = false
			th.regs.RSP = fuzzImageBase + uint64(retOff)
			sysRtSigreturn(th, args{})
		})
	})
}
