package shim

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// DefaultConfigPath is read when the runtime options name no config file.
const DefaultConfigPath = "/etc/km/config.toml"

// Config is the monitor defaults file (TOML):
//
//	memory = "512M"            # guest memory when the spec sets no limit
//	log_level = "debug"        # the shim's log level
//	strict = false             # unimplemented syscalls kill the guest
//	kvm_device = "/dev/kvm"
type Config struct {
	Memory    string `toml:"memory"`
	LogLevel  string `toml:"log_level"`
	Strict    bool   `toml:"strict"`
	KVMDevice string `toml:"kvm_device"`
}

// loadConfig reads the file named by the runtime options (CRI's
// runtimeoptions.v1.Options or ctr --runtime-config-path), else
// DefaultConfigPath if it exists, else built-in defaults.
func loadConfig(opts *anypb.Any) (*Config, string, error) {
	path := ""
	if opts != nil && len(opts.GetValue()) > 0 {
		if v, err := typeurl.UnmarshalAny(opts); err == nil {
			if o, ok := v.(*runtimeoptions.Options); ok {
				path = o.ConfigPath
			}
		}
	}
	explicit := path != ""
	if !explicit {
		path = DefaultConfigPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return &Config{}, "", nil
		}
		return nil, path, fmt.Errorf("runtime config: %w", err)
	}
	var c Config
	if err := toml.Unmarshal(data, &c); err != nil {
		return nil, path, fmt.Errorf("runtime config %s: %v", path, err)
	}
	if c.Memory != "" {
		if _, err := parseSize(c.Memory); err != nil {
			return nil, path, fmt.Errorf("runtime config %s: memory %q: %v", path, c.Memory, err)
		}
	}
	return &c, path, nil
}

func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	switch strings.ToUpper(s[len(s)-min(1, len(s)):]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > (1<<50)/mult {
		return 0, errors.New("want a size such as 512M or 2G")
	}
	return n * mult, nil
}
