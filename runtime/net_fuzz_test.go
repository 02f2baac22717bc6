package runtime

// FuzzMsghdr: the sendmsg/recvmsg translation (names, iovecs, control
// messages with descriptors) on a real process, over a socketpair.
//
//	go test ./runtime -run '^$' -fuzz '^FuzzMsghdr$' -fuzztime 60s

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Guest memory of the FuzzMsghdr seeds, past syscallSeedMem's: a receiving
// msghdr with room for a name, two iovecs and control data.
const (
	offRecvMsg  = 0x300 // struct msghdr
	offRecvIov  = 0x340 // two iovecs over offRecvBuf
	offRecvName = 0x360 // 16 bytes
	offRecvCtl  = 0x380 // 64 bytes
	offRecvBuf  = 0x400 // 64 bytes
	msgSeedLen  = 0x440
)

func msghdrSeedMem(ctlLen uint64) []byte {
	m := make([]byte, msgSeedLen)
	copy(m, syscallSeedMem())
	le.PutUint64(m[offRecvMsg:], g(offRecvName))
	le.PutUint32(m[offRecvMsg+8:], 16)
	le.PutUint64(m[offRecvMsg+16:], g(offRecvIov))
	le.PutUint64(m[offRecvMsg+24:], 2)
	le.PutUint64(m[offRecvMsg+32:], g(offRecvCtl))
	le.PutUint64(m[offRecvMsg+40:], ctlLen)
	le.PutUint64(m[offRecvIov:], g(offRecvBuf))
	le.PutUint64(m[offRecvIov+8:], 5)
	le.PutUint64(m[offRecvIov+16:], g(offRecvBuf+5))
	le.PutUint64(m[offRecvIov+24:], 59)
	return m
}

func FuzzMsghdr(f *testing.F) {
	shortMinimize("5s")
	mem := msghdrSeedMem(64)
	f.Add(mem, uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(unix.MSG_CMSG_CLOEXEC))
	f.Add(mem, uint16(offMsg), uint16(offRecvMsg), uint64(unix.MSG_DONTWAIT), uint64(unix.MSG_PEEK))
	f.Add(msghdrSeedMem(20), uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(0)) // room for one fd: MSG_CTRUNC
	f.Add(msghdrSeedMem(1<<20), uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(0))
	bad := msghdrSeedMem(64)
	le.PutUint64(bad[offCmsg:], 1000) // cmsg_len past the control buffer
	f.Add(bad, uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(0))
	bad = msghdrSeedMem(64)
	le.PutUint32(bad[offCmsg+20:], 999) // a descriptor the guest does not have
	f.Add(bad, uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(0))
	bad = msghdrSeedMem(64)
	le.PutUint64(bad[offMsg+32:], fuzzGuestMem-8) // control past the end of memory
	f.Add(bad, uint16(offMsg), uint16(offRecvMsg), uint64(0), uint64(0))

	h := newSysHarness(f)
	if !h.netns {
		f.Fatal("FuzzMsghdr needs a network namespace of its own (run as root)")
	}
	const a, b = gfdCount, gfdCount + 1 // the socketpair
	f.Fuzz(func(t *testing.T, mem []byte, sendOff, recvOff uint16, sendFlags, recvFlags uint64) {
		h.reset(t, mem)
		// SOCK_DGRAM keeps each message and its descriptors together.
		h.call(t, unix.SYS_SOCKETPAIR, args{unix.AF_UNIX, unix.SOCK_DGRAM, 0, g(0x2000)})
		h.call(t, unix.SYS_SENDMSG, args{a, g(uint64(sendOff)), sendFlags | unix.MSG_DONTWAIT})
		h.call(t, unix.SYS_SENDMMSG, args{b, g(uint64(sendOff)), 2, sendFlags | unix.MSG_DONTWAIT})
		h.call(t, unix.SYS_RECVMSG, args{b, g(uint64(recvOff)), recvFlags | unix.MSG_DONTWAIT})
		h.call(t, unix.SYS_RECVMMSG, args{a, g(uint64(recvOff)), 1, recvFlags | unix.MSG_DONTWAIT, 0})
		h.on(t, "tidy", func(*thread) { h.tidy() })
	})
}

// checkReceivedFDs checks, after a successful recvmsg, that the descriptors
// in the control data written to the guest are open guest descriptors.
func (h *sysHarness) checkReceivedFDs(t *testing.T, what string, hdr uint64) {
	t.Helper()
	m := h.p.mem
	ctlAddr, err1 := m.readU64(hdr + 32)
	ctlLen, err2 := m.readU64(hdr + 40)
	if err1 != nil || err2 != nil || ctlLen == 0 {
		return
	}
	ctl, err := m.slice(ctlAddr, ctlLen)
	if err != nil {
		t.Fatalf("%s: msg_controllen %d at %#x is not guest memory", what, ctlLen, ctlAddr)
	}
	ctl = append([]byte(nil), ctl...)
	cmsgs(ctl, func(off, n int, level, typ int32) bool {
		if level == unix.SOL_SOCKET && typ == unix.SCM_RIGHTS {
			for i := 0; i < (n-sizeofCmsghdr)/4; i++ {
				fd := int32(le.Uint32(ctl[off+sizeofCmsghdr+4*i:]))
				if _, err := h.p.files.host(fd); err != nil {
					t.Fatalf("%s: received descriptor %d is not an open guest descriptor", what, fd)
				}
			}
		}
		return true
	})
}
