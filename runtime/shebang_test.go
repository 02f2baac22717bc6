package runtime

import (
	"strings"
	"testing"
)

func TestParseShebang(t *testing.T) {
	for _, c := range []struct {
		line        string
		interp, arg string
		ok          bool
	}{
		{"/bin/sh\n", "/bin/sh", "", true},
		{"/bin/sh -e\necho", "/bin/sh", "-e", true},
		{"  /usr/bin/env   python3 -u  \n", "/usr/bin/env", "python3 -u", true},
		{"\t/bin/sh\t-x\n", "/bin/sh", "-x", true},
		{"/bin/sh", "/bin/sh", "", true}, // no newline, short file
		{"\n", "", "", false},
		{"   \n", "", "", false},
		{"/bin/sh -e\r\n", "/bin/sh", "-e\r", true}, // as Linux: CR is not a blank
		// 254 bytes without a newline: a truncated interpreter name is refused,
		// a truncated argument is not.
		{strings.Repeat("x", shebangLen-2), "", "", false},
		{"/bin/sh " + strings.Repeat("a", shebangLen-10), "/bin/sh", strings.Repeat("a", shebangLen-10), true},
	} {
		interp, arg, ok := parseShebang([]byte(c.line))
		if interp != c.interp || arg != c.arg || ok != c.ok {
			t.Errorf("parseShebang(%q) = %q, %q, %v; want %q, %q, %v", c.line, interp, arg, ok, c.interp, c.arg, c.ok)
		}
	}
}
