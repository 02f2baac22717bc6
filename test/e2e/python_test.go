package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kmvm/km/test/pyroot"
)

// Debian's dynamically linked python3.11 under km, from a root holding a copy
// of it, its libraries and its standard library (test/pyroot), against the
// host's python3.11 natively. The root is built once per test run.
//
// Tests are split by what they depend on, so that a failure names the
// missing piece:
//
//	TestPython          the interpreter, the stdlib, threads, /dev/shm semaphores
//	TestPythonNet       sockets and asyncio (socketpair, TCP on 127.0.0.1)
//	TestPythonFork      subprocess (fork/exec, wait)
//	TestPythonSignals   Python-level signal handlers
//	TestPythonAcceptance the whole acceptance script of issue 3 at once

var (
	pyRootOnce sync.Once
	pyRootDir  string
	pyRootErr  error
)

// pythonRoot returns the shared python root, building it on first use. The
// guest may write into it (/tmp, /work), so tests never share file names.
func pythonRoot(t *testing.T) string {
	t.Helper()
	pyRootOnce.Do(func() {
		pyRootDir = filepath.Join(buildDir, "pyroot")
		if pyRootErr = os.MkdirAll(pyRootDir, 0o755); pyRootErr == nil {
			pyRootErr = pyroot.Build(pyRootDir)
		}
	})
	if pyRootErr != nil {
		t.Fatalf("building the python root: %v", pyRootErr)
	}
	return pyRootDir
}

// pyCase is one python program, compared native vs km.
type pyCase struct {
	name   string
	code   string // passed with -c
	args   []string
	want   []string // substrings the native output must have (the program works at all)
	status int      // the native exit status
}

func (c pyCase) run(t *testing.T) {
	t.Helper()
	root := pythonRoot(t)
	o := runOpts{timeout: 2 * time.Minute}
	argv := append([]string{"-c", c.code}, c.args...)
	o.dir = "/tmp" // the guest's cwd is its /tmp: the same name
	native := run(t, o, append([]string{pyroot.Python}, argv...)...)
	o.dir = ""
	km := runKM(t, o, append([]string{"--root", root, "--cwd", "/tmp", pyroot.Python}, argv...)...)
	if native.timedOut || km.timedOut {
		return
	}
	if native.code != c.status {
		t.Fatalf("native python: want status %d\n%s", c.status, native)
	}
	for _, w := range c.want {
		if !bytes.Contains(native.stdout, []byte(w)) {
			t.Errorf("native output lacks %q\n%s", w, native)
		}
	}
	checkNoPanic(t, km)
	if !bytes.Equal(native.stdout, km.stdout) || native.code != km.code || !bytes.Equal(native.stderr, km.stderr) {
		t.Errorf("km differs from native; %s\nnative:\n%s\nkm:\n%s", firstDiff(native.stdout, km.stdout), native, km)
	}
}

func runPyCases(t *testing.T, cases []pyCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

const pyModules = `
import json, hashlib, ssl, sqlite3, threading, sys, os
print("json", json.dumps({"a": [1, 2, {"b": None}], "c": "é"}, sort_keys=True))
print("sha256", hashlib.sha256(b"km").hexdigest())
print("sha3", hashlib.sha3_256(b"km").hexdigest(), "md5", hashlib.md5(b"km").hexdigest())
ctx = ssl.create_default_context()
print("ssl", ssl.OPENSSL_VERSION.split()[0], ctx.verify_mode == ssl.CERT_REQUIRED, ctx.check_hostname)
db = sqlite3.connect(":memory:")
db.execute("create table t (x integer, y text)")
db.executemany("insert into t values (?, ?)", [(i, str(i * i)) for i in range(1000)])
print("sqlite", db.execute("select count(*), sum(x), max(y) from t").fetchone())
f = "/tmp/km-py-%d.db" % os.getpid()
fdb = sqlite3.connect(f)
fdb.execute("create table u (v)")
fdb.execute("insert into u values ('on disk')")
fdb.commit()
fdb.close()
print("sqlite file", sqlite3.connect(f).execute("select v from u").fetchone())
os.unlink(f)
out = []
lock = threading.Lock()
def work(n):
    s = sum(range(n * 10000))
    with lock:
        out.append(s)
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print("threads", sorted(out))
ev = threading.Event()
threading.Timer(0.05, ev.set).start()
print("timer", ev.wait(10))
`

const pyThreadPool = `
from multiprocessing.pool import ThreadPool
with ThreadPool(4) as p:
    print("pool", p.map(lambda x: x * x, range(20)))
    print("pool async", p.apply_async(sum, ([1, 2, 3],)).get(10))
`

const pyProc = `
import os
print("cwd", os.getcwd())
print("fds", sorted(int(x) for x in os.listdir("/proc/self/fd"))[:3])
print("exe", os.readlink("/proc/self/exe"))
print("maps python", any(l.endswith("/usr/bin/python3.11") for l in open("/proc/self/maps").read().splitlines()))
print("cpus", os.cpu_count() == len([l for l in open("/proc/cpuinfo") if l.startswith("processor")]))
print("urandom", len(os.urandom(16)), open("/dev/null", "w").write("x"))
`

// pyStdlib exercises extension modules and their libraries: ctypes/libffi
// (closures are a shared file mapped twice), compression, uuid, mmap.
const pyStdlib = `
import ctypes, ctypes.util
libc = ctypes.CDLL("libc.so.6")
print("strlen", libc.strlen(b"hello"))
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
arr = (ctypes.c_int * 5)(5, 1, 4, 2, 3)
libc.qsort(arr, 5, ctypes.sizeof(ctypes.c_int), CMP(lambda a, b: a[0] - b[0]))
print("qsort", list(arr))
import uuid, platform, locale, decimal, zlib, bz2, lzma, csv, re, datetime, random, struct, collections, functools, itertools, typing, dataclasses, enum, pathlib, tempfile, shutil, glob, io, base64, pickle, copy, heapq, bisect, statistics, fractions, textwrap, string, unicodedata
print("uuid", len(str(uuid.uuid4())), uuid.uuid5(uuid.NAMESPACE_DNS, "km"))
print("platform", platform.system(), platform.machine())
print("decimal", decimal.Decimal(1) / decimal.Decimal(7))
print("zlib", len(zlib.compress(b"a" * 1000)), len(bz2.compress(b"a" * 1000)), len(lzma.compress(b"a" * 1000)))
with tempfile.TemporaryDirectory() as d:
    p = pathlib.Path(d) / "x.txt"
    p.write_text("hi")
    shutil.copy(p, pathlib.Path(d) / "y.txt")
    print("tempfile", sorted(x.name for x in pathlib.Path(d).iterdir()))
print("pickle", pickle.loads(pickle.dumps({"a": (1, 2)})))
print("unicodedata", unicodedata.name("é"))
import mmap
with open("/tmp/km-mm-%d.bin" % __import__("os").getpid(), "wb") as f: f.write(b"x" * 8192)
with open("/tmp/km-mm-%d.bin" % __import__("os").getpid(), "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:5] = b"hello"
    m.flush()
    m.close()
print("mmap", open("/tmp/km-mm-%d.bin" % __import__("os").getpid(), "rb").read(6))
import resource
print("rlimit", resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 0)
`

func TestPython(t *testing.T) {
	runPyCases(t, []pyCase{
		{name: "print", code: `print("hello from python", 6 * 7, [1, 2], {"k": (3,)})`, want: []string{"hello from python 42"}},
		{name: "argv-exit", code: `import sys; print(sys.argv[1:], sys.version_info[:2]); sys.exit(3)`, args: []string{"a", "b c"}, status: 3},
		{name: "modules", code: pyModules, want: []string{"sqlite (1000,", "timer True"}},
		{name: "threadpool", code: pyThreadPool, want: []string{"pool async 6"}},
		{name: "proc", code: pyProc, want: []string{"exe /usr/bin/python3.11", "cpus True"}},
		{name: "stdlib", code: pyStdlib, want: []string{"qsort [1, 2, 3, 4, 5]", "mmap b'hellox'"}},
		{name: "exception", code: `raise ValueError("boom")`, status: 1},
	})
}

const pySockets = `
import socket
a, b = socket.socketpair()
a.sendall(b"ping")
print("socketpair", b.recv(4))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(1)
c = socket.create_connection(s.getsockname())
conn, _ = s.accept()
c.sendall(b"hello tcp")
print("tcp", conn.recv(100))
for x in (a, b, s, c, conn): x.close()
`

const pyAsyncio = `
import asyncio
async def co(i):
    await asyncio.sleep(0.01 * i)
    return i * 2
async def main():
    return await asyncio.gather(*(co(i) for i in range(5)))
print("asyncio", asyncio.run(main()))
`

// TestPythonNet needs the socket family (branch net).
func TestPythonNet(t *testing.T) {
	runPyCases(t, []pyCase{
		{name: "sockets", code: pySockets, want: []string{"tcp b'hello tcp'"}},
		{name: "asyncio", code: pyAsyncio, want: []string{"asyncio [0, 2, 4, 6, 8]"}},
	})
}

const pySubprocess = `
import subprocess
r = subprocess.run(["/bin/echo", "x"])
print("rc", r.returncode)
r = subprocess.run(["/bin/echo", "captured"], capture_output=True)
print("subprocess", r.returncode, r.stdout)
`

// TestPythonFork needs fork/exec/wait (branch fork).
func TestPythonFork(t *testing.T) {
	runPyCases(t, []pyCase{{name: "subprocess", code: pySubprocess, want: []string{"subprocess 0 b'captured\\n'"}}})
}

const pySignals = `
import signal, os
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print("signal", got)
signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
signal.setitimer(signal.ITIMER_REAL, 0.05)
signal.pause()
print("alarm", got)
`

// TestPythonSignals needs signal delivery to guest handlers (the lead's work).
func TestPythonSignals(t *testing.T) {
	runPyCases(t, []pyCase{{name: "handlers", code: pySignals, want: []string{"alarm [10, 14]"}}})
}

// TestPythonAcceptance is issue 3's acceptance script in one piece: it
// needs everything above (sockets, fork/exec and the rest).
func TestPythonAcceptance(t *testing.T) {
	code := pyModules + pySockets + pyAsyncio + pySubprocess + pyThreadPool
	runPyCases(t, []pyCase{{name: "all", code: code, want: []string{"asyncio [0, 2, 4, 6, 8]", "pool async 6"}}})
}
