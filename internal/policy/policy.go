// Package policy decides rro-runc's settings: the policy, the real
// runtime, the excluded destinations and the propagation mode, from the
// wrapper flags, the environment and the TOML file, in that order of
// precedence, and remembers where each value came from. It also defines
// the vocabulary those settings are written in (Policy, Propagation,
// Options; vocab.go), which the rewrite stage re-exports: policy is stage
// 2 of argv → policy → probe → rewrite → launch and imports none of the
// later stages.
//
// Guarantees:
//   - An unknown key, a value of the wrong type or an unknown policy is an
//     error that names the file and the key; nothing falls back silently.
//   - A missing file at the default path means defaults. A file named
//     explicitly (flag or env) must exist: a typo there must not quietly
//     turn an administrator's Enabled into the default.
//   - RuntimeName, used on the pass-through path, never fails: a broken
//     file must not keep state, kill or delete from reaching the runtime.
package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultFile is where the administrator's configuration lives.
const DefaultFile = "/etc/rro-runc/config.toml"

// Environment variables, beaten only by the wrapper flags.
const (
	EnvConfig  = "RRO_RUNC_CONFIG"
	EnvPolicy  = "RRO_RUNC_POLICY"
	EnvRuntime = "RRO_RUNC_RUNTIME"
)

// Sentinel errors.
var (
	// ErrConfigFile: the file cannot be read or is not valid TOML.
	ErrConfigFile = errors.New("cannot use configuration file")
	// ErrInvalidSetting: an unknown key or a value that is not allowed.
	ErrInvalidSetting = errors.New("invalid setting")
)

// Source says where a setting's value came from.
type Source string

const (
	FromFlag    Source = "flag"
	FromEnv     Source = "env"
	FromFile    Source = "file"
	FromDefault Source = "default"
)

// Overrides are the wrapper flags; "" means not given.
type Overrides struct {
	Policy, Runtime, Config string
}

// Settings are the effective configuration.
type Settings struct {
	Policy                Policy
	Runtime               string // name or path; "" means discover runc, then crun
	Exclude               []string
	Propagation           Propagation
	AllowAnnotationOptOut bool

	// File is the configuration file consulted, FileFound whether it existed.
	File      string
	FileFound bool
	// Sources maps each key (as spelled in the file) to where its value
	// came from; "file" itself maps to how File was chosen.
	Sources map[string]Source
}

// Options are what the rewrite stage needs from the settings.
func (s *Settings) Options() Options {
	return Options{
		Policy:                s.Policy,
		Exclude:               s.Exclude,
		Propagation:           s.Propagation,
		AllowAnnotationOptOut: s.AllowAnnotationOptOut,
	}
}

// fileSettings mirrors the TOML file; pointers tell "absent" from "zero".
type fileSettings struct {
	Policy, Runtime, Propagation *string
	Exclude                      *[]string
	AllowAnnotationOptOut        *bool
}

// Load computes the settings. getenv is os.Getenv outside tests.
func Load(o Overrides, getenv func(string) string) (*Settings, error) {
	s := &Settings{
		Policy:      IfPossible,
		Exclude:     append([]string(nil), DefaultExclude...),
		Propagation: Strict,
		Sources: map[string]Source{
			"policy": FromDefault, "runtime": FromDefault, "exclude": FromDefault,
			"propagation": FromDefault, "allow_annotation_opt_out": FromDefault,
		},
	}
	var explicit bool
	s.File, s.Sources["file"], explicit = configFile(o, getenv)

	fileCfg, found, err := readFile(s.File, explicit)
	if err != nil {
		return nil, err
	}
	s.FileFound = found
	if err := s.applyFile(fileCfg); err != nil {
		return nil, err
	}

	if v := getenv(EnvPolicy); v != "" {
		if err := s.setPolicy(v, FromEnv, "environment variable "+EnvPolicy); err != nil {
			return nil, err
		}
	}
	if v := getenv(EnvRuntime); v != "" {
		s.Runtime, s.Sources["runtime"] = v, FromEnv
	}
	if o.Policy != "" {
		if err := s.setPolicy(o.Policy, FromFlag, "flag --rro-policy"); err != nil {
			return nil, err
		}
	}
	if o.Runtime != "" {
		s.Runtime, s.Sources["runtime"] = o.Runtime, FromFlag
	}
	return s, nil
}

// RuntimeName is the runtime setting for the pass-through path: flag, env,
// then the file if it can be read at all, else "" (discover). It ignores
// every other key and every error, on purpose.
func RuntimeName(o Overrides, getenv func(string) string) string {
	if o.Runtime != "" {
		return o.Runtime
	}
	if v := getenv(EnvRuntime); v != "" {
		return v
	}
	path, _, _ := configFile(o, getenv)
	src, err := readConfigFile(path)
	if err != nil {
		return ""
	}
	keys, err := parseTOML(string(src))
	if err != nil || keys["runtime"].str == nil {
		return ""
	}
	return *keys["runtime"].str
}

func configFile(o Overrides, getenv func(string) string) (path string, src Source, explicit bool) {
	if o.Config != "" {
		return o.Config, FromFlag, true
	}
	if v := getenv(EnvConfig); v != "" {
		return v, FromEnv, true
	}
	return DefaultFile, FromDefault, false
}

func readFile(path string, explicit bool) (*fileSettings, bool, error) {
	var f fileSettings
	src, err := readConfigFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return &f, false, nil
		}
		return nil, false, fmt.Errorf("%w %s: %w", ErrConfigFile, path, err)
	}
	keys, err := parseTOML(string(src))
	if err != nil {
		return nil, true, fmt.Errorf("%w %s: not valid TOML for this file: %w", ErrConfigFile, path, err)
	}
	for key, v := range keys {
		want := "string"
		switch key {
		case "policy":
			f.Policy = v.str
		case "runtime":
			f.Runtime = v.str
		case "propagation":
			f.Propagation = v.str
		case "exclude":
			want = "array"
			if v.list != nil {
				f.Exclude = &v.list
			}
		case "allow_annotation_opt_out":
			want = "boolean"
			f.AllowAnnotationOptOut = v.b
		default:
			return nil, true, fmt.Errorf("%w in %s: line %d: unknown key %q (known: policy, runtime, exclude, propagation, allow_annotation_opt_out)",
				ErrInvalidSetting, path, v.line, key)
		}
		if v.kind != want {
			return nil, true, fmt.Errorf("%w in %s: line %d: key %q must be a %s, not a %s", ErrInvalidSetting, path, v.line, key, want, v.kind)
		}
	}
	return &f, true, nil
}

// maxFileSize bounds the configuration file; five keys fit in far less.
const maxFileSize = 1 << 20

// readConfigFile reads a regular file without ever blocking: a FIFO or a
// device put where the configuration belongs must not hang every state
// and kill on the node.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%d bytes, over the %d byte limit", fi.Size(), maxFileSize)
	}
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}

func (s *Settings) applyFile(f *fileSettings) error {
	where := func(key string) string { return fmt.Sprintf("%s: key %q", s.File, key) }
	if f.Policy != nil {
		if err := s.setPolicy(*f.Policy, FromFile, where("policy")); err != nil {
			return err
		}
	}
	if f.Runtime != nil {
		if *f.Runtime == "" {
			return fmt.Errorf("%w in %s: empty (leave the key out to discover runc or crun)", ErrInvalidSetting, where("runtime"))
		}
		s.Runtime, s.Sources["runtime"] = *f.Runtime, FromFile
	}
	if f.Exclude != nil {
		for _, d := range *f.Exclude {
			if !filepath.IsAbs(d) {
				return fmt.Errorf("%w in %s: %q is not an absolute container path", ErrInvalidSetting, where("exclude"), d)
			}
		}
		s.Exclude, s.Sources["exclude"] = *f.Exclude, FromFile
	}
	if f.Propagation != nil {
		p, err := ParsePropagation(*f.Propagation)
		if err != nil {
			return fmt.Errorf("%w in %s: %w", ErrInvalidSetting, where("propagation"), err)
		}
		s.Propagation, s.Sources["propagation"] = p, FromFile
	}
	if f.AllowAnnotationOptOut != nil {
		s.AllowAnnotationOptOut, s.Sources["allow_annotation_opt_out"] = *f.AllowAnnotationOptOut, FromFile
	}
	return nil
}

func (s *Settings) setPolicy(v string, src Source, where string) error {
	p, err := ParsePolicy(v)
	if err != nil {
		return fmt.Errorf("%w in %s: %w", ErrInvalidSetting, where, err)
	}
	s.Policy, s.Sources["policy"] = p, src
	return nil
}
