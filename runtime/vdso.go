package runtime

import (
	"bytes"
	"debug/elf"
	_ "embed"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

//go:generate vdso/build.sh

// vdsoSO is the guest's vDSO (vdso/vdso.c, built by vdso/build.sh).
//
//go:embed vdso/vdso.so
var vdsoSO []byte

func rdtsc() uint64
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// Offsets in the data page ([vvar]); struct vvar in vdso/vdso.c.
const (
	vvarSeq         = 0
	vvarEnabled     = 4
	vvarTSCBase     = 8
	vvarMonoNS      = 16
	vvarMonoFrac    = 24
	vvarMult        = 32
	vvarPrevMult    = 40
	vvarRealtimeOff = 48
	vvarBoottimeOff = 56

	msrIA32TSC       = 0x10
	cpuidAdvPM       = 0x80000007
	invariantTSCBit  = 1 << 8 // CPUID 0x80000007 EDX
	multShift        = 32     // mult is ns per tick times 2^multShift
	vdsoRefresh      = time.Second
	vdsoLead         = 10 * time.Millisecond // a new rate starts this far in the future
	maxSlewPPM       = 500                   // rate correction bound, parts per million
	clockSampleTries = 5
	vvarName         = "[vvar]"
)

// vdsoImage is the vDSO laid out as loaded (segments at their addresses).
var vdsoImage = sync.OnceValues(func() ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(vdsoSO))
	if err != nil {
		return nil, err
	}
	var size uint64
	for _, ph := range f.Progs {
		if ph.Type == elf.PT_LOAD {
			size = max(size, ph.Vaddr+ph.Memsz)
		}
	}
	img := make([]byte, alignUp(size, pageSize))
	for _, ph := range f.Progs {
		if ph.Type == elf.PT_LOAD && ph.Filesz > 0 {
			if _, err := ph.ReadAt(img[ph.Vaddr:ph.Vaddr+ph.Filesz], 0); err != nil {
				return nil, err
			}
		}
	}
	return img, nil
})

// vdsoUsable: the host TSC is invariant (constant rate, runs in deep C
// states), so guest rdtsc can stand in for the host's clocks. KM_VDSO=0
// turns the vDSO off (measurements, or a host where it misbehaves).
var vdsoUsable = sync.OnceValue(func() bool {
	if os.Getenv("KM_VDSO") == "0" {
		return false
	}
	if max, _, _, _ := cpuid(0x80000000, 0); max < cpuidAdvPM {
		return false
	}
	_, _, _, edx := cpuid(cpuidAdvPM, 0)
	if edx&invariantTSCBit == 0 {
		return false
	}
	_, err := vdsoImage()
	return err == nil
})

// vclock is the monitor's side of the vDSO: the clock parameters, in host
// TSC ticks, and the guest page they are published in.
type vclock struct {
	mu       sync.Mutex
	page     uint64 // guest address of the data page, 0 if none
	mem      *guestMemory
	started  bool // calibrated; the refresher runs
	stopped  bool
	offset   int64 // guest TSC - host TSC
	nominal  uint64
	tscBase  uint64 // host TSC
	monoNS   uint64
	monoFrac uint64
	mult     uint64
	prevMult uint64
	rtOff    int64
	bootOff  int64
}

// clockSample reads the host TSC around CLOCK_MONOTONIC/REALTIME/BOOTTIME,
// keeping the tightest of a few tries.
func clockSample() (tsc uint64, mono, rt, boot int64) {
	best := ^uint64(0)
	for range clockSampleTries {
		var m, r, b unix.Timespec
		t1 := rdtsc()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
		unix.ClockGettime(unix.CLOCK_REALTIME, &r)
		unix.ClockGettime(unix.CLOCK_BOOTTIME, &b)
		t2 := rdtsc()
		if t2-t1 < best {
			best = t2 - t1
			// The monotonic read is the first of three: nearer t1.
			tsc, mono, rt, boot = t1+(t2-t1)/4, m.Nano(), r.Nano(), b.Nano()
		}
	}
	return tsc, mono, rt - mono, boot - mono
}

// line evaluates the published monotonic clock at host TSC t >= tscBase,
// as (ns, fraction of ns in 2^-32 units), with the rate m.
func (vc *vclock) line(t, m uint64) (uint64, uint64) {
	hi, lo := bits.Mul64(t-vc.tscBase, m)
	lo, c := bits.Add64(lo, vc.monoFrac, 0)
	hi += c
	return vc.monoNS + (hi<<(64-multShift) | lo>>multShift), lo & (1<<multShift - 1)
}

// calibrate measures the guest-vs-host TSC offset and rate on vCPU c,
// before it first runs, and starts the clock. For a forked child the
// parameters came from the parent (host-TSC based) and only the offset is
// new.
func (vc *vclock) calibrate(c *kvm.VCPU, inherited bool) error {
	khz, err := c.TSCKHz()
	if err != nil || khz == 0 {
		return fmt.Errorf("no TSC frequency: %v", err)
	}
	e := []kvm.MSREntry{{Index: msrIA32TSC}}
	a := rdtsc()
	err = c.GetMSRs(e)
	b := rdtsc()
	if err != nil {
		return err
	}
	// The guest's TSC is only known to within the ioctl's duration: a
	// value inside that window means "the host's own" (PVM runs guest user
	// code on the host TSC).
	if g := e[0].Data; g < a || g > b {
		vc.offset = int64(g - (a/2 + b/2 + (a&b)&1))
	}
	vc.nominal = (uint64(time.Millisecond) << multShift) / khz
	if !inherited {
		tsc, mono, rt, boot := clockSample()
		vc.tscBase, vc.monoNS, vc.monoFrac = tsc, uint64(mono), 0
		vc.mult, vc.prevMult = vc.nominal, vc.nominal
		vc.rtOff, vc.bootOff = rt, boot
	}
	return nil
}

// start calibrates (once) and publishes the clock; the guest page must be
// set. Called on a vCPU before its first run.
func (p *process) startVclock(c *kvm.VCPU) {
	vc := p.vclock
	if vc == nil {
		return
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.started || vc.stopped {
		return
	}
	if err := vc.calibrate(c, vc.mult != 0); err != nil {
		p.report("vDSO off: %v", err)
		if b, err := vc.mem.slice(vc.page, pageSize); err == nil {
			le.PutUint32(b[vvarEnabled:], 0) // a fork child's copy says on
		}
		vc.page = 0
		return
	}
	vc.started = true
	vc.publish()
	go p.refreshVclock()
}

// refreshVclock steers the published clock toward the host's: every
// vdsoRefresh it re-reads the host clocks and sets the rate for the next
// period so the difference vanishes. A new rate starts vdsoLead ahead, and
// ticks before that keep the old rate (prevMult), so every value a reader
// could have seen stays on one non-decreasing line.
func (p *process) refreshVclock() {
	tick := time.NewTicker(vdsoRefresh)
	defer tick.Stop()
	vc := p.vclock
	for {
		select {
		case <-p.exited:
			return
		case <-tick.C:
		}
		// execMu keeps p.as still; as.mu keeps the guest from mapping
		// something else where [vvar] is while it is written.
		p.execMu.Lock()
		as := p.as
		as.mu.Lock()
		vc.mu.Lock()
		if vc.stopped {
			vc.mu.Unlock()
			as.mu.Unlock()
			p.execMu.Unlock()
			return
		}
		if i := as.find(vc.page); vc.page != 0 && (i < 0 || as.maps[i].name != vvarName) {
			vc.page = 0 // the guest unmapped or moved it: stop writing there
		}
		tsc, mono, rt, boot := clockSample()
		if tsc > vc.tscBase {
			nowNS, _ := vc.line(tsc, vc.mult)
			diff := mono - int64(nowNS) // the host is ahead by diff
			ppm := max(-maxSlewPPM, min(maxSlewPPM, diff*1e6/vdsoRefresh.Nanoseconds()))
			// Realtime and boottime follow the host exactly at the sample.
			vc.rtOff = mono + rt - int64(nowNS)
			vc.bootOff = mono + boot - int64(nowNS)
			vc.publishRate(uint64(int64(vc.nominal) + int64(vc.nominal)*ppm/1e6))
		}
		vc.mu.Unlock()
		as.mu.Unlock()
		p.execMu.Unlock()
	}
}

// publishRate switches to rate mult from vdsoLead ahead. The new base is
// taken inside the seqlock's write section: a reader holding the old
// parameters read the TSC before the section began, so before the new base,
// where old and new parameters agree. vc.mu is held.
func (vc *vclock) publishRate(mult uint64) {
	vc.seqWrite(func() {
		lead := uint64(vdsoLead.Nanoseconds()<<multShift) / vc.nominal
		next := rdtsc() + lead
		ns, frac := vc.line(next, vc.mult)
		vc.prevMult, vc.mult = vc.mult, mult
		vc.tscBase, vc.monoNS, vc.monoFrac = next, ns, frac
	})
}

// seqWrite runs update and writes the parameters to the guest's data page
// inside the seqlock's write section. vc.mu is held.
func (vc *vclock) seqWrite(update func()) {
	b, ok := vc.pageBytes()
	if !ok {
		return
	}
	seq := (*uint32)(unsafe.Pointer(&b[vvarSeq]))
	s := atomic.LoadUint32(seq) | 1
	atomic.StoreUint32(seq, s)
	update()
	vc.write(b)
	atomic.StoreUint32(seq, s+1) // x86 stores are not reordered with stores
}

func (vc *vclock) pageBytes() ([]byte, bool) {
	if vc.page == 0 || !vc.started || vc.stopped {
		return nil, false
	}
	b, err := vc.mem.slice(vc.page, pageSize)
	return b, err == nil
}

func (vc *vclock) write(b []byte) {
	le.PutUint64(b[vvarTSCBase:], uint64(int64(vc.tscBase)+vc.offset))
	le.PutUint64(b[vvarMonoNS:], vc.monoNS)
	le.PutUint64(b[vvarMonoFrac:], vc.monoFrac)
	le.PutUint64(b[vvarMult:], vc.mult)
	le.PutUint64(b[vvarPrevMult:], vc.prevMult)
	le.PutUint64(b[vvarRealtimeOff:], uint64(vc.rtOff))
	le.PutUint64(b[vvarBoottimeOff:], uint64(vc.bootOff))
	le.PutUint32(b[vvarEnabled:], 1)
}

// publish writes the parameters to the guest's data page under the
// seqlock. vc.mu is held.
func (vc *vclock) publish() { vc.seqWrite(func() {}) }

// stop ends publishing: the guest memory is going away.
func (vc *vclock) stop() {
	if vc == nil {
		return
	}
	vc.mu.Lock()
	vc.stopped = true
	vc.mu.Unlock()
}

// mapVDSO places [vvar][vdso] in the fresh address space and returns the
// image's address for AT_SYSINFO_EHDR, or 0 (no vDSO: the guest's libc
// uses the syscalls).
func (p *process) mapVDSO() uint64 {
	if !vdsoUsable() {
		return 0
	}
	img, _ := vdsoImage()
	as := p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	n := pageSize + uint64(len(img))
	addr := as.findFree(n, as.mmapTop)
	if addr == 0 || as.mem.commit(addr, n) != nil {
		return 0
	}
	if p.mem.write(addr+pageSize, img) != nil {
		return 0
	}
	as.insert(mapping{start: addr, end: addr + pageSize, prot: unix.PROT_READ, name: vvarName})
	as.insert(mapping{start: addr + pageSize, end: addr + n, prot: unix.PROT_READ | unix.PROT_EXEC, name: "[vdso]"})
	if p.vclock == nil {
		p.vclock = &vclock{mem: p.mem}
	}
	vc := p.vclock
	vc.mu.Lock()
	vc.page = addr
	vc.publish() // after execve: the running clock, on the new page
	vc.mu.Unlock()
	return addr + pageSize
}

// save records the clock for a fork child.
func (vc *vclock) save(st *forkState) {
	if vc == nil {
		return
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if vc.page == 0 || !vc.started {
		return
	}
	st.VdsoPage = vc.page
	st.Vclock = [8]uint64{vc.tscBase, vc.monoNS, vc.monoFrac, vc.mult, vc.prevMult, uint64(vc.rtOff), uint64(vc.bootOff), vc.nominal}
}

// restoreVclock continues the parent's clock in a fork child; its first
// vCPU measures the new VM's TSC offset before the guest runs.
func restoreVclock(st *forkState, mem *guestMemory) *vclock {
	if st.VdsoPage == 0 || st.Vclock[3] == 0 {
		return nil
	}
	v := st.Vclock
	return &vclock{mem: mem, page: st.VdsoPage, tscBase: v[0], monoNS: v[1], monoFrac: v[2], mult: v[3], prevMult: v[4],
		rtOff: int64(v[5]), bootOff: int64(v[6]), nominal: v[7]}
}
