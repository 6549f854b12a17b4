package rewrite

import (
	"path"
	"strings"
)

// The rules below are exported so that rroctl judges a running container
// by exactly the rules the wrapper applied to its config, not a copy.

// ReadOnlyBind reports whether options make a read-only bind mount, read
// as runc reads them: a bind when any option is bind or rbind, read-only
// when the last of ro and rw is ro.
func ReadOnlyBind(options []string) bool {
	d := Decision{Before: options}
	d.classify(nil)
	return d.bind && d.readOnly
}

// ExcludedBy returns the entry of exclude that covers the container
// destination dest (itself or a path beneath it), or "".
func ExcludedBy(dest string, exclude []string) string {
	return excludedBy(dest, cleanExcludes(exclude, nil))
}

// Excluded returns what takes a bind of source at dest out of the
// rewrite: the entry of exclude covering dest, or the HostInterfaces path
// source is; "" when neither does. It is the rule the rewrite applies.
func Excluded(dest, source string, exclude []string) string {
	if by := ExcludedBy(dest, exclude); by != "" {
		return by
	}
	return hostInterface(source)
}

// cleanExcludes pairs each non-blank entry with its cleaned, rooted form.
func cleanExcludes(exclude []string, into [][2]string) [][2]string {
	into = into[:0]
	for _, e := range exclude {
		if strings.TrimSpace(e) != "" {
			into = append(into, [2]string{e, path.Clean("/" + e)})
		}
	}
	return into
}

// hostInterface returns the HostInterfaces entry that source is, or "".
// source must be absolute and free of "." and ".." segments: a path the
// kernel could resolve elsewhere than it reads is not an interface.
func hostInterface(source string) string {
	if !strings.HasPrefix(source, "/") {
		return ""
	}
	// Most sources are volumes: reject them before looking closer.
	// Measured: without this, hostInterface was a tenth of the CPU time
	// of BenchmarkRewrite10000.
	switch name := strings.TrimLeft(source, "/"); {
	case strings.HasPrefix(name, "dev"), strings.HasPrefix(name, "proc"), strings.HasPrefix(name, "sys"):
	default:
		return ""
	}
	// Cut, not Split: this runs for every read-only recursive bind, and
	// Split's slice was one allocation per mount in BenchmarkRewrite10000.
	for rest := source; rest != ""; {
		seg, after, _ := strings.Cut(rest, "/")
		if seg == "." || seg == ".." {
			return ""
		}
		rest = after
	}
	c := path.Clean(source) // no allocation when already clean
	for _, h := range HostInterfaces {
		if c == h {
			return h
		}
	}
	return ""
}
